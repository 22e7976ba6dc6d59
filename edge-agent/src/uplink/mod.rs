//! Uplinks: each `[[uplink]]` sends every sample of the durable store, in order, to one peer (a
//! historian, a broker, a platform), with its own position in the store.
//!
//! - [`sink`]: the trait a kind implements (encode samples into its items, deliver a run of them).
//! - [`registry`]: the kinds by `type`, and [`UplinkConfig`], which config, summary and runtime use.
//! - [`task`] starts an uplink; what every kind then shares: the common keys ([`pacing`]), the sending
//!   loop with its cursor, batching and in-flight window (`sender`), the backlog beside live data
//!   (`readers`), retries, halving and quarantine (`delivery`, `drivers::backoff`, [`quarantine`]), [`stats`].
//! - one folder per kind, listed in [`registry::KINDS`]: [`influxdb`], [`sparkplug`] (Sparkplug B edge
//!   node), [`mqtt_json`] (plain JSON messages).

mod delivery;
pub mod hj212;
pub mod influxdb;
pub mod mqtt_json;
pub mod pacing;
pub mod quarantine;
mod readers;
pub mod registry;
mod sender;
pub mod sink;
pub mod sparkplug;
pub mod stats;
pub mod task;
#[cfg(test)]
mod tests;

pub use pacing::Pacing;
pub use registry::{UplinkConfig, parse_section};
pub use sink::{Delivery, Encoded, Replay, Sink, Unencodable};
pub use stats::UplinkStats;
pub use task::UplinkContext;
