//! Sans-IO codecs and the data model shared by the agent, its drivers and the sensor-node firmware.
//!
//! Nothing here reads a clock or a socket: callers pass bytes and `now` in and get frames or bytes out.
//! The core is `no_std`; the `std` feature adds the pieces that need allocation (the tag registry).
#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "alloc")]
pub mod hj212;
pub mod line_protocol;
pub mod modbus;
pub mod sample;
#[cfg(feature = "std")]
pub mod sparkplug;
#[cfg(feature = "std")]
pub mod tag;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use sample::{Quality, Reason, Sample, TagId, TextId, Timestamp, Value};
#[cfg(feature = "std")]
pub use tag::{TagRegistry, TextPool};
