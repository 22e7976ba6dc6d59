//! Time-of-use tariffs: which period (critical peak, peak, flat, valley, ...) a minute of the site's day
//! falls in, by hour ranges and months, and its price.

use std::collections::BTreeMap;

use super::config::TariffToml;

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    period: usize,
    /// Minutes of the day `[from, to)`; `from > to` wraps past midnight (`23:00-07:00`).
    ranges: Vec<(u16, u16)>,
    /// Bit `m` set: applies in month `m` (1 to 12).
    months: u16,
}

impl Rule {
    fn covers(&self, month: i8, minute: u16) -> bool {
        self.months & (1 << month) != 0
            && self
                .ranges
                .iter()
                .any(|&(a, b)| if a < b { (a..b).contains(&minute) } else { minute >= a || minute < b })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tariff {
    /// Period names, in the order of their prices (alphabetical, as in `prices`).
    pub periods: Vec<String>,
    /// Price per kWh of each period.
    pub prices: Vec<f64>,
    default: usize,
    rules: Vec<Rule>,
}

/// `"08:00-11:00"` as minutes of the day; `24:00` ends a day.
pub fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let minute = |s: &str| -> Option<u16> {
        let (h, m) = s.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let bad = || format!("hours {text:?} is not a range; write e.g. \"08:00-11:00\" or \"23:00-07:00\"");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (a, b) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
    if a == b || (a == 1440) {
        return Err(format!(
            "hours {text:?} is empty; a range ends after it starts (\"00:00-24:00\" is the whole day)"
        ));
    }
    Ok((a, b % 1440))
}

impl Tariff {
    /// From a config that passed its checks (a bad entry is left out here; `problems` reports it).
    pub fn new(cfg: &TariffToml) -> Tariff {
        let prices: &BTreeMap<String, f64> = cfg.prices.get_ref();
        let periods: Vec<String> = prices.keys().cloned().collect();
        let index = |name: &str| periods.iter().position(|p| p == name);
        let rules = cfg
            .periods
            .iter()
            .filter_map(|r| {
                let period = index(r.period.get_ref())?;
                let ranges = r.hours.iter().filter_map(|h| parse_range(h.get_ref()).ok()).collect();
                let months = match &r.months {
                    Some(m) => {
                        m.get_ref().iter().filter(|m| (1..=12).contains(*m)).fold(0, |acc, m| acc | 1 << m)
                    }
                    None => 0b1_1111_1111_1110,
                };
                Some(Rule { period, ranges, months })
            })
            .collect();
        Tariff {
            default: index(cfg.default.get_ref()).unwrap_or(0),
            prices: prices.values().copied().collect(),
            periods,
            rules,
        }
    }

    /// The period in force at `minute` of a day in `month`: the last rule that covers it, else the default.
    pub fn period_at(&self, month: i8, minute: u16) -> usize {
        self.rules.iter().rev().find(|r| r.covers(month, minute)).map_or(self.default, |r| r.period)
    }
}
