//! Simulated devices: seeded, deterministic signal shapes and small process models, so the agent runs
//! with no hardware and tests have a plant to acquire.
//!
//! [`SimDevice`] is the sans-IO core (config and scan times in, samples out); [`SimDriver`] runs it on a
//! tokio interval as any other [`crate::Driver`]. `SimDeviceConfig::build` makes the driver from the config.

pub mod config;
mod device;
mod driver;
mod fopdt;
mod kind;
pub(crate) mod rng;
mod signal;
pub mod wood_berry;

pub use config::{Shape, SimDeviceConfig, SimFaultConfig, SimTagConfig, WritableConfig};
pub use device::{ScanOutcome, SimDevice};
pub use driver::SimDriver;
pub use fopdt::{Fopdt, MAX_HISTORY};
pub use kind::SimKind;

#[cfg(test)]
mod tests;
