//! Modbus, sans-IO: register values, addresses, read planning, PDUs and RTU/TCP framing.
//! `no_std`, no allocation, never panics on input.
//!
//! - [`value`]: one tag's registers to a [`crate::Value`] and back ([`TagCodec`], [`DataType`]).
//! - [`order`]: ABCD/CDAB/BADC/DCBA over 1, 2 and 4 registers ([`ByteOrder`]).
//! - [`address`]: `"holding:3054"` and `40001`-style addresses to wire addresses ([`Address`], [`Space`]).
//! - [`pdu`]: requests to bytes and response bytes to data or an [`Exception`] ([`Request`], [`Response`]).
//! - [`plan`](mod@plan): the fewest reads that serve a poll group's tags ([`plan()`], [`Limits`], [`Block`]).
//! - [`rtu`]: serial framing with CRC-16, a stream decoder for responses, and t3.5 ([`RtuFrame`]).
//! - [`server`]: the server side: request PDUs decoded ([`Indication`]) and responses encoded.
//! - [`tcp`]: the MBAP header and a stream decoder for Modbus TCP ([`Mbap`], [`TcpFrame`]).

pub mod address;
pub mod order;
pub mod pdu;
pub mod plan;
pub mod rtu;
pub mod server;
pub mod tcp;
pub mod value;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod pdu_tests;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod rtu_tests;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod value_tests;

pub use address::{Address, AddressError, Base, Space};
pub use order::{ByteOrder, UnknownByteOrder};
pub use pdu::{EncodeError, Exception, PduError, Request, Response, decode_response};
pub use plan::{Block, BuffersTooSmall, Cut, Limits, Served, TagError, plan};
pub use rtu::{FrameError, RtuError, RtuFrame};
pub use server::Indication;
pub use tcp::{Mbap, MbapError, TcpFrame};
pub use value::{DataType, TagCodec, UnknownDataType, ValueError};
