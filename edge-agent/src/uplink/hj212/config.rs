//! The HJ 212 keys of an `[[uplink]]`: one platform per uplink, so each has its own position in the
//! store, its own edition, and one that is down holds back no other.

use std::sync::Arc;
use std::time::Duration;

use drivers::units::Span;
use protocols::hj212::Edition;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::config::ConfigErrors;
use crate::uplink::registry::{self, KindConfig};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hj212Toml {
    address: Spanned<String>,
    #[serde(default = "edition")]
    edition: Spanned<String>,
    password: String,
    #[serde(default = "st")]
    st: String,
    timeout: Option<Span>,
    retries: Option<u32>,
    #[serde(default = "offset")]
    utc_offset: i32,
    history: Option<Span>,
    stations: Vec<StationToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StationToml {
    stack: String,
    mn: Spanned<String>,
}

fn edition() -> Spanned<String> {
    Spanned::new(0..0, "2017".into())
}
fn st() -> String {
    "31".into()
}
fn offset() -> i32 {
    8
}

/// What a platform uplink needs to start.
#[derive(Clone, PartialEq)]
pub struct Hj212Target {
    pub address: String,
    pub edition: Edition,
    pub password: String,
    pub st: String,
    /// How long to wait for a 9014 before sending again (HJ 212-2017 §6.6: timeout and retry count).
    pub timeout: Duration,
    pub retries: u32,
    pub utc_offset_secs: i32,
    /// How long records stay in the store after they were sent, for the platform's re-send requests.
    pub history: Duration,
    /// Stack name → MN.
    pub stations: Vec<(String, String)>,
}

impl std::fmt::Debug for Hj212Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hj212Target")
            .field("address", &self.address)
            .field("edition", &self.edition)
            .field("password", &"<redacted>")
            .field("stations", &self.stations)
            .finish()
    }
}

/// `type = "hj212"`.
pub fn parse(
    table: Spanned<DeValue<'_>>,
    kind: &Spanned<String>,
    _name: &str,
    errors: &mut ConfigErrors,
) -> Option<Arc<dyn KindConfig>> {
    let t = registry::read::<Hj212Toml>(table, errors)?;
    let before = errors.len();
    let edition = match t.edition.get_ref().as_str() {
        "2017" => Edition::V2017,
        "2025" => Edition::V2025,
        other => {
            let at = if t.edition.span().is_empty() { kind.span() } else { t.edition.span() };
            errors.push(
                Some(at),
                format!("edition `{other}`: write \"2017\" or \"2025\", as the platform speaks"),
            );
            Edition::V2017
        }
    };
    if t.address.get_ref().rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().is_err()) {
        errors.push(Some(t.address.span()), "address: the platform's host:port, e.g. \"218.1.2.3:9000\"");
    }
    for s in &t.stations {
        let mn = s.mn.get_ref();
        if mn.is_empty() || mn.len() > 24 || !mn.chars().all(|c| c.is_ascii_alphanumeric()) {
            errors.push(Some(s.mn.span()), "mn: the data logger's MN, up to 24 letters and digits");
        }
    }
    if t.stations.is_empty() {
        errors.push(Some(kind.span()), "this uplink needs `stations = [{ stack = \"..\", mn = \"..\" }]`");
    }
    if t.password.contains([';', ',', '=', '&']) {
        errors.push(Some(kind.span()), "password: HJ 212 cannot carry ; , = or & in PW");
    }
    (errors.len() == before).then(|| {
        Arc::new(Hj212Target {
            address: t.address.into_inner(),
            edition,
            password: t.password,
            st: t.st,
            timeout: t.timeout.map_or(Duration::from_secs(10), Span::get),
            retries: t.retries.unwrap_or(3),
            utc_offset_secs: t.utc_offset * 3600,
            history: t.history.map_or(Duration::from_secs(7 * 86_400), Span::get),
            stations: t.stations.into_iter().map(|s| (s.stack, s.mn.into_inner())).collect(),
        }) as Arc<dyn KindConfig>
    })
}
