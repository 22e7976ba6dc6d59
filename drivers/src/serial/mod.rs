//! ASCII serial instruments (gas analysers, scales, flow computers): lines on a serial port, asked for by
//! a request or streamed, split into fields by a delimiter, by column or by a regex, checksum optional.
//!
//! - [`config`]: `[[serial.port]]`, its instruments and tags, and what is wrong with them.
//! - [`line`]: bytes to lines by terminator, sans-IO; [`parse`]: a line to tag values, and checksums.
//! - [`driver`]: the port's task: polled instruments in turn on the scan schedule, or streamed lines.

pub mod config;
pub mod driver;
mod kind;
pub mod line;
pub mod parse;

pub use config::{InstrumentConfig, SerialPortConfig, SerialTagConfig};
pub use kind::SerialKind;
