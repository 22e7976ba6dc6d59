//! Config value types shared by every component: durations written the way engineers write them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written as `"500ms"`, `"1s"`, `"15m"`, `"2h"`, `"1d"` or a combination such as `"1m30s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub Duration);

impl Span {
    pub const fn secs(s: u64) -> Self {
        Span(Duration::from_secs(s))
    }
    pub const fn millis(ms: u64) -> Self {
        Span(Duration::from_millis(ms))
    }
    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const HINT: &str = "write a number and a unit, like \"500ms\", \"10s\", \"15m\", \"1h\" or \"1m30s\"";
        let text = s.trim();
        if text.is_empty() {
            return Err(format!("empty duration; {HINT}"));
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
            let (number, tail) = rest.split_at(digits);
            let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
            let (unit, next) = tail.split_at(unit_len);
            let n: f64 = number.parse().map_err(|_| format!("\"{text}\" is not a duration; {HINT}"))?;
            let scale = match unit.trim() {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                "d" => 86_400.0,
                "" => return Err(format!("\"{text}\" has no unit; {HINT}")),
                other => return Err(format!("unknown unit \"{other}\" in \"{text}\"; {HINT}")),
            };
            let part = Duration::try_from_secs_f64(n * scale)
                .map_err(|_| format!("\"{text}\" is out of range; {HINT}"))?;
            total = total.checked_add(part).ok_or_else(|| format!("\"{text}\" is out of range"))?;
            rest = next;
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 && !self.0.is_zero() {
            write!(f, "{}us", self.0.as_micros())
        } else if ms % 3_600_000 == 0 && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engineers_durations() {
        for (text, ms) in [
            ("500ms", 500),
            ("1s", 1000),
            ("15m", 900_000),
            ("2h", 7_200_000),
            ("1m30s", 90_000),
            ("0.5s", 500),
            ("1d", 86_400_000),
        ] {
            assert_eq!(text.parse::<Span>().unwrap().0, Duration::from_millis(ms), "{text}");
        }
        assert_eq!("250us".parse::<Span>().unwrap().0, Duration::from_micros(250));
    }

    #[test]
    fn mistakes_say_what_to_write() {
        assert!("10".parse::<Span>().unwrap_err().contains("has no unit"));
        assert!("10 sec".parse::<Span>().unwrap_err().contains("unknown unit \"sec\""));
        assert!("".parse::<Span>().unwrap_err().contains("empty"));
        assert!("fast".parse::<Span>().unwrap_err().contains("not a duration"));
    }

    #[test]
    fn displays_in_the_largest_whole_unit() {
        assert_eq!(Span::millis(1500).to_string(), "1500ms");
        assert_eq!(Span::secs(900).to_string(), "15m");
        assert_eq!(Span::secs(7200).to_string(), "2h");
        assert_eq!(Span::secs(5).to_string(), "5s");
    }
}
