//! RTU framing (Modbus over Serial Line V1.02 §2.5.1): unit id, PDU, CRC-16 low byte first.
//!
//! A serial response has no length field, so the decoder works out the frame's length from the request
//! it answers; that is what lets it tell a partial frame from a complete one in a byte stream. RTU over
//! TCP (gateways that pass serial frames through a socket) uses the same functions on the socket's bytes.

use core::fmt;
use core::time::Duration;

use super::pdu::{EncodeError, MAX_PDU, Request};

/// Largest RTU frame: address, PDU, CRC (§2.5.1).
pub const MAX_ADU: usize = 1 + MAX_PDU + 2;

/// CRC-16/MODBUS lookup table: reflected polynomial 0xA001, one entry per byte value (§6.2.2).
const TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { crc >> 1 ^ 0xA001 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-16/MODBUS (init 0xFFFF, reflected). On the wire it goes low byte first: `crc.to_le_bytes()`.
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0xFFFF, |crc, &b| crc >> 8 ^ TABLE[usize::from((crc as u8) ^ b)])
}

/// Frames `pdu` for `unit` into `buf` and returns the frame's length. Unit 0 is broadcast: only
/// writes may be sent to it, and no device answers (§2.2).
pub fn encode_adu(unit: u8, pdu: &[u8], buf: &mut [u8]) -> Result<usize, EncodeError> {
    if pdu.len() > MAX_PDU {
        return Err(EncodeError::PduTooLong { len: pdu.len() });
    }
    let len = pdu.len() + 3;
    let out = buf.get_mut(..len).ok_or(EncodeError::BufferTooSmall { need: len })?;
    out[0] = unit;
    out[1..len - 2].copy_from_slice(pdu);
    finish(out);
    Ok(len)
}

/// Encodes `request` for `unit` straight into `buf`, with no intermediate PDU buffer.
pub fn encode_request(unit: u8, request: &Request<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let len = request.encoded_len() + 3;
    let out = buf.get_mut(..len).ok_or(EncodeError::BufferTooSmall { need: len })?;
    out[0] = unit;
    request.encode(&mut out[1..])?;
    finish(out);
    Ok(len)
}

/// Writes the CRC of all but the last two bytes into the last two.
fn finish(frame: &mut [u8]) {
    let body = frame.len().saturating_sub(2);
    let crc = crc16(&frame[..body]);
    frame[body..].copy_from_slice(&crc.to_le_bytes());
}

/// What the bytes received so far hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtuFrame<'a> {
    /// The frame is not complete: wait for at least `need` more bytes (or the response timeout).
    Partial { need: usize },
    /// A frame of `len` bytes with a good CRC; `pdu` goes to [`super::pdu::decode_response`]. Bytes after
    /// `len` are not part of it.
    Complete { pdu: &'a [u8], len: usize },
    /// Not the answer to the request: discard the bytes and wait for the line to fall silent.
    Corrupt(RtuError),
}

/// Why received bytes are not the response to the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtuError {
    /// Another unit answered (or a byte of the address was lost).
    Unit { expected: u8, got: u8 },
    /// Neither the request's function code nor its exception code.
    Function { expected: u8, got: u8 },
    /// A read response announcing a different number of data bytes than asked for.
    ByteCount { expected: usize, got: u8 },
    /// The CRC does not match: noise on the line, or a wrong baud rate or parity.
    Crc { computed: u16, received: u16 },
}

impl fmt::Display for RtuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RtuError::Unit { expected, got } => {
                write!(
                    f,
                    "answer from unit {got} to a request for unit {expected}; check unit ids on the bus"
                )
            }
            RtuError::Function { expected, got } => {
                write!(f, "answer with function code {got:#04x} to a request with {expected:#04x}")
            }
            RtuError::ByteCount { expected, got } => {
                write!(f, "answer announces {got} data bytes where {expected} were asked for")
            }
            RtuError::Crc { computed, received } => write!(
                f,
                "CRC {received:#06x} received, {computed:#06x} computed; check wiring, baud rate and parity"
            ),
        }
    }
}

impl core::error::Error for RtuError {}

/// Decodes the response of `unit` to `request` from the bytes received so far.
pub fn decode_response<'a>(unit: u8, request: &Request<'_>, bytes: &'a [u8]) -> RtuFrame<'a> {
    // The exception frame (unit, function, code, CRC) is the shortest any answer can be.
    const SHORTEST: usize = 5;
    let (Some(&got_unit), Some(&function)) = (bytes.first(), bytes.get(1)) else {
        if let Some(&got) = bytes.first().filter(|&&u| u != unit) {
            return RtuFrame::Corrupt(RtuError::Unit { expected: unit, got });
        }
        return RtuFrame::Partial { need: SHORTEST - bytes.len() };
    };
    if got_unit != unit {
        return RtuFrame::Corrupt(RtuError::Unit { expected: unit, got: got_unit });
    }
    let expected = request.function();
    let len = if function == expected | 0x80 {
        SHORTEST
    } else if function == expected {
        request.response_len() + 3
    } else {
        return RtuFrame::Corrupt(RtuError::Function { expected, got: function });
    };
    if let (Request::Read { .. }, Some(&count), true) = (request, bytes.get(2), function == expected) {
        // The byte count is known from the request; a wrong one would only make us wait for a CRC.
        let data = request.response_len() - 2;
        if usize::from(count) != data {
            return RtuFrame::Corrupt(RtuError::ByteCount { expected: data, got: count });
        }
    }
    let Some(frame) = bytes.get(..len) else {
        return RtuFrame::Partial { need: len - bytes.len() };
    };
    let computed = crc16(&frame[..len - 2]);
    let received = u16::from_le_bytes([frame[len - 2], frame[len - 1]]);
    if computed != received {
        return RtuFrame::Corrupt(RtuError::Crc { computed, received });
    }
    RtuFrame::Complete { pdu: &frame[1..len - 2], len }
}

/// The inter-frame silence t3.5: 3.5 character times, rounded up to the microsecond, and a fixed 1.75 ms
/// above 19200 baud (§2.5.1.1), where the timers would be too short for a UART to honour.
/// `bits_per_char` is start + data + parity + stop bits: 11 for the spec's 8E1 or 8N2. A baud rate of 0
/// is taken as 1 rather than dividing by zero.
pub fn silence(baud: u32, bits_per_char: u32) -> Duration {
    if baud > 19_200 {
        return Duration::from_micros(1_750);
    }
    let micros = (7 * u64::from(bits_per_char) * 1_000_000).div_ceil(2 * u64::from(baud.max(1)));
    Duration::from_micros(micros)
}

/// A whole frame, as a server cuts it from the line by silence: too short to be one, or a bad CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer than the 4 bytes of address, function and CRC, or more than [`MAX_ADU`].
    Length(usize),
    /// The CRC does not match: noise on the line, or a wrong baud rate or parity.
    Crc { computed: u16, received: u16 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::Length(len) => {
                write!(f, "a frame of {len} bytes; RTU frames are 4 to {MAX_ADU} bytes")
            }
            FrameError::Crc { computed, received } => write!(
                f,
                "CRC {received:#06x} received, {computed:#06x} computed; check wiring, baud rate and parity"
            ),
        }
    }
}

impl core::error::Error for FrameError {}

/// Splits a frame cut from the line by t3.5 silence into its unit id and PDU, checking its CRC.
pub fn split_frame(frame: &[u8]) -> Result<(u8, &[u8]), FrameError> {
    let len = frame.len();
    if !(4..=MAX_ADU).contains(&len) {
        return Err(FrameError::Length(len));
    }
    let computed = crc16(&frame[..len - 2]);
    let received = u16::from_le_bytes([frame[len - 2], frame[len - 1]]);
    if computed != received {
        return Err(FrameError::Crc { computed, received });
    }
    Ok((frame[0], &frame[1..len - 2]))
}
