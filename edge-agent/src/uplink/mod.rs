//! The historian uplink: the HTTP write client, the retry pacing around it, and the task that sends the
//! store's contents in order.

pub mod backoff;
pub mod delivery;
pub mod influx;
pub mod quarantine;
pub mod sender;
pub mod stats;

pub use stats::UplinkStats;
