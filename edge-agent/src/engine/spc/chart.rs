//! Control chart constants and limits. Constants for subgroups of 2 to 10 from the standard table
//! (ASTM Manual on Presentation of Data and Control Chart Analysis, MNL 7, Table 49; Montgomery,
//! Introduction to Statistical Quality Control, Appendix VI).

use serde::{Deserialize, Serialize};

use super::Chart;

/// n, A2, A3, B3, B4, D3, D4, d2, c4.
const TABLE: [[f64; 9]; 9] = [
    [2.0, 1.880, 2.659, 0.0, 3.267, 0.0, 3.267, 1.128, 0.7979],
    [3.0, 1.023, 1.954, 0.0, 2.568, 0.0, 2.574, 1.693, 0.8862],
    [4.0, 0.729, 1.628, 0.0, 2.266, 0.0, 2.282, 2.059, 0.9213],
    [5.0, 0.577, 1.427, 0.0, 2.089, 0.0, 2.114, 2.326, 0.9400],
    [6.0, 0.483, 1.287, 0.030, 1.970, 0.0, 2.004, 2.534, 0.9515],
    [7.0, 0.419, 1.182, 0.118, 1.882, 0.076, 1.924, 2.704, 0.9594],
    [8.0, 0.373, 1.099, 0.185, 1.815, 0.136, 1.864, 2.847, 0.9650],
    [9.0, 0.337, 1.032, 0.239, 1.761, 0.184, 1.816, 2.970, 0.9693],
    [10.0, 0.308, 0.975, 0.284, 1.716, 0.223, 1.777, 3.078, 0.9727],
];

pub const MAX_SUBGROUP: usize = 10;

fn row(n: usize) -> Option<&'static [f64; 9]> {
    TABLE.get(n.checked_sub(2)?)
}

/// d2 for moving ranges of two, as the individuals chart uses.
pub const D2_MR: f64 = 1.128;

/// Limits of both charts, and the process sigma they imply.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub cl: f64,
    pub ucl: f64,
    pub lcl: f64,
    /// Centre and limits of the dispersion chart (R, S or MR).
    pub d_cl: f64,
    pub d_ucl: f64,
    pub d_lcl: f64,
    /// Within-subgroup sigma of the individual values: R̄/d2, s̄/c4, MR̄/1.128.
    pub sigma: f64,
}

/// Limits from the baseline's grand mean and mean dispersion (R̄, s̄ or MR̄) for subgroups of `n`.
pub fn limits(chart: Chart, n: usize, grand_mean: f64, mean_dispersion: f64) -> Option<Limits> {
    let l = match chart {
        Chart::XbarR => {
            let r = row(n)?;
            let (a2, d3, d4, d2) = (r[1], r[5], r[6], r[7]);
            let spread = a2 * mean_dispersion;
            Limits {
                cl: grand_mean,
                ucl: grand_mean + spread,
                lcl: grand_mean - spread,
                d_cl: mean_dispersion,
                d_ucl: d4 * mean_dispersion,
                d_lcl: d3 * mean_dispersion,
                sigma: mean_dispersion / d2,
            }
        }
        Chart::XbarS => {
            let r = row(n)?;
            let (a3, b3, b4, c4) = (r[2], r[3], r[4], r[8]);
            let spread = a3 * mean_dispersion;
            Limits {
                cl: grand_mean,
                ucl: grand_mean + spread,
                lcl: grand_mean - spread,
                d_cl: mean_dispersion,
                d_ucl: b4 * mean_dispersion,
                d_lcl: b3 * mean_dispersion,
                sigma: mean_dispersion / c4,
            }
        }
        Chart::Individuals => {
            let sigma = mean_dispersion / D2_MR;
            Limits {
                cl: grand_mean,
                ucl: grand_mean + 3.0 * sigma,
                lcl: grand_mean - 3.0 * sigma,
                d_cl: mean_dispersion,
                d_ucl: 3.267 * mean_dispersion,
                d_lcl: 0.0,
                sigma,
            }
        }
    };
    (l.sigma.is_finite() && l.sigma > 0.0).then_some(l)
}

/// The within-subgroup sigma of a period's mean dispersion, as for the limits.
pub fn sigma(chart: Chart, n: usize, mean_dispersion: f64) -> Option<f64> {
    let s = match chart {
        Chart::XbarR => mean_dispersion / row(n)?[7],
        Chart::XbarS => mean_dispersion / row(n)?[8],
        Chart::Individuals => mean_dispersion / D2_MR,
    };
    (s.is_finite() && s > 0.0).then_some(s)
}

/// Cp and Cpk of a process with mean `mu` and sigma `sigma` against whichever limits are given.
pub fn capability(mu: f64, sigma: f64, lsl: Option<f64>, usl: Option<f64>) -> (Option<f64>, Option<f64>) {
    let cp = match (lsl, usl) {
        (Some(l), Some(u)) => Some((u - l) / (6.0 * sigma)),
        _ => None,
    };
    let upper = usl.map(|u| (u - mu) / (3.0 * sigma));
    let lower = lsl.map(|l| (mu - l) / (3.0 * sigma));
    let cpk = match (upper, lower) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    (cp, cpk)
}
