//! The HJ 212 data flags (HJ 212-2017 App. B table B.7): what state the instrument and the value
//! were in. Only `N` data is valid for averages (HJ 75-2017 ch. 11: data of stopped, maintained,
//! calibrating, faulty or out-of-range periods are not valid data).

use protocols::{Quality, Reason};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataFlag {
    /// Normal (在线监控设备正常).
    N,
    /// The plant is stopped (停运).
    F,
    /// Maintenance (维护).
    M,
    /// Entered by hand (手工输入).
    S,
    /// Instrument fault (故障).
    D,
    /// Calibration (校准).
    C,
    /// Over the measuring range (超测上限).
    T,
    /// Communication lost (通讯异常).
    B,
}

impl DataFlag {
    pub const ALL: [DataFlag; 8] = [
        DataFlag::N,
        DataFlag::F,
        DataFlag::M,
        DataFlag::S,
        DataFlag::D,
        DataFlag::C,
        DataFlag::T,
        DataFlag::B,
    ];

    pub fn letter(self) -> &'static str {
        match self {
            DataFlag::N => "N",
            DataFlag::F => "F",
            DataFlag::M => "M",
            DataFlag::S => "S",
            DataFlag::D => "D",
            DataFlag::C => "C",
            DataFlag::T => "T",
            DataFlag::B => "B",
        }
    }

    /// The instrument status tag's code: 0 N, 1 F, 2 M, 3 S, 4 D, 5 C, 6 T, 7 B (the order of table
    /// B.7); another code is a fault.
    pub fn from_status(code: i64) -> DataFlag {
        match code {
            0 => DataFlag::N,
            1 => DataFlag::F,
            2 => DataFlag::M,
            3 => DataFlag::S,
            5 => DataFlag::C,
            6 => DataFlag::T,
            7 => DataFlag::B,
            _ => DataFlag::D,
        }
    }

    pub fn is_valid(self) -> bool {
        self == DataFlag::N
    }

    /// Which flag names a period whose data are not valid when several occur equally often: the
    /// plant's state first, then the instrument's.
    fn rank(self) -> u8 {
        match self {
            DataFlag::F => 0,
            DataFlag::M => 1,
            DataFlag::C => 2,
            DataFlag::D => 3,
            DataFlag::B => 4,
            DataFlag::T => 5,
            DataFlag::S => 6,
            DataFlag::N => 7,
        }
    }
}

/// A value's flag from the instrument's status (if it reports one) and the sample's quality.
/// The instrument saying it is stopped, maintained, calibrating or faulty wins over the value's
/// quality; then a lost link is `B`, a sensor fault `D`, a value past the range `T`, a substitute `S`.
pub fn flag_of(status: Option<DataFlag>, quality: Quality, value: f64, range: Option<f64>) -> DataFlag {
    if let Some(s) = status.filter(|s| matches!(s, DataFlag::F | DataFlag::M | DataFlag::C | DataFlag::D)) {
        return s;
    }
    match quality.reason() {
        Some(Reason::Timeout | Reason::CommsLost | Reason::Stale) if !quality.is_good() => {
            return DataFlag::B;
        }
        Some(Reason::SensorFault | Reason::DecodeError | Reason::Exception(_)) => return DataFlag::D,
        Some(Reason::OutOfRange) => return DataFlag::T,
        Some(Reason::Substituted) => return DataFlag::S,
        _ => {}
    }
    if !value.is_finite() {
        return DataFlag::D;
    }
    if range.is_some_and(|r| value > r) {
        return DataFlag::T;
    }
    status.unwrap_or(DataFlag::N)
}

/// Counts of each flag over a period; the period's flag is `N` when it is valid, else the most
/// frequent other flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagCounts([u32; 8]);

impl FlagCounts {
    pub fn add(&mut self, f: DataFlag, n: u32) {
        self.0[f as usize] += n;
    }
    pub fn get(&self, f: DataFlag) -> u32 {
        self.0[f as usize]
    }
    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }
    /// The flag of a period that is not valid: the most frequent non-`N` flag (`B` if none: no data).
    pub fn dominant_fault(&self) -> DataFlag {
        DataFlag::ALL
            .into_iter()
            .filter(|f| *f != DataFlag::N && self.get(*f) > 0)
            .max_by(|a, b| self.get(*a).cmp(&self.get(*b)).then(b.rank().cmp(&a.rank())))
            .unwrap_or(DataFlag::B)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status, quality, value, range: the flag.
    type Case = (Option<DataFlag>, Quality, f64, Option<f64>, DataFlag);

    #[test]
    fn every_flag_from_status_and_quality() {
        let good = Quality::Good;
        let cases: &[Case] = &[
            (None, good, 10.0, None, DataFlag::N),
            (Some(DataFlag::N), good, 10.0, Some(100.0), DataFlag::N),
            (Some(DataFlag::F), good, 10.0, None, DataFlag::F),
            (Some(DataFlag::M), Quality::Bad(Reason::CommsLost), 10.0, None, DataFlag::M),
            (Some(DataFlag::S), good, 10.0, None, DataFlag::S),
            (None, Quality::Uncertain(Reason::Substituted), 10.0, None, DataFlag::S),
            (Some(DataFlag::D), good, 10.0, None, DataFlag::D),
            (None, Quality::Bad(Reason::SensorFault), 10.0, None, DataFlag::D),
            (None, good, f64::NAN, None, DataFlag::D),
            (Some(DataFlag::C), good, 10.0, None, DataFlag::C),
            (None, good, 120.0, Some(100.0), DataFlag::T),
            (Some(DataFlag::T), good, 10.0, None, DataFlag::T),
            (None, Quality::Uncertain(Reason::OutOfRange), 10.0, None, DataFlag::T),
            (None, Quality::Bad(Reason::CommsLost), 10.0, None, DataFlag::B),
            (None, Quality::Bad(Reason::Timeout), 10.0, None, DataFlag::B),
            (Some(DataFlag::B), good, 10.0, None, DataFlag::B),
        ];
        for (i, &(status, q, v, range, want)) in cases.iter().enumerate() {
            assert_eq!(flag_of(status, q, v, range), want, "case {i}");
        }
        let seen: std::collections::HashSet<_> = cases.iter().map(|c| c.4).collect();
        assert_eq!(seen.len(), 8, "every flag is produced");
    }

    #[test]
    fn status_codes_in_table_order() {
        let letters: Vec<&str> = (0..8).map(|c| DataFlag::from_status(c).letter()).collect();
        assert_eq!(letters, ["N", "F", "M", "S", "D", "C", "T", "B"]);
        assert_eq!(DataFlag::from_status(42), DataFlag::D);
    }

    #[test]
    fn dominant_fault_of_a_period() {
        let mut c = FlagCounts::default();
        assert_eq!(c.dominant_fault(), DataFlag::B, "no data at all");
        c.add(DataFlag::N, 30);
        c.add(DataFlag::C, 5);
        c.add(DataFlag::M, 5);
        assert_eq!(c.dominant_fault(), DataFlag::M, "a tie goes to maintenance over calibration");
        c.add(DataFlag::C, 1);
        assert_eq!(c.dominant_fault(), DataFlag::C);
    }
}
