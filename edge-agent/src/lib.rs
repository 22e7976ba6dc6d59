//! The edge runtime: config, the sample ring, engines, local HTTP, and the CLI behind `edge-agent`.

pub mod config;
pub mod engine;
pub mod logging;
pub mod metrics;
pub mod ring;
