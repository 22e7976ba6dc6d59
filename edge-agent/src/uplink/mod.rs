//! The historian uplink: the HTTP write client and the retry pacing around it.

pub mod backoff;
pub mod influx;
