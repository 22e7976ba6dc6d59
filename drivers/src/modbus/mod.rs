//! Modbus TCP and RTU-over-TCP: a link task per TCP endpoint, with its devices' scans planned into the
//! fewest reads by the sans-IO planner in `protocols::modbus`.
//!
//! - [`config`]: `[[modbus.link]]` and its devices and tags; the config struct builds the driver.
//! - [`device`]: a device's poll groups, planned reads, and answers turned into samples.
//! - [`transport`]: one connection, one request at a time, device refusals apart from link failures.
//! - [`driver`]: the per-link scheduler and writes.

pub mod config;
pub mod device;
pub mod driver;
mod kind;
pub mod transport;

pub use config::{ModbusDeviceConfig, ModbusLinkConfig, ModbusTagConfig, Transport};
pub use kind::ModbusKind;
pub use transport::{Answer, Connection, LinkError};
