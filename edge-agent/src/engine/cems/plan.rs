//! The tags a stack derives, named once: `kind` lists them for `check`, the engine looks up their ids.

use protocols::TagId;

use super::{PollutantConfig, StackConfig};

pub const PERIODS: [&str; 3] = ["minute", "hour", "day"];
pub const RECORDS: [&str; 4] = ["rtd", "minute", "hour", "day"];

/// The derived tag names of one pollutant (or of the flow, `p` = None).
pub fn pollutant_tags(s: &StackConfig, p: Option<&PollutantConfig>) -> Vec<String> {
    let stack = s.stack.get_ref();
    let Some(p) = p else {
        let mut out = vec![format!("{stack}.flow")];
        for per in PERIODS {
            out.extend(["avg", "cou", "valid"].map(|w| format!("{stack}.flow.{per}.{w}")));
        }
        return out;
    };
    let base = format!("{stack}.{}", p.name.get_ref());
    let zs = s.corrects(p);
    let mut out = vec![format!("{base}.mg"), format!("{base}.flag")];
    if zs {
        out.push(format!("{base}.zs"));
    }
    if s.has_flow() {
        out.push(format!("{base}.rate"));
    }
    for per in PERIODS {
        out.extend(["avg", "min", "max", "valid"].map(|w| format!("{base}.{per}.{w}")));
        if zs {
            out.push(format!("{base}.{per}.zs_avg"));
        }
        if s.has_flow() {
            out.push(format!("{base}.{per}.cou"));
        }
    }
    if p.limit.is_some() {
        out.push(format!("{base}.over_limit"));
    }
    out
}

pub fn record_tags(s: &StackConfig) -> Vec<String> {
    RECORDS.iter().map(|r| format!("{}.hj212.{r}", s.stack.get_ref())).collect()
}

pub fn all_tags(s: &StackConfig) -> Vec<String> {
    let mut out = Vec::new();
    for p in &s.pollutants {
        out.extend(pollutant_tags(s, Some(p)));
    }
    if s.has_flow() {
        out.extend(pollutant_tags(s, None));
    }
    out.extend(record_tags(s));
    out
}

/// Ids of one series' derived tags.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub value: Option<TagId>,
    pub flag: Option<TagId>,
    pub zs: Option<TagId>,
    pub rate: Option<TagId>,
    /// Per period: avg, min, max, valid, zs_avg, cou.
    pub periods: [[Option<TagId>; 6]; 3],
    pub over_limit: Option<TagId>,
}

impl Outputs {
    pub fn new(base: &str, tag_id: &dyn Fn(&str) -> Option<TagId>, value: &str) -> Outputs {
        let id = |w: &str| tag_id(&format!("{base}.{w}"));
        let mut o = Outputs {
            value: if value.is_empty() { tag_id(base) } else { id(value) },
            flag: id("flag"),
            zs: id("zs"),
            rate: id("rate"),
            over_limit: id("over_limit"),
            ..Outputs::default()
        };
        for (i, per) in PERIODS.iter().enumerate() {
            o.periods[i] = ["avg", "min", "max", "valid", "zs_avg", "cou"].map(|w| id(&format!("{per}.{w}")));
        }
        o
    }
}
