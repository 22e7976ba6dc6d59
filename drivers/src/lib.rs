//! Device I/O. Each driver owns one physical link (a TCP endpoint, a serial port, a session) and every
//! device on it, pushes what it acquires into the agent's sample ring, and serves writes to its tags.
//!
//! Polled devices (Modbus), subscriptions (OPC UA) and pushed messages (MQTT, streaming serial
//! instruments) all fit the one [`Driver`] trait: `run` acquires however the protocol wants and hands
//! batches to [`Publisher::publish`], which is where the ring's back-pressure reaches the driver.

pub mod backoff;
pub mod context;
pub mod diag;
pub mod flap;
pub mod gpio;
pub mod kind;
pub mod modbus;
pub mod mqtt;
pub mod opcua;
pub mod registry;
pub mod schedule;
pub mod sections;
pub mod serial;
pub mod sim;
pub mod telemetry;
pub mod testing;
pub mod units;
pub mod write;

use std::future::Future;
use std::pin::Pin;

pub use context::{Clock, DriverContext, Publisher, PushOutcome, SampleSink, Shutdown, SystemClock};
pub use diag::ConfigErrors;
pub use kind::{BuildContext, DeclaredDevice, DeclaredTag, DriverKind, LinkConfig};
pub use telemetry::{DeviceStats, ErrorKind, Histogram};
pub use write::{WritableSpec, WriteError, WriteQueue, WriteRequest};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Owns one link and everything on it.
pub trait Driver: Send + 'static {
    /// Runs until `cx.shutdown` fires: acquires, publishes samples, serves writes addressed to its tags.
    ///
    /// Device faults (timeouts, exceptions, a dead link) are not errors here: they become Bad samples and
    /// counters, and the driver keeps trying. An `Err` means the driver cannot run at all.
    fn run(self: Box<Self>, cx: DriverContext) -> BoxFuture<'static, Result<(), DriverError>>;
}

/// A driver that cannot run at all (as opposed to a device that is down, which is a Bad sample).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("link {link}: {message}")]
    Setup { link: String, message: String },
    #[error("the sample ring was closed while link {link} was running")]
    RingClosed { link: String },
}
