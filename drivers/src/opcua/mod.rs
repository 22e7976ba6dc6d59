//! OPC UA client: one session per `[[opcua.link]]`, its devices read by subscriptions (monitored items
//! with sampling, queue and deadband) or by polled reads, on async-opcua.
//!
//! [`node_id`] and [`config`] read the section (sans-IO); [`values`] turns variants and status codes
//! into samples; [`session`] connects (security, identity, the PKI directory); [`driver`] runs the link;
//! [`browse`] walks a server's address space for `edge-agent opcua browse`.

pub mod browse;
pub mod config;
pub mod driver;
mod kind;
pub mod node_id;
pub mod plan;
pub mod session;
pub mod values;

pub use config::OpcuaLinkConfig;
pub use kind::OpcuaKind;
