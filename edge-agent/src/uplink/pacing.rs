//! The keys of `[[uplink]]` that every kind shares: its name and type, and how the generic sender batches,
//! paces and retries.

use std::time::Duration;

use drivers::units::Span;
use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigErrors;

/// How the sender batches and paces one uplink's writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacing {
    /// Samples per write.
    pub batch_size: usize,
    /// A partly filled batch is sent when its oldest sample waited this long.
    pub batch_age: Duration,
    /// Samples per second sent from the backlog after an outage, beside live data.
    pub backlog_rate: u64,
    /// Writes on their way at once while full batches wait.
    pub in_flight: usize,
    /// The longest wait between two tries of a write, computed or asked for by the peer (Retry-After):
    /// a peer that comes back is noticed within it.
    pub max_retry_wait: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            batch_size: 5_000,
            batch_age: Duration::from_secs(1),
            backlog_rate: 50_000,
            in_flight: 2,
            max_retry_wait: Duration::from_secs(30),
        }
    }
}

/// The shared keys, as written. Every other key of the table belongs to the kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CommonToml {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    batch_size: Option<Spanned<usize>>,
    batch_age: Option<Span>,
    backlog_rate: Option<Spanned<u64>>,
    in_flight: Option<Spanned<usize>>,
    max_retry_wait: Option<Spanned<Span>>,
}

/// The keys every uplink has, read by the generic side; a registry test keeps them in step with the struct.
pub const COMMON_KEYS: &[&str] =
    &["name", "type", "batch_size", "batch_age", "backlog_rate", "in_flight", "max_retry_wait"];

/// A hard upper bound: a misconfigured proxy answering "Retry-After: 86400" must not silence a gateway for
/// a day, and neither may a typo in the config.
const LONGEST_RETRY_WAIT: Duration = Duration::from_secs(10 * 60);

impl CommonToml {
    /// Checks the name and the pacing; `None` once any of it is wrong (the errors say where).
    pub(super) fn pacing(&self, errors: &mut ConfigErrors) -> Option<Pacing> {
        let before = errors.len();
        let name = self.name.get_ref();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            errors.push(
                Some(self.name.span()),
                "uplink name: use letters, digits, `-` and `_` (it names the uplink's file in the store)",
            );
        }
        let d = Pacing::default();
        let longest = Span(LONGEST_RETRY_WAIT);
        let pacing = Pacing {
            batch_size: within(&self.batch_size, 1..=1_000_000, d.batch_size, errors, || {
                "batch_size: between 1 and 1000000 samples per write; the default, 5000, suits most peers".into()
            }),
            batch_age: self.batch_age.map_or(d.batch_age, Span::get),
            backlog_rate: within(&self.backlog_rate, 1..=u64::MAX, d.backlog_rate, errors, || {
                "backlog_rate must be above 0, or the backlog of an outage is never sent".into()
            }),
            in_flight: within(&self.in_flight, 1..=8, d.in_flight, errors, || {
                "in_flight: between 1 and 8 writes at once".into()
            }),
            max_retry_wait: within(
                &self.max_retry_wait,
                Span::secs(1)..=longest,
                Span(d.max_retry_wait),
                errors,
                || format!("max_retry_wait: between \"1s\" and \"{longest}\"; the default \"30s\" notices a peer that is back within half a minute"),
            )
            .get(),
        };
        (errors.len() == before).then_some(pacing)
    }
}

/// The value, or `default` when the key is absent; outside `range` it is an error at the value.
fn within<T: Copy + PartialOrd>(
    value: &Option<Spanned<T>>,
    range: std::ops::RangeInclusive<T>,
    default: T,
    errors: &mut ConfigErrors,
    message: impl FnOnce() -> String,
) -> T {
    let Some(v) = value else { return default };
    if !range.contains(v.get_ref()) {
        errors.push(Some(v.span()), message());
    }
    *v.get_ref()
}
