//! The CP text of a stack's HJ 212 records (without `DataTime`, which the uplink writes from the
//! sample's time): one group per pollutant, `a21026-Rtd=..,a21026-ZsRtd=..,a21026-Flag=N`
//! (HJ 212-2017 App. B table B.1 field names).

use std::fmt::Write;

use super::aggregate::Summary;
use super::flags::DataFlag;

/// One pollutant's real-time values.
pub struct Rtd<'a> {
    pub code: &'a str,
    pub value: f64,
    pub zs: Option<f64>,
    pub flag: DataFlag,
}

fn sep(out: &mut String) {
    if !out.is_empty() {
        out.push(';');
    }
}

pub fn rtd(out: &mut String, r: &Rtd<'_>) {
    sep(out);
    let _ = write!(out, "{c}-Rtd={:.3}", r.value, c = r.code);
    if let Some(z) = r.zs {
        let _ = write!(out, ",{c}-ZsRtd={z:.3}", c = r.code);
    }
    let _ = write!(out, ",{c}-Flag={}", r.flag.letter(), c = r.code);
}

pub fn period(out: &mut String, code: &str, s: &Summary) {
    sep(out);
    let start = out.len();
    let mut field = |name: &str, v: Option<f64>| {
        if let Some(v) = v {
            if out.len() > start {
                out.push(',');
            }
            let _ = write!(out, "{code}-{name}={v:.3}");
        }
    };
    field("Cou", s.cou);
    field("Min", s.min);
    field("Avg", s.avg);
    field("Max", s.max);
    field("ZsAvg", s.zs_avg);
    if out.len() > start {
        out.push(',');
    }
    let _ = write!(out, "{code}-Flag={}", s.flag.letter());
}
