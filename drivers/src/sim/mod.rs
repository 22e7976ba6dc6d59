//! Simulated devices: seeded, deterministic signal shapes and small process models, so the agent runs
//! with no hardware and tests have a plant to acquire.

pub mod config;

pub use config::{Shape, SimDeviceConfig, SimFaultConfig, SimTagConfig, WritableConfig};
