//! `[store]`: where samples are kept until every uplink has them. (`[[uplink]]` is read by
//! [`crate::uplink::parse_section`].)

use std::time::Duration;

use drivers::units::Span;
use serde::Deserialize;
use toml::Spanned;

use super::ConfigErrors;
use crate::store::{StoreConfig, SyncPolicy};

/// A size in bytes: `1073741824`, `"512MiB"`, `"2GB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Text(t) => parse_size(&t).map(ByteSize).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{t}` is not a size; write a number of bytes or e.g. \"512MiB\", \"2GB\", \"64KiB\""
                ))
            }),
        }
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoreToml {
    max_bytes: Option<Spanned<ByteSize>>,
    segment_bytes: Option<Spanned<ByteSize>>,
    /// "always", "never", or a window like "100ms".
    sync: Option<Spanned<String>>,
}

pub(super) fn store(t: StoreToml, errors: &mut ConfigErrors) -> StoreConfig {
    let mut cfg = StoreConfig::default();
    if let Some(m) = t.max_bytes {
        if m.get_ref().0 < 1 << 20 {
            errors.push(Some(m.span()), "max_bytes below 1MiB keeps too little to ride out an outage; give the store at least \"1MiB\"");
        }
        cfg.max_bytes = m.get_ref().0;
    }
    if let Some(s) = t.segment_bytes {
        if s.get_ref().0 < 64 << 10 {
            errors.push(Some(s.span()), "segment_bytes must be at least \"64KiB\"");
        }
        cfg.segment_bytes = s.get_ref().0;
    }
    if let Some(s) = t.sync {
        cfg.sync = match s.get_ref().as_str() {
            "always" => SyncPolicy::Always,
            "never" => SyncPolicy::Never,
            window => match window.parse::<Span>() {
                Ok(w) if w.get() > Duration::ZERO && w.get() <= Duration::from_secs(10) => {
                    SyncPolicy::Every(w.get())
                }
                _ => {
                    errors.push(
                        Some(s.span()),
                        format!("sync `{window}`: write \"always\", \"never\", or how much a power cut may take, e.g. \"100ms\" (at most \"10s\")"),
                    );
                    cfg.sync
                }
            },
        };
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_as_engineers_write_them() {
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("2GB"), Some(2_000_000_000));
        assert_eq!(parse_size("64 KiB"), Some(64 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1.5GB"), None);
        assert_eq!(parse_size("5 parsecs"), None);
        assert_eq!(parse_size("99999999999GiB"), None);
    }
}
