//! What `[energy]`, `[energy.tariff]`, `[energy.carbon]` and `[[energy.meter]]` say, as read from the file.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use drivers::units::Span;
use serde::Deserialize;
use serde_spanned::Spanned;

/// The whole `[energy]` section: the site's settings and its meters. One engine accounts for all of
/// them, because a group's sum, a loss and the site's emissions need every meter at the same boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyConfig {
    pub site: SiteToml,
    pub meters: Vec<MeterToml>,
    /// Where the section starts, for problems about it as a whole.
    pub at: Range<usize>,
    /// Every meter could be read: otherwise "no meter" or "not a meter" would only echo that error.
    pub complete: bool,
}

/// `[energy]` without its meters.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SiteToml {
    /// IANA zone of the site: tariff hours, days and billing cycles are on its clock.
    pub timezone: Option<Spanned<String>>,
    /// Energy, cost and emissions are reported per interval of this length (default 15m).
    pub interval: Option<Spanned<Span>>,
    /// Day of the month a billing cycle starts (1 to 31; past a short month's end, its last day).
    pub billing_day: Option<Spanned<i64>>,
    /// How long after a boundary a meter that sends nothing is closed without its reading (default 10s).
    pub late: Option<Spanned<Span>>,
    /// Shown beside costs in the API; prices are in it.
    pub currency: Option<String>,
    pub tariff: Option<TariffToml>,
    pub carbon: Option<CarbonToml>,
}

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_LATE: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_GAP: Duration = Duration::from_secs(30);

impl SiteToml {
    pub fn interval(&self) -> Duration {
        self.interval.as_ref().map_or(DEFAULT_INTERVAL, |s| s.get_ref().get())
    }
    pub fn late(&self) -> Duration {
        self.late.as_ref().map_or(DEFAULT_LATE, |s| s.get_ref().get())
    }
    pub fn billing_day(&self) -> i64 {
        self.billing_day.as_ref().map_or(1, |d| *d.get_ref())
    }
}

/// `[energy.tariff]`: a time-of-use calendar.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TariffToml {
    /// Price per kWh of each tariff period, by the period's name (`peak`, `flat`, `valley`, `critical`).
    pub prices: Spanned<BTreeMap<String, f64>>,
    /// The period of any time no rule names.
    pub default: Spanned<String>,
    /// Rules in order; a later rule wins where two cover the same time.
    #[serde(default)]
    pub periods: Vec<RuleToml>,
}

/// One rule: `{ period = "peak", hours = ["08:00-11:00", "18:00-23:00"], months = [7, 8] }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleToml {
    pub period: Spanned<String>,
    pub hours: Vec<Spanned<String>>,
    /// Months it applies in (1 to 12); every month when left out.
    pub months: Option<Spanned<Vec<i64>>>,
}

/// `[energy.carbon]`: turns on emissions; each factor has a documented default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CarbonToml {
    /// kg CO2 per kWh of grid electricity (Scope 2).
    pub grid_factor: Option<Spanned<f64>>,
    /// Net calorific value of natural gas, MJ per m³.
    pub gas_ncv: Option<Spanned<f64>>,
    /// kg CO2 per GJ of natural gas burnt (Scope 1).
    pub gas_factor: Option<Spanned<f64>>,
}

/// What a meter measures.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    #[default]
    Electricity,
    NaturalGas,
}

/// A CT or PT ratio: `40` or `"200/5"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Ratio {
    Number(f64),
    Text(String),
}

impl Ratio {
    pub fn value(&self) -> Result<f64, String> {
        let v = match self {
            Ratio::Number(n) => *n,
            Ratio::Text(t) => {
                let parse = |s: &str| s.trim().parse::<f64>().ok();
                match t.split_once('/') {
                    Some((a, b)) => match (parse(a), parse(b)) {
                        (Some(a), Some(b)) if b != 0.0 => a / b,
                        _ => f64::NAN,
                    },
                    None => parse(t).unwrap_or(f64::NAN),
                }
            }
        };
        if v.is_finite() && v > 0.0 { Ok(v) } else { Err("write a positive number or \"200/5\"".into()) }
    }
}

/// `demand = { period = "15m", slip = "1m" }`: sliding windows; without `slip`, block windows.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DemandToml {
    pub period: Span,
    pub slip: Option<Span>,
}

impl DemandToml {
    pub fn slip(&self) -> Duration {
        self.slip.map_or(self.period.get(), Span::get)
    }
}

/// One `[[energy.meter]]`: a meter with a register, a power reading or neither (a group that sums the
/// meters naming it as `parent`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MeterToml {
    pub name: Spanned<String>,
    pub medium: Option<Spanned<Medium>>,
    /// Cumulative active energy register, kWh on the secondary side.
    pub energy: Option<Spanned<String>>,
    /// Active power, kW on the secondary side, integrated where there is no register.
    pub power: Option<Spanned<String>>,
    /// Cumulative volume register of a fuel meter, m³.
    pub volume: Option<Spanned<String>>,
    /// The highest reading the register shows before it starts again from 0.
    pub rollover: Option<Spanned<f64>>,
    /// One count of the register (0.01 for a register read with scale 0.01).
    pub resolution: Option<Spanned<f64>>,
    pub ct: Option<Spanned<Ratio>>,
    pub pt: Option<Spanned<Ratio>>,
    /// The most the meter can count per hour (kW, or m³/h for gas): a larger step is a replacement.
    pub max_rate: Option<Spanned<f64>>,
    /// Power is not integrated across a gap longer than this (default 30s).
    pub max_gap: Option<Spanned<Span>>,
    pub demand: Option<Spanned<DemandToml>>,
    /// The meter or group this one feeds.
    pub parent: Option<Spanned<String>>,
    /// A production counter (pieces, tonnes): energy and emissions per unit of output.
    pub output: Option<Spanned<String>>,
}

impl MeterToml {
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }
    pub fn medium(&self) -> Medium {
        self.medium.as_ref().map_or(Medium::Electricity, |m| *m.get_ref())
    }
    /// The tag the meter is read from, if it is not a group.
    pub fn input(&self) -> Option<&Spanned<String>> {
        self.energy.as_ref().or(self.power.as_ref()).or(self.volume.as_ref())
    }
    /// CT × PT.
    pub fn ratio(&self) -> f64 {
        let r = |x: &Option<Spanned<Ratio>>| x.as_ref().and_then(|r| r.get_ref().value().ok()).unwrap_or(1.0);
        r(&self.ct) * r(&self.pt)
    }
    pub fn max_gap(&self) -> Duration {
        self.max_gap.as_ref().map_or(DEFAULT_MAX_GAP, |s| s.get_ref().get())
    }
    /// The quantity's word in tag names: `energy` (kWh) or `volume` (m³).
    pub fn quantity(&self) -> &'static str {
        match self.medium() {
            Medium::Electricity => "energy",
            Medium::NaturalGas => "volume",
        }
    }
}
