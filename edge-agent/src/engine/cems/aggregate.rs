//! Minute, hour and day aggregates with their valid-data counts.
//!
//! Validity (HJ 75-2017 ch. 11, data review; the counts HJ 212-2017 reports as `-Cou`'s companions):
//! - a minute is valid when at least one of its real-time values is valid (flag `N`);
//! - an hour is valid with at least `hour_min_minutes` valid minutes (45 by default: HJ 75-2017's
//!   "at least 45 minutes of valid data in an hour");
//! - a day is valid with at least `day_min_hours` valid hours (20 by default, as GB 3095-2012 §8.2
//!   requires of a daily mean).
//!
//! Averages, minima and maxima are over valid data only; a period that is not valid still reports
//! what valid data it had, under the flag of its most frequent fault.

use serde::{Deserialize, Serialize};

use super::flags::{DataFlag, FlagCounts};

/// One period of one pollutant, being filled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Acc {
    /// Valid values (samples in a minute, valid minutes in an hour, valid hours in a day).
    pub valid: u32,
    pub flags: FlagCounts,
    pub sum: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub zs_sum: f64,
    pub zs_n: u32,
    /// Minute level: the emission rates (kg/h) of valid samples.
    pub rate_sum: f64,
    pub rate_n: u32,
    /// Hour and day level: the mass of the valid periods below, kg.
    pub cou: f64,
}

/// A closed period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub avg: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub zs_avg: Option<f64>,
    /// Mass emitted over the period, kg (`None` without a flow).
    pub cou: Option<f64>,
    pub valid_count: u32,
    pub flag: DataFlag,
}

impl Summary {
    pub fn is_valid(&self) -> bool {
        self.flag.is_valid()
    }
}

impl Acc {
    fn take(&mut self, v: f64, lo: f64, hi: f64, zs: Option<f64>) {
        self.valid += 1;
        self.sum += v;
        self.min = Some(self.min.map_or(lo, |m| m.min(lo)));
        self.max = Some(self.max.map_or(hi, |m| m.max(hi)));
        if let Some(z) = zs {
            self.zs_sum += z;
            self.zs_n += 1;
        }
    }

    /// A real-time value into a minute.
    pub fn add_sample(&mut self, mg: f64, zs: Option<f64>, rate: Option<f64>, flag: DataFlag) {
        self.flags.add(flag, 1);
        if flag.is_valid() {
            self.take(mg, mg, mg, zs);
            if let Some(r) = rate {
                self.rate_sum += r;
                self.rate_n += 1;
            }
        }
    }

    /// A closed minute (or hour) into an hour (or day): only a valid one counts toward the average.
    pub fn add_period(&mut self, s: &Summary) {
        self.flags.add(s.flag, 1);
        if let (true, Some(avg)) = (s.is_valid(), s.avg) {
            self.take(avg, s.min.unwrap_or(avg), s.max.unwrap_or(avg), s.zs_avg);
            self.cou += s.cou.unwrap_or(0.0);
            self.rate_n += u32::from(s.cou.is_some());
        }
    }

    /// The minute, `hours` long (1/60), valid with one valid sample.
    pub fn close_minute(&self, hours: f64) -> Summary {
        let cou = (self.rate_n > 0).then(|| self.rate_sum / f64::from(self.rate_n) * hours);
        self.summary(1, cou)
    }

    /// The hour or day, valid with at least `min_valid` valid periods below.
    pub fn close_period(&self, min_valid: u32) -> Summary {
        self.summary(min_valid, (self.rate_n > 0).then_some(self.cou))
    }

    fn summary(&self, min_valid: u32, cou: Option<f64>) -> Summary {
        let n = f64::from(self.valid);
        Summary {
            avg: (self.valid > 0).then(|| self.sum / n),
            min: self.min,
            max: self.max,
            zs_avg: (self.zs_n > 0).then(|| self.zs_sum / f64::from(self.zs_n)),
            cou,
            valid_count: self.valid,
            flag: if self.valid >= min_valid.max(1) { DataFlag::N } else { self.flags.dominant_fault() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(avg: f64, flag: DataFlag) -> Summary {
        Summary {
            avg: Some(avg),
            min: Some(avg - 1.0),
            max: Some(avg + 1.0),
            zs_avg: Some(avg * 1.25),
            cou: Some(0.5),
            valid_count: 12,
            flag,
        }
    }

    #[test]
    fn a_minute_averages_its_valid_samples_only() {
        let mut a = Acc::default();
        a.add_sample(10.0, Some(12.5), Some(6.0), DataFlag::N);
        a.add_sample(20.0, Some(25.0), Some(12.0), DataFlag::N);
        a.add_sample(900.0, Some(1000.0), Some(99.0), DataFlag::C);
        let s = a.close_minute(1.0 / 60.0);
        assert_eq!(
            (s.avg, s.min, s.max, s.zs_avg, s.valid_count),
            (Some(15.0), Some(10.0), Some(20.0), Some(18.75), 2)
        );
        // Mean rate 9 kg/h over a minute: 0.15 kg.
        assert!((s.cou.unwrap() - 0.15).abs() < 1e-12);
        assert_eq!(s.flag, DataFlag::N);
    }

    #[test]
    fn a_minute_of_calibration_only_is_c() {
        let mut a = Acc::default();
        a.add_sample(900.0, None, None, DataFlag::C);
        a.add_sample(900.0, None, None, DataFlag::C);
        let s = a.close_minute(1.0 / 60.0);
        assert_eq!((s.avg, s.flag, s.valid_count, s.cou), (None, DataFlag::C, 0, None));
    }

    #[test]
    fn an_hour_needs_45_valid_minutes() {
        for (valid, want) in [(44, DataFlag::M), (45, DataFlag::N), (60, DataFlag::N)] {
            let mut h = Acc::default();
            for i in 0..60 {
                h.add_period(&minute(10.0, if i < valid { DataFlag::N } else { DataFlag::M }));
            }
            let s = h.close_period(45);
            assert_eq!((s.flag, s.valid_count), (want, valid), "{valid} valid minutes");
            assert_eq!(s.avg, Some(10.0));
            assert!((s.cou.unwrap() - 0.5 * f64::from(valid)).abs() < 1e-9, "mass of valid minutes only");
        }
    }

    #[test]
    fn a_day_needs_20_valid_hours() {
        for (valid, want) in [(19, DataFlag::F), (20, DataFlag::N)] {
            let mut d = Acc::default();
            for i in 0..24 {
                d.add_period(&minute(f64::from(i), if i < valid { DataFlag::N } else { DataFlag::F }));
            }
            let s = d.close_period(20);
            assert_eq!((s.flag, s.valid_count), (want, valid));
            assert_eq!(s.min, Some(-1.0), "min of the hours' minima");
            assert_eq!(s.max, Some(f64::from(valid)), "max of the valid hours' maxima");
        }
    }
}
