//! The CEMS conversions of HJ 212-2017 App. D and HJ 75-2017 ch. 11, as plain functions: every one a
//! formula a reader can check by hand (the tests below are such checks).

/// Molar volume of an ideal gas at 273.15 K and 101325 Pa, L/mol: ppm × M / 22.4 is mg/m³.
pub const MOLAR_VOLUME: f64 = 22.4;
pub const T0: f64 = 273.15;
pub const P0: f64 = 101_325.0;
/// NOx is expressed as NO2 (HJ 75-2017 §4: NO converted at M(NO2)).
pub const M_NO2: f64 = 46.01;
pub const M_NO: f64 = 30.01;

/// ppm (µmol/mol) to mg/m³ at standard conditions.
pub fn ppm_to_mg(ppm: f64, molar_mass: f64) -> f64 {
    ppm * molar_mass / MOLAR_VOLUME
}

/// A wet-basis concentration on a dry basis; `moisture` is the volume fraction Xsw (0.08 for 8 %).
pub fn wet_to_dry(c: f64, moisture: f64) -> Option<f64> {
    (0.0..1.0).contains(&moisture).then(|| c / (1.0 - moisture))
}

/// A concentration at flue conditions (°C, absolute Pa) at standard conditions: the same mass in the
/// smaller standard volume.
pub fn actual_to_standard(c: f64, temp_c: f64, abs_pa: f64) -> Option<f64> {
    let t = T0 + temp_c;
    (t > 0.0 && abs_pa > 0.0).then(|| c * t / T0 * P0 / abs_pa)
}

/// Corrected to the reference oxygen: × (21 − O2ref) / (21 − O2), O2 on a dry basis in %.
pub fn o2_correct(c: f64, o2: f64, o2_ref: f64) -> Option<f64> {
    (0.0..21.0).contains(&o2).then(|| c * (21.0 - o2_ref) / (21.0 - o2))
}

/// NOx as NO2 from NO and NO2 readings in ppm: both at M(NO2).
pub fn nox_as_no2_ppm(no_ppm: f64, no2_ppm: f64) -> f64 {
    ppm_to_mg(no_ppm + no2_ppm, M_NO2)
}

/// NOx as NO2 from NO and NO2 in mg/m³: NO scaled by M(NO2)/M(NO).
pub fn nox_as_no2_mg(no_mg: f64, no2_mg: f64) -> f64 {
    no_mg * M_NO2 / M_NO + no2_mg
}

/// Standard dry flue-gas flow, m³/h, from velocity (m/s), duct area (m²), temperature (°C), absolute
/// pressure (Pa) and moisture fraction.
pub fn standard_dry_flow(velocity: f64, area: f64, temp_c: f64, abs_pa: f64, moisture: f64) -> Option<f64> {
    let t = T0 + temp_c;
    if t <= 0.0 || !(0.0..1.0).contains(&moisture) {
        return None;
    }
    Some(velocity * area * 3600.0 * T0 / t * abs_pa / P0 * (1.0 - moisture))
}

/// Emission rate, kg/h, of a standard dry concentration (mg/m³, not oxygen-corrected) in a standard
/// dry flow (m³/h).
pub fn emission_rate(c_mg: f64, flow: f64) -> f64 {
    c_mg * flow * 1e-6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a value");
        assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} != {b}");
    }

    // Each vector worked by hand from the formula in the comment.
    #[test]
    fn vectors_worked_by_hand() {
        // SO2 100 ppm × 64.06 / 22.4 = 285.982142857 mg/m³.
        close(Some(ppm_to_mg(100.0, 64.06)), 285.982_142_857_142_86);
        // 200 mg/m³ wet at Xsw = 0.10: 200 / 0.9 = 222.2222...
        close(wet_to_dry(200.0, 0.10), 222.222_222_222_222_2);
        // 50 mg/m³ at 126.85 °C (400 K) and 101325 Pa: 50 × 400/273.15 = 73.2198425773.
        close(actual_to_standard(50.0, 126.85, P0), 73.219_842_577_338_46);
        // And at 81060 Pa (0.8 atm) as well: × 1.25 = 91.5248032217.
        close(actual_to_standard(50.0, 126.85, 81_060.0), 91.524_803_221_673_07);
        // 100 mg/m³ at O2 = 9 %, reference 6 %: 100 × 15 / 12 = 125.
        close(o2_correct(100.0, 9.0, 6.0), 125.0);
        // Gas turbine, reference 15 %: 30 at 18 % → 30 × 6 / 3 = 60.
        close(o2_correct(30.0, 18.0, 15.0), 60.0);
        // NO 100 ppm + NO2 5 ppm as NO2: 105 × 46.01 / 22.4 = 215.671875.
        close(Some(nox_as_no2_ppm(100.0, 5.0)), 215.671_875);
        // NO 60 mg/m³ as NO2: 60 × 46.01 / 30.01 = 91.9893369; plus NO2 4 → 95.9893369.
        close(Some(nox_as_no2_mg(60.0, 4.0)), 95.989_336_887_704_1);
        // 10 m/s × 2 m² = 72000 m³/h actual; at 400 K, 101325 Pa, Xsw 0.1:
        // 72000 × 273.15 / 400 × 0.9 = 44250.3 m³/h.
        close(standard_dry_flow(10.0, 2.0, 126.85, P0, 0.1), 44_250.3);
        // 200 mg/m³ × 44250.3 m³/h = 8.85006 kg/h.
        close(Some(emission_rate(200.0, 44_250.3)), 8.850_06);
    }

    #[test]
    fn impossible_inputs_give_none() {
        assert_eq!(wet_to_dry(1.0, 1.0), None);
        assert_eq!(wet_to_dry(1.0, -0.1), None);
        assert_eq!(o2_correct(1.0, 21.0, 6.0), None);
        assert_eq!(actual_to_standard(1.0, -300.0, P0), None);
        assert_eq!(actual_to_standard(1.0, 20.0, 0.0), None);
        assert_eq!(standard_dry_flow(1.0, 1.0, 20.0, P0, 1.0), None);
    }
}
