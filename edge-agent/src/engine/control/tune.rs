//! PI settings from an open-loop step test: a first order plus dead time fitted by the two-point
//! method (28.3 % and 63.2 % of the final change: C. L. Smith, *Digital Computer Process Control*, 1972),
//! then the SIMC rules (S. Skogestad, "Simple analytic rules for model reduction and PID controller
//! tuning", J. Process Control 13 (2003) 291–309): `Kc = τ / (k·(τc + θ))`, `τI = min(τ, 4·(τc + θ))`,
//! with `τc = θ` for tight control with good robustness.

/// A fitted first order plus dead time, in PV units per OP unit and seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub gain: f64,
    pub time_constant_s: f64,
    pub dead_time_s: f64,
}

/// SIMC PI settings for the ISA form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PiSettings {
    pub gain: f64,
    pub integral_s: f64,
    pub closed_loop_s: f64,
}

/// Fits `(t, pv)` after an OP step of `du` made at `t0` (the PV at rest before it). `None` if the PV did
/// not move or never reached 63 %.
pub fn fit_step(points: &[(f64, f64)], t0: f64, du: f64) -> Option<Fit> {
    let before = points.iter().rfind(|p| p.0 <= t0)?.1;
    let last = points.last()?.1;
    let dy = last - before;
    if dy.abs() < 1e-9 || du == 0.0 {
        return None;
    }
    let crossing =
        |fraction: f64| points.iter().find(|p| p.0 > t0 && (p.1 - before) / dy >= fraction).map(|p| p.0 - t0);
    let (t28, t63) = (crossing(0.283)?, crossing(0.632)?);
    let tau = (1.5 * (t63 - t28)).max(1e-3);
    Some(Fit { gain: dy / du, time_constant_s: tau, dead_time_s: (t63 - tau).max(0.0) })
}

pub fn simc_pi(fit: &Fit) -> PiSettings {
    // With no dead time SIMC's τc = θ would be zero: take a tenth of τ instead.
    let tc = if fit.dead_time_s > 0.0 { fit.dead_time_s } else { fit.time_constant_s / 10.0 };
    let sum = tc + fit.dead_time_s;
    PiSettings {
        gain: fit.time_constant_s / (fit.gain.abs() * sum),
        integral_s: fit.time_constant_s.min(4.0 * sum),
        closed_loop_s: tc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_point_fit_recovers_a_known_fopdt_and_simc_follows_the_rules() {
        // 21 per unit, τ 120 s, θ 10 s, sampled every second after a step of 5 at t = 100 s.
        let pv = |t: f64| {
            if t < 110.0 { 25.0 } else { 25.0 + 105.0 * (1.0 - (-(t - 110.0) / 120.0).exp()) }
        };
        let points: Vec<(f64, f64)> = (0..1500).map(|s| (s as f64, pv(s as f64))).collect();
        let fit = fit_step(&points, 100.0, 5.0).unwrap();
        assert!((fit.gain - 21.0).abs() < 0.2, "{fit:?}");
        assert!((fit.time_constant_s - 120.0).abs() < 3.0, "{fit:?}");
        assert!((fit.dead_time_s - 10.0).abs() < 2.0, "{fit:?}");
        let pi = simc_pi(&Fit { gain: 21.0, time_constant_s: 120.0, dead_time_s: 10.0 });
        assert!((pi.gain - 120.0 / (21.0 * 20.0)).abs() < 1e-12);
        assert_eq!(pi.integral_s, 80.0);
        assert!(fit_step(&[(0.0, 1.0), (1.0, 1.0)], 0.5, 1.0).is_none(), "a PV that did not move");
    }
}
