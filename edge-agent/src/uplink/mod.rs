//! Uplinks: each `[[uplink]]` sends every sample of the durable store, in order, to one peer (a
//! historian, a broker, a platform), with its own position in the store.
//!
//! - [`sink`]: the trait a kind implements (encode samples into its items, deliver a run of them).
//! - [`registry`]: the kinds by `type`, and [`UplinkConfig`], which config, summary and runtime use.
//! - [`sender`], [`delivery`], [`backoff`], [`quarantine`]: what every kind shares: the cursor, batching,
//!   the in-flight window, retries, backlog pacing, halving and quarantine.
//! - [`influxdb`]: InfluxDB v2 and v1 (and their compatibles).

pub mod backoff;
pub mod delivery;
pub mod influxdb;
pub mod pacing;
pub mod quarantine;
pub mod readers;
pub mod registry;
pub mod sender;
pub mod sink;
pub mod stats;
pub mod task;
#[cfg(test)]
mod tests;

pub use pacing::Pacing;
pub use registry::{UplinkConfig, parse_section};
pub use sink::{Delivery, Encoded, Replay, Sink, Unencodable};
pub use stats::UplinkStats;
