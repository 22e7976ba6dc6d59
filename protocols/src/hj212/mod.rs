//! HJ 212, sans-IO: the frames, data segments and packets by which monitoring stations report to the
//! environmental authority's platform (HJ 212-2017, and HJ 212-2025 in force from 2026-01-01).
//! `no_std` with `alloc`; never panics on input (property tests).
//!
//! - [`crc`]: the standard's CRC (App. A), which is not the Modbus CRC ([`crc16`]).
//! - [`frame`]: `##` + length + segment + CRC + CR LF ([`encode_frame`], [`decode_frame`], [`FrameDecoder`]).
//! - [`segment`]: QN/ST/CN/PW/MN/Flag/PNUM/PNO and CP's groups ([`Segment`], [`Cp`], [`Flag`], [`Edition`]).
//! - [`split`](mod@split): PNUM/PNO packets for segments over [`MAX_SEGMENT`] ([`split()`], [`reassemble`]).
//! - [`time`]: `QN` and `DataTime` civil times ([`DateTime`]).

pub mod crc;
mod error;
pub mod frame;
pub mod segment;
pub mod split;
pub mod time;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

pub use crc::crc16;
pub use error::Hj212Error;
pub use frame::{FrameDecoder, MAX_SEGMENT, decode_frame, encode_frame};
pub use segment::{Cp, Edition, Field, Flag, Segment};
pub use split::{reassemble, split};
pub use time::DateTime;

/// Command codes (HJ 212-2017 App. B, table B.3; the same numbers in 2025).
pub mod cn {
    pub const GET_TIME: u16 = 1011;
    pub const SET_TIME: u16 = 1012;
    pub const GET_RTD_INTERVAL: u16 = 1061;
    pub const SET_RTD_INTERVAL: u16 = 1062;
    pub const GET_MIN_INTERVAL: u16 = 1063;
    pub const SET_MIN_INTERVAL: u16 = 1064;
    pub const SET_PASSWORD: u16 = 1072;
    pub const REALTIME: u16 = 2011;
    pub const DAY: u16 = 2031;
    pub const MINUTE: u16 = 2051;
    pub const HOUR: u16 = 2061;
    /// Reply to a request: `QnRtn` (1 ready to do it).
    pub const REQUEST_REPLY: u16 = 9011;
    /// Result of a command: `ExeRtn` (1 done).
    pub const EXECUTE_REPLY: u16 = 9012;
    /// Data received.
    pub const DATA_REPLY: u16 = 9014;
}

/// Encodes a segment as one frame or, when over `max`, as PNUM/PNO packets (one frame each).
pub fn encode_frames(
    seg: &Segment,
    max: usize,
) -> Result<alloc::vec::Vec<alloc::string::String>, Hj212Error> {
    split(seg, max)?
        .iter()
        .map(|p| {
            let mut text = alloc::string::String::new();
            p.encode(&mut text)?;
            let mut frame = alloc::string::String::with_capacity(text.len() + frame::OVERHEAD);
            encode_frame(&text, &mut frame)?;
            Ok(frame)
        })
        .collect()
}
