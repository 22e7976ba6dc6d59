//! Emission factors. Scope 2: grid electricity × the grid's emission factor. Scope 1: fuel burnt on
//! site, volume → energy (net calorific value) → CO2 (emission factor per unit of energy).

use super::config::CarbonToml;

/// kg CO2/kWh: China's national average electricity CO2 emission factor for 2023, published by the
/// Ministry of Ecology and Environment and the National Bureau of Statistics (announced January 2026).
pub const GRID_FACTOR: f64 = 0.5306;
/// MJ/m³ (standard m³): natural gas net calorific value, 389.31 GJ/10⁴ Nm³, the default of GB/T
/// 32151 (China's GHG accounting standards); the IPCC 2006 Guidelines give NCVs per mass only.
pub const GAS_NCV: f64 = 38.931;
/// kg CO2/GJ: natural gas default CO2 emission factor, IPCC 2006 Guidelines Vol. 2 ch. 1 Table 1.4
/// (56 100 kg/TJ; carbon content 15.3 kg C/GJ, Table 1.3, with an oxidation factor of 1).
pub const GAS_FACTOR: f64 = 56.1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factors {
    /// kg CO2 per kWh of grid electricity.
    pub grid: f64,
    /// kg CO2 per m³ of natural gas: NCV (MJ/m³) × factor (kg/GJ) / 1000.
    pub gas_per_m3: f64,
}

impl Factors {
    pub fn new(cfg: &CarbonToml) -> Factors {
        let get = |v: &Option<serde_spanned::Spanned<f64>>, d: f64| v.as_ref().map_or(d, |s| *s.get_ref());
        Factors {
            grid: get(&cfg.grid_factor, GRID_FACTOR),
            gas_per_m3: get(&cfg.gas_ncv, GAS_NCV) * get(&cfg.gas_factor, GAS_FACTOR) / 1000.0,
        }
    }
}

/// µkg CO2 of an amount in millionths (µkWh or µm³) at `factor` kg per unit.
pub fn emissions(amount: i64, factor: f64) -> i64 {
    (amount as f64 * factor).round() as i64
}
