//! `Retry-After` as a historian or a proxy in front of it writes it. Any header value may arrive, so
//! nothing here may overflow or panic: all arithmetic is checked, and out-of-range is "no hint".

use std::time::{Duration, SystemTime};

/// RFC 9110 §10.2.3: delay-seconds or an HTTP-date; a date in the past means now.
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is still "a very long time"; max_retry_wait caps it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The three HTTP-date forms a recipient must accept (RFC 9110 §5.6.7), all GMT:
/// `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`.
/// The weekday is not checked: it adds nothing the date does not say.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let cleaned = s.replace(',', " ");
    let t: Vec<&str> = cleaned.split_whitespace().collect();
    let (day, month, year, time) = match t.as_slice() {
        [_, d, m, y, hms, "GMT"] => (*d, *m, number(y)?, *hms),
        [_, dmy, hms, "GMT"] => {
            let mut parts = dmy.split('-');
            let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || y.len() != 2 {
                return None;
            }
            // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
            let yy = number(y)?;
            (d, m, if yy < 70 { 2000 + yy } else { 1900 + yy }, *hms)
        }
        [_, m, d, hms, y] => (*d, *m, number(y)?, *hms),
        _ => return None,
    };
    let day = number(day)?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == month)? as i64
        + 1;
    let mut hms = time.split(':').map(number);
    let (h, mi, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some()
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&mi)
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    let secs =
        days_since_epoch(year, month, day)?.checked_mul(86_400)?.checked_add(h * 3600 + mi * 60 + sec)?;
    let offset = Duration::from_secs(secs.unsigned_abs());
    match secs >= 0 {
        true => SystemTime::UNIX_EPOCH.checked_add(offset),
        false => SystemTime::UNIX_EPOCH.checked_sub(offset),
    }
}

/// Digits only (no sign, no space), as every numeric part of an HTTP-date is written.
fn number(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days from 1970-01-01 to a proleptic Gregorian date (`month` 1..=12, `day` 1..=31), counting in
/// 400-year eras that start on March 1st so the leap day falls at the end of each year. `None` past
/// what an i64 holds.
fn days_since_epoch(year: i64, month: i64, day: i64) -> Option<i64> {
    let y = if month <= 2 { year.checked_sub(1)? } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era.checked_mul(146_097)?.checked_add(day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    // 1994-11-06T08:49:37Z, the RFC's example.
    const RFC_EXAMPLE: u64 = 784_111_777;

    #[test]
    fn retry_after_forms() {
        let now = at(RFC_EXAMPLE - 90);
        let table: &[(&str, Option<u64>)] = &[
            ("7", Some(7)),
            (" 120 ", Some(120)),
            ("0", Some(0)),
            ("99999999999999999999999", Some(u64::MAX)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(90)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(90)),
            ("Sun Nov  6 08:49:37 1994", Some(90)),
            // Already past: come back now.
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("Sun, 06 Nov 1994 08:49:37 CET", None),
            ("Sun, 06 Foo 1994 08:49:37 GMT", None),
            ("Sun, 32 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 24:00:00 GMT", None),
            ("Sun, 06 Nov 1994 08:49 GMT", None),
            ("Sun, +6 Nov 1994 08:49:37 GMT", None),
            // Years no clock reaches are no hint, not a panic; long past is now.
            ("Sun, 06 Nov 9223372036854775807 08:49:37 GMT", None),
            ("Sun, 01 Jan 0 00:00:00 GMT", Some(0)),
            ("Sun, 01 Jan 1600 00:00:00 GMT", Some(0)),
        ];
        for (value, want) in table {
            let got = parse_retry_after(value, now);
            assert_eq!(got, want.map(Duration::from_secs), "Retry-After: {value:?}");
        }
    }

    #[test]
    fn http_dates_across_leap_years_and_centuries() {
        let table: &[(&str, u64)] = &[
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400),
            ("Wed, 01 Mar 2000 00:00:00 GMT", 951_868_800),
            ("Sun, 31 Dec 2023 23:59:59 GMT", 1_704_067_199),
            ("Thu, 01 Jan 2105 00:00:00 GMT", 4_260_211_200),
            ("Tuesday, 14-Nov-23 22:13:20 GMT", 1_700_000_000),
            ("Fri, 31 Dec 9999 23:59:59 GMT", 253_402_300_799),
        ];
        for (value, want) in table {
            assert_eq!(parse_http_date(value), Some(at(*want)), "{value}");
        }
    }

    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(protocols::testkit::cases()))]
        #[test]
        fn any_header_value_is_a_hint_or_none_never_a_panic(value in any::<String>(), now in any::<u32>()) {
            let _ = parse_retry_after(&value, at(u64::from(now)));
        }

        #[test]
        fn dates_with_extreme_fields_never_panic(
            year in any::<i64>(),
            month in 0..12usize,
            day in any::<u64>(),
            (h, m, s) in (any::<u32>(), any::<u32>(), any::<u32>()),
        ) {
            let mon = MONTHS[month];
            for text in [
                format!("Sun, {day:02} {mon} {year} {h:02}:{m:02}:{s:02} GMT"),
                format!("Sun, {:02} {mon} {year} 23:59:59 GMT", day % 32),
                format!("Sun {mon} {:>2} 00:00:00 {year}", day % 32),
                format!("Sunday, {:02}-{mon}-{:02} {h:02}:{m:02}:{s:02} GMT", day % 32, year.rem_euclid(100)),
            ] {
                let _ = parse_retry_after(&text, SystemTime::UNIX_EPOCH);
            }
        }

        /// Within the four-digit years an HTTP-date is written in: every form parses, the forms agree,
        /// and the next day is exactly 86 400 s later.
        #[test]
        fn well_formed_dates_count_days_and_seconds(
            year in 1970i64..=9999,
            month in 0..12usize,
            day in 1u32..=27,
            (h, m, s) in (0u32..24, 0u32..60, 0u32..60),
        ) {
            let mon = MONTHS[month];
            let imf = |d: u32| parse_http_date(&format!("Sun, {d:02} {mon} {year} {h:02}:{m:02}:{s:02} GMT"));
            let asctime = parse_http_date(&format!("Sun {mon} {day:>2} {h:02}:{m:02}:{s:02} {year}"));
            let t = imf(day).expect("a well-formed date parses");
            prop_assert_eq!(Some(t), asctime);
            let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
            prop_assert_eq!(secs % 86_400, u64::from(h * 3600 + m * 60 + s));
            prop_assert_eq!(imf(day + 1), Some(t + Duration::from_secs(86_400)));
        }
    }
}
