//! Shift calendars: named shifts by local time of day at a fixed UTC offset (a plant's own clock; no
//! daylight saving rules), a shift may run past midnight. Used by equipment OEE and SPC capability.
//!
//! ```toml
//! shifts = { utc_offset = "+08:00", list = [
//!   { name = "早班", start = "08:00", end = "16:00" },
//!   { name = "中班", start = "16:00", end = "00:00" },
//!   { name = "夜班", start = "00:00", end = "08:00" },
//! ] }
//! ```

use std::ops::Range;

use protocols::Timestamp;
use serde::Deserialize;
use serde_spanned::Spanned;

const DAY: i64 = 86_400;
const NS: i64 = 1_000_000_000;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShiftsConfig {
    #[serde(default = "utc")]
    pub utc_offset: Spanned<String>,
    pub list: Vec<ShiftConfig>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShiftConfig {
    pub name: String,
    pub start: Spanned<String>,
    pub end: Spanned<String>,
}

fn utc() -> Spanned<String> {
    Spanned::new(0..0, "+00:00".into())
}

/// One occurrence of a shift: which, and when it starts and ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftRun {
    pub index: usize,
    pub name: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A checked calendar: seconds of the local day for each shift, and the offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    offset: i64,
    shifts: Vec<(String, i64, i64)>,
}

/// `"06:30"` as seconds of the day.
fn clock(text: &str) -> Option<i64> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 3600 + m * 60)
}

impl ShiftsConfig {
    /// The calendar, or the first mistake at its place.
    pub fn calendar(&self, who: &str) -> Result<Calendar, (Range<usize>, String)> {
        let off = self.utc_offset.get_ref().trim();
        let offset = off
            .strip_prefix(['+', '-'])
            .and_then(clock)
            .map(|s| if off.starts_with('-') { -s } else { s })
            .ok_or_else(|| {
                (self.utc_offset.span(), format!("{who}: utc_offset {off:?} is not like \"+08:00\""))
            })?;
        if self.list.is_empty() {
            return Err((
                self.utc_offset.span(),
                format!("{who}: `shifts.list` is empty; name at least one shift"),
            ));
        }
        let mut shifts = Vec::new();
        for s in &self.list {
            let time = |t: &Spanned<String>| {
                clock(t.get_ref()).ok_or_else(|| {
                    (
                        t.span(),
                        format!(
                            "{who}: shift {}: {:?} is not a time of day like \"06:00\"",
                            s.name,
                            t.get_ref()
                        ),
                    )
                })
            };
            let (start, end) = (time(&s.start)?, time(&s.end)?);
            if start == end {
                return Err((
                    s.end.span(),
                    format!("{who}: shift {} ends when it starts; a 24 h shift is 06:00 to 05:59", s.name),
                ));
            }
            shifts.push((s.name.clone(), start, end));
        }
        let cal = Calendar { offset, shifts };
        // Minute by minute, no two shifts at once.
        for minute in 0..DAY / 60 {
            let covering: Vec<&str> =
                cal.shifts.iter().filter(|s| covers(s.1, s.2, minute * 60)).map(|s| s.0.as_str()).collect();
            if covering.len() > 1 {
                let span = self.list.last().map_or(0..0, |s| s.start.span());
                return Err((
                    span,
                    format!(
                        "{who}: shifts {} overlap at {:02}:{:02}",
                        covering.join(" and "),
                        minute / 60,
                        minute % 60
                    ),
                ));
            }
        }
        Ok(cal)
    }
}

fn covers(start: i64, end: i64, t: i64) -> bool {
    if start < end { (start..end).contains(&t) } else { t >= start || t < end }
}

impl Calendar {
    /// The shift running at `ts`, if any.
    pub fn at(&self, ts: Timestamp) -> Option<ShiftRun> {
        let local = ts.0.div_euclid(NS) + self.offset;
        let day = local.div_euclid(DAY) * DAY;
        let t = local - day;
        let (index, (name, start, end)) =
            self.shifts.iter().enumerate().find(|(_, s)| covers(s.1, s.2, t))?;
        let begun = if t >= *start { day + start } else { day - DAY + start };
        let length = (end - start).rem_euclid(DAY);
        let utc = |s: i64| Timestamp((s - self.offset).saturating_mul(NS));
        Some(ShiftRun { index, name: name.clone(), start: utc(begun), end: utc(begun + length) })
    }

    /// The first shift boundary (a start or an end) after `ts`, within a day.
    pub fn next_boundary(&self, ts: Timestamp) -> Option<Timestamp> {
        let local = ts.0.div_euclid(NS) + self.offset;
        let t = local.rem_euclid(DAY);
        let ahead = self
            .shifts
            .iter()
            .flat_map(|s| [s.1, s.2])
            .map(|b| {
                let d = (b - t).rem_euclid(DAY);
                if d == 0 { DAY } else { d }
            })
            .min()?;
        Some(Timestamp((local + ahead - self.offset).saturating_mul(NS)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_shifts() -> Calendar {
        let s = |name: &str, a: &str, b: &str| ShiftConfig {
            name: name.into(),
            start: Spanned::new(0..0, a.into()),
            end: Spanned::new(0..0, b.into()),
        };
        ShiftsConfig {
            utc_offset: Spanned::new(0..0, "+08:00".into()),
            list: vec![s("早班", "08:00", "16:00"), s("中班", "16:00", "00:00"), s("夜班", "00:00", "08:00")],
        }
        .calendar("t")
        .unwrap()
    }

    /// 2023-11-15 00:00 in Beijing is 2023-11-14 16:00 UTC.
    fn beijing(h: i64, m: i64) -> Timestamp {
        Timestamp::from_secs(1_699_977_600 + h * 3600 + m * 60)
    }

    #[test]
    fn each_instant_falls_in_its_shift_of_the_local_day() {
        let cal = three_shifts();
        let cases = [
            ((7, 59), "夜班", (0, 0), (8, 0)),
            ((8, 0), "早班", (8, 0), (16, 0)),
            ((23, 30), "中班", (16, 0), (24, 0)),
        ];
        for ((h, m), name, start, end) in cases {
            let run = cal.at(beijing(h, m)).unwrap();
            assert_eq!(
                (run.name.as_str(), run.start, run.end),
                (name, beijing(start.0, start.1), beijing(end.0, end.1)),
                "{h}:{m}"
            );
        }
        assert_eq!(cal.next_boundary(beijing(7, 0)), Some(beijing(8, 0)));
        assert_eq!(cal.next_boundary(beijing(16, 0)), Some(beijing(24, 0)));
    }

    #[test]
    fn a_night_shift_over_midnight_and_gaps_between_shifts() {
        let cfg = ShiftsConfig {
            utc_offset: Spanned::new(0..0, "+00:00".into()),
            list: vec![ShiftConfig {
                name: "night".into(),
                start: Spanned::new(0..0, "22:00".into()),
                end: Spanned::new(0..0, "06:00".into()),
            }],
        };
        let cal = cfg.calendar("t").unwrap();
        let midnight = Timestamp::from_secs(1_700_006_400 /* a midnight, UTC */);
        let run = cal.at(Timestamp(midnight.0 + 3600 * 1_000_000_000)).unwrap();
        assert_eq!(run.start, Timestamp(midnight.0 - 2 * 3600 * 1_000_000_000));
        assert_eq!(cal.at(Timestamp(midnight.0 + 12 * 3600 * 1_000_000_000)), None, "no shift at noon");
        let overlap = ShiftsConfig {
            list: vec![
                cfg.list[0].clone(),
                ShiftConfig {
                    name: "early".into(),
                    start: Spanned::new(0..0, "05:00".into()),
                    end: Spanned::new(0..0, "13:00".into()),
                },
            ],
            ..cfg
        };
        assert_eq!(
            overlap.calendar("equipment press").unwrap_err().1,
            "equipment press: shifts night and early overlap at 05:00"
        );
    }
}
