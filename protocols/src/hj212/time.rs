//! Civil times as HJ 212 writes them: `QN` is `YYYYMMDDhhmmsszzz`, `DataTime` and the commands'
//! times are `YYYYMMDDhhmmss`, both in the platform's local time (Beijing time, UTC+8, on most).

use core::fmt;

/// A civil date and time to the millisecond, no zone: the caller says which offset it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub milli: u16,
}

/// Days from 1970-01-01 to a civil date (H. Hinnant's `days_from_civil`, proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl DateTime {
    /// The civil time `offset_secs` east of UTC at `unix_ms`; `None` outside years 0..=9999.
    pub fn from_unix_millis(unix_ms: i64, offset_secs: i32) -> Option<DateTime> {
        let local = unix_ms.checked_add(i64::from(offset_secs) * 1000)?;
        let days = local.div_euclid(86_400_000);
        let ms_of_day = local.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return None;
        }
        Some(DateTime {
            year: y as u16,
            month: m as u8,
            day: d as u8,
            hour: (ms_of_day / 3_600_000) as u8,
            minute: (ms_of_day / 60_000 % 60) as u8,
            second: (ms_of_day / 1000 % 60) as u8,
            milli: (ms_of_day % 1000) as u16,
        })
    }

    /// Milliseconds since the Unix epoch of this civil time read at `offset_secs` east of UTC.
    pub fn to_unix_millis(&self, offset_secs: i32) -> i64 {
        let days = days_from_civil(i64::from(self.year), i64::from(self.month), i64::from(self.day));
        let ms = days * 86_400_000
            + i64::from(self.hour) * 3_600_000
            + i64::from(self.minute) * 60_000
            + i64::from(self.second) * 1000
            + i64::from(self.milli);
        ms - i64::from(offset_secs) * 1000
    }

    /// Reads `YYYYMMDDhhmmss` (14 digits) or `YYYYMMDDhhmmsszzz` (17), checking each part's range.
    pub fn parse(text: &str) -> Result<DateTime, &'static str> {
        let b = text.as_bytes();
        if (b.len() != 14 && b.len() != 17) || !b.iter().all(u8::is_ascii_digit) {
            return Err("a time is 14 digits YYYYMMDDhhmmss (17 with milliseconds)");
        }
        let num = |r: core::ops::Range<usize>| b[r].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        let t = DateTime {
            year: num(0..4),
            month: num(4..6) as u8,
            day: num(6..8) as u8,
            hour: num(8..10) as u8,
            minute: num(10..12) as u8,
            second: num(12..14) as u8,
            milli: if b.len() == 17 { num(14..17) } else { 0 },
        };
        if t.month == 0 || t.month > 12 || t.day == 0 || t.day > days_in_month(t.year, t.month) {
            return Err("no such date");
        }
        if t.hour > 23 || t.minute > 59 || t.second > 59 {
            return Err("no such time of day");
        }
        Ok(t)
    }

    /// `YYYYMMDDhhmmss`, as in `DataTime`.
    pub fn data_time(&self) -> impl fmt::Display + '_ {
        Compact(self, false)
    }

    /// `YYYYMMDDhhmmsszzz`, as in `QN`.
    pub fn qn(&self) -> impl fmt::Display + '_ {
        Compact(self, true)
    }
}

struct Compact<'a>(&'a DateTime, bool);

impl fmt::Display for Compact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(f, "{:04}{:02}{:02}{:02}{:02}{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second)?;
        if self.1 {
            write!(f, "{:03}", t.milli)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::DateTime;
    use alloc::string::ToString;

    #[test]
    fn beijing_time_of_a_unix_instant() {
        // 2016-08-01T00:58:57.223Z is 08:58:57.223 in Beijing: the QN of the standard's example.
        let ms = 1_470_013_137_223;
        let t = DateTime::from_unix_millis(ms, 8 * 3600).unwrap();
        assert_eq!(t.qn().to_string(), "20160801085857223");
        assert_eq!(t.data_time().to_string(), "20160801085857");
        assert_eq!(t.to_unix_millis(8 * 3600), ms);
        assert_eq!(DateTime::parse("20160801085857223"), Ok(t));
    }

    #[test]
    fn refuses_impossible_times() {
        assert!(DateTime::parse("20230229000000").is_err());
        assert!(DateTime::parse("20240229000000").is_ok());
        assert!(DateTime::parse("20241301000000").is_err());
        assert!(DateTime::parse("20240101240000").is_err());
        assert!(DateTime::parse("2024010100000").is_err());
        assert!(DateTime::parse("2024010100000０").is_err());
    }
}
