//! `[store]` and `[[uplink]]`: where samples are kept and where they are sent.

use std::path::PathBuf;
use std::time::Duration;

use drivers::units::Span;
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigErrors, read_secret_file};
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

/// Which write API the historian speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistorianApi {
    /// InfluxDB 2.x/3.x and compatible servers: `/api/v2/write`.
    V2 { org: String, bucket: String, token: String },
    /// InfluxDB 1.x: `/write?db=`.
    V1 {
        database: String,
        retention_policy: Option<String>,
        username: Option<String>,
        password: Option<String>,
    },
}

/// One `[[uplink]]`: a historian that gets every sample, with its own position in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkConfig {
    pub name: String,
    pub url: String,
    pub api: HistorianApi,
    pub gzip: bool,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    /// Samples per write.
    pub batch_size: usize,
    /// A partly filled batch is sent when its oldest sample waited this long.
    pub batch_age: Duration,
    /// Samples per second sent from the backlog after an outage, beside live data.
    pub backlog_rate: u64,
    /// Writes on their way at once while full batches wait.
    pub in_flight: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UplinkToml {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    url: Spanned<String>,
    org: Option<String>,
    bucket: Option<String>,
    token: Option<String>,
    token_file: Option<Spanned<String>>,
    database: Option<String>,
    retention_policy: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<Spanned<String>>,
    #[serde(default = "yes")]
    gzip: bool,
    timeout: Option<Span>,
    ca_file: Option<PathBuf>,
    batch_size: Option<Spanned<usize>>,
    batch_age: Option<Span>,
    backlog_rate: Option<Spanned<u64>>,
    in_flight: Option<Spanned<usize>>,
}

fn yes() -> bool {
    true
}

/// Every `[[uplink]]`, each name once: the name keys the uplink's position in the store.
pub(super) fn uplinks(list: Vec<UplinkToml>, errors: &mut ConfigErrors) -> Vec<UplinkConfig> {
    let mut seen: Vec<&Spanned<String>> = Vec::new();
    for t in &list {
        if let Some(first) = seen.iter().find(|s| s.get_ref() == t.name.get_ref()) {
            let (line, _) = errors.line_col(first.span().start);
            errors.push(
                Some(t.name.span()),
                format!(
                    "uplink `{}` is declared twice (first at line {line}); give each uplink its own name",
                    t.name.get_ref()
                ),
            );
        }
        seen.push(&t.name);
    }
    list.into_iter().filter_map(|t| uplink(t, errors)).collect()
}

fn uplink(t: UplinkToml, errors: &mut ConfigErrors) -> Option<UplinkConfig> {
    let before = errors.len();
    let name = t.name.get_ref().clone();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        errors.push(
            Some(t.name.span()),
            "uplink name: use letters, digits, `-` and `_` (it names the uplink's file in the store)",
        );
    }
    let url = t.url.get_ref().trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        errors.push(
            Some(t.url.span()),
            format!("url `{url}`: write the historian's base URL, e.g. \"https://influx.plant.local:8086\""),
        );
    }
    let api = match t.kind.get_ref().as_str() {
        "influxdb_v2" => {
            let token = match (&t.token, &t.token_file) {
                (Some(tok), None) => Some(tok.clone()),
                (None, Some(f)) => read_secret_file("token_file", f, errors),
                _ => {
                    errors.push(Some(t.kind.span()), "an influxdb_v2 uplink needs `token` (e.g. \"${INFLUX_TOKEN}\") or `token_file`, one of them");
                    None
                }
            };
            match (&t.org, &t.bucket) {
                (Some(org), Some(bucket)) => {
                    token.map(|token| HistorianApi::V2 { org: org.clone(), bucket: bucket.clone(), token })
                }
                _ => {
                    errors.push(Some(t.kind.span()), "an influxdb_v2 uplink needs `org` and `bucket`");
                    None
                }
            }
        }
        "influxdb_v1" => {
            let password = match (&t.password, &t.password_file) {
                (Some(p), None) => Some(p.clone()),
                (None, Some(f)) => read_secret_file("password_file", f, errors),
                (None, None) => None,
                (Some(_), Some(f)) => {
                    errors.push(Some(f.span()), "give `password` or `password_file`, not both");
                    None
                }
            };
            match &t.database {
                Some(db) => Some(HistorianApi::V1 {
                    database: db.clone(),
                    retention_policy: t.retention_policy.clone(),
                    username: t.username.clone(),
                    password,
                }),
                None => {
                    errors.push(Some(t.kind.span()), "an influxdb_v1 uplink needs `database`");
                    None
                }
            }
        }
        other => {
            errors.push(
                Some(t.kind.span()),
                format!("uplink type `{other}`: expected \"influxdb_v2\" or \"influxdb_v1\""),
            );
            None
        }
    };
    let batch_size = t.batch_size.map(|b| {
        if !(1..=1_000_000).contains(b.get_ref()) {
            errors.push(Some(b.span()), "batch_size: between 1 and 1000000 samples; InfluxDB suggests 5000");
        }
        *b.get_ref()
    });
    let backlog_rate = t.backlog_rate.map(|r| {
        if *r.get_ref() == 0 {
            errors.push(
                Some(r.span()),
                "backlog_rate must be above 0, or the backlog of an outage is never sent",
            );
        }
        *r.get_ref()
    });
    let in_flight = t.in_flight.map(|n| {
        if !(1..=8).contains(n.get_ref()) {
            errors.push(Some(n.span()), "in_flight: between 1 and 8 writes at once");
        }
        *n.get_ref()
    });
    if errors.len() > before {
        return None;
    }
    Some(UplinkConfig {
        name,
        url,
        api: api?,
        gzip: t.gzip,
        timeout: t.timeout.map_or(Duration::from_secs(10), Span::get),
        ca_file: t.ca_file,
        batch_size: batch_size.unwrap_or(5_000),
        batch_age: t.batch_age.map_or(Duration::from_secs(1), Span::get),
        backlog_rate: backlog_rate.unwrap_or(50_000),
        in_flight: in_flight.unwrap_or(2),
    })
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
