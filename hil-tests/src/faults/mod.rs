//! A fault-injecting TCP proxy to put between the agent and any peer (Modbus TCP or RTU over TCP, OPC UA,
//! MQTT, a historian, an HJ 212 platform): latency and jitter, a bandwidth cap, dropped and reset
//! connections, refused connections, a blackhole, flipped bytes.
//!
//! - [`plan`]: the [`Fault`] and the decision on each chunk and connection, sans-IO and seeded.
//! - [`schedule`]: a seeded random sequence of faults and calm spells, for soaks.
//! - [`proxy`]: the listener and forwarders; [`FaultProxy::set`] changes the fault while it runs and
//!   [`FaultProxy::counts`] tells what it did, so a test can assert that the fault happened.
//!
//! Flipped bytes model a link that corrupts data below any checksum of the protocol's own (a serial
//! device server, a broken middlebox): only a protocol with a frame check can catch them, such as Modbus
//! RTU's CRC. Modbus TCP, MQTT and HTTP have none, so a flip there can become a wrong value that looks
//! right; flip those links only to test how their parsers fail.

pub mod plan;
pub mod proxy;
pub mod schedule;

pub use plan::Fault;
pub use proxy::{Counts, FaultProxy};
pub use schedule::{Menu, Schedule, Step};
