//! The edge runtime: config, the sample ring, engines, local HTTP, and the CLI behind `edge-agent`.

pub mod cli;
pub mod config;
pub mod engine;
pub mod export;
pub mod http;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod ring;
pub mod runtime;
pub mod status;
pub mod store;
pub mod uplink;
