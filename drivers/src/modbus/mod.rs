//! Modbus TCP and RTU-over-TCP: a link task per TCP endpoint, with its devices' scans planned into the
//! fewest reads by the sans-IO planner in `protocols::modbus`.
//!
//! - [`config`]: `[[modbus.link]]` and its devices and tags; the config struct builds the driver.
//! - [`device`]: a device's poll groups, planned reads, and answers turned into samples.
//! - [`holes`]: what a device refuses to read over, found by splitting a refused read.
//! - [`transport`]: one connection, one request at a time, device refusals apart from link failures.
//! - [`driver`]: the link's task: its scan schedule, its connection, writes.
//! - `scan`: one scan of a poll group, and the split of a read the device refuses.

pub mod config;
pub mod device;
pub mod driver;
pub mod holes;
mod kind;
mod scan;
pub mod transport;

#[cfg(test)]
mod learn_tests;

pub use config::{ModbusDeviceConfig, ModbusLinkConfig, ModbusTagConfig, Transport};
pub use kind::ModbusKind;
pub use transport::{Answer, Connection, LinkError};
