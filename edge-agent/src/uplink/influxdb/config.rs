//! The InfluxDB keys of an `[[uplink]]` (everything but the keys every uplink has).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drivers::units::Span;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use super::client::{InfluxApi, InfluxTarget};
use crate::config::{ConfigErrors, read_secret_file};
use crate::uplink::registry::{self, KindConfig};

/// One struct for both APIs, as the README lists the keys: a v1 key on a v2 uplink is ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InfluxToml {
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
}

fn yes() -> bool {
    true
}

/// `type = "influxdb_v2"` or `"influxdb_v1"`: the keys of both APIs, then those of the one named.
pub fn parse(
    table: Spanned<DeValue<'_>>,
    kind: &Spanned<String>,
    _name: &str,
    errors: &mut ConfigErrors,
) -> Option<Arc<dyn KindConfig>> {
    let t = registry::read::<InfluxToml>(table, errors)?;
    let api = match kind.get_ref().as_str() {
        "influxdb_v1" => v1(&t, kind, errors),
        _ => v2(&t, kind, errors),
    };
    let url = t.url.get_ref().trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        errors.push(
            Some(t.url.span()),
            format!("url `{url}`: write the historian's base URL, e.g. \"https://influx.plant.local:8086\""),
        );
        return None;
    }
    Some(Arc::new(InfluxTarget {
        url,
        api: api?,
        gzip: t.gzip,
        timeout: t.timeout.map_or(Duration::from_secs(10), Span::get),
        ca_file: t.ca_file,
    }))
}

/// InfluxDB 2.x/3.x and compatible servers, `/api/v2/write`.
fn v2(t: &InfluxToml, kind: &Spanned<String>, errors: &mut ConfigErrors) -> Option<InfluxApi> {
    let token = match (&t.token, &t.token_file) {
        (Some(tok), None) => Some(tok.clone()),
        (None, Some(f)) => read_secret_file("token_file", f, errors),
        _ => {
            errors.push(
                Some(kind.span()),
                "an influxdb_v2 uplink needs `token` (e.g. \"${INFLUX_TOKEN}\") or `token_file`, one of them",
            );
            None
        }
    };
    match (&t.org, &t.bucket) {
        (Some(org), Some(bucket)) => {
            token.map(|token| InfluxApi::V2 { org: org.clone(), bucket: bucket.clone(), token })
        }
        _ => {
            errors.push(Some(kind.span()), "an influxdb_v2 uplink needs `org` and `bucket`");
            None
        }
    }
}

/// InfluxDB 1.x, `/write?db=`.
fn v1(t: &InfluxToml, kind: &Spanned<String>, errors: &mut ConfigErrors) -> Option<InfluxApi> {
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
        Some(db) => Some(InfluxApi::V1 {
            db: db.clone(),
            rp: t.retention_policy.clone(),
            username: t.username.clone(),
            password,
        }),
        None => {
            errors.push(Some(kind.span()), "an influxdb_v1 uplink needs `database`");
            None
        }
    }
}
