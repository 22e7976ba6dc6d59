//! The site's clock: interval boundaries, days, months and billing cycles in its time zone.
//!
//! Boundaries of a step that divides an hour are aligned to the local clock through the offset in force
//! at each instant, so a DST change (Europe/Berlin 02:00 → 03:00) shortens or repeats an hour without
//! ever merging two intervals. Days, months and cycles start at local midnight as jiff resolves it: on a
//! day whose midnight does not exist, at the first instant of that day.

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;

pub const NS_PER_S: i64 = 1_000_000_000;
/// Nanoseconds in an hour: demand in kW is energy over hours.
pub const NS_PER_H: f64 = 3.6e12;

#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    billing_day: i8,
}

fn instant(t: i64) -> jiff::Timestamp {
    // Sample times come from clocks, so out-of-range ones are clamped rather than refused.
    jiff::Timestamp::from_nanosecond(i128::from(t)).unwrap_or(if t < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

impl Calendar {
    /// `zone` is an IANA name; `billing_day` 1 to 31.
    pub fn new(zone: &str, billing_day: i64) -> Result<Calendar, String> {
        let tz = TimeZone::get(zone).map_err(|e| e.to_string())?;
        Ok(Calendar { tz, billing_day: billing_day.clamp(1, 31) as i8 })
    }

    fn offset(&self, t: i64) -> i64 {
        i64::from(self.tz.to_offset(instant(t)).seconds()) * NS_PER_S
    }

    fn local_date(&self, t: i64) -> Date {
        instant(t).to_zoned_datetime(self.tz.clone()).date()
    }

    fn midnight(&self, d: Date) -> i64 {
        d.to_zoned_datetime(self.tz.clone())
            .and_then(|z| z.start_of_day())
            .map_or(i64::MAX, |z| z.timestamp().as_nanosecond() as i64)
    }

    /// The latest boundary of `step` (which divides an hour) at or before `t`.
    pub fn floor(&self, t: i64, step: i64) -> i64 {
        t - (t + self.offset(t)).rem_euclid(step)
    }

    /// The first boundary of `step` after `t`.
    pub fn next(&self, t: i64, step: i64) -> i64 {
        let b = self.floor(t, step) + step;
        // An offset change inside the step moves the grid: the first boundary on the new grid wins.
        let realigned = self.floor(b, step);
        if realigned > t { realigned } else { b }
    }

    pub fn is_boundary(&self, t: i64, step: i64) -> bool {
        self.floor(t, step) == t
    }

    pub fn day_start(&self, t: i64) -> i64 {
        self.midnight(self.local_date(t))
    }

    pub fn month_start(&self, t: i64) -> i64 {
        self.midnight(self.local_date(t).first_of_month())
    }

    /// The day a billing cycle starts in a month: the configured day, or the month's last.
    fn cycle_day(&self, month: Date) -> i8 {
        self.billing_day.min(month.days_in_month())
    }

    /// The start of the billing cycle holding `t`.
    pub fn cycle_start(&self, t: i64) -> i64 {
        let d = self.local_date(t);
        let this = date(d.year(), d.month(), self.cycle_day(d));
        if d >= this {
            return self.midnight(this);
        }
        let prev = d.first_of_month().yesterday().unwrap_or(d);
        self.midnight(date(prev.year(), prev.month(), self.cycle_day(prev)))
    }

    /// Month (1 to 12) and minute of the day on the site's clock.
    pub fn month_minute(&self, t: i64) -> (i8, u16) {
        let z = instant(t).to_zoned_datetime(self.tz.clone());
        (z.month(), z.hour() as u16 * 60 + z.minute() as u16)
    }

    /// `2025-03-30T03:00:00+02:00`, for people and the API.
    pub fn label(&self, t: i64) -> String {
        instant(t).to_zoned_datetime(self.tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    pub fn zone(&self) -> &str {
        self.tz.iana_name().unwrap_or("UTC")
    }
}
