//! The frame: `##` + 4-digit data length + data segment + 4 hex digits of CRC + CR LF (HJ 212-2017
//! §6.3.1). The length counts the segment's UTF-8 bytes, not its characters.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::{Hj212Error, crc16};

/// The largest data segment HJ 212-2017 §6.3.1 allows (`0 ≤ n ≤ 1024`); longer ones are split.
pub const MAX_SEGMENT: usize = 1024;
/// What a 4-digit length can say at all; the decoder accepts up to this from lenient peers.
pub const MAX_LENGTH_FIELD: usize = 9999;
/// `##`, length, CRC, CR LF.
pub const OVERHEAD: usize = 2 + 4 + 4 + 2;

/// Wraps a data segment in a frame.
pub fn encode_frame(segment: &str, out: &mut String) -> Result<(), Hj212Error> {
    let len = segment.len();
    if len > MAX_LENGTH_FIELD {
        return Err(Hj212Error::TooLong { len, max: MAX_LENGTH_FIELD });
    }
    let _ = write!(out, "##{len:04}{segment}{:04X}\r\n", crc16(segment.as_bytes()));
    Ok(())
}

/// Reads one frame at the start of `bytes`: its data segment and how many bytes it took.
/// `max` is the longest segment taken (`MAX_SEGMENT`, or more from a lenient platform).
pub fn decode_frame(bytes: &[u8], max: usize) -> Result<(&str, usize), Hj212Error> {
    if bytes.len() < 2 {
        return Err(Hj212Error::Truncated { need: OVERHEAD });
    }
    if &bytes[..2] != b"##" {
        return Err(Hj212Error::NoHeader);
    }
    let Some(len_text) = bytes.get(2..6) else {
        return Err(Hj212Error::Truncated { need: OVERHEAD });
    };
    if !len_text.iter().all(u8::is_ascii_digit) {
        return Err(Hj212Error::BadLength);
    }
    let len = len_text.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    if len > max {
        return Err(Hj212Error::TooLong { len, max });
    }
    let total = OVERHEAD + len;
    if bytes.len() < total {
        return Err(Hj212Error::Truncated { need: total });
    }
    let seg = &bytes[6..6 + len];
    let crc_text = &bytes[6 + len..10 + len];
    let received = parse_hex(crc_text).ok_or(Hj212Error::BadCrcText)?;
    if &bytes[10 + len..total] != b"\r\n" {
        return Err(Hj212Error::NoTrailer);
    }
    let computed = crc16(seg);
    if computed != received {
        return Err(Hj212Error::CrcMismatch { computed, received });
    }
    let text = core::str::from_utf8(seg).map_err(|e| Hj212Error::NotUtf8 { at: e.valid_up_to() })?;
    Ok((text, total))
}

fn parse_hex(text: &[u8]) -> Option<u16> {
    text.iter().try_fold(0u16, |n, &c| {
        let d = (c as char).to_digit(16)?;
        Some(n << 4 | d as u16)
    })
}

/// Frames out of a byte stream (a TCP session): buffers partial frames, skips to the next `##` after
/// a bad one, and reports each bad one once.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max: usize,
}

impl FrameDecoder {
    pub fn new(max: usize) -> FrameDecoder {
        FrameDecoder { buf: Vec::new(), max }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's data segment, an error for a bad one, or `None` until more bytes come.
    pub fn next_segment(&mut self) -> Option<Result<String, Hj212Error>> {
        loop {
            // Bytes before a header are noise (a reconnect's tail); drop them quietly.
            match self.buf.windows(2).position(|w| w == b"##") {
                Some(0) => {}
                Some(at) => {
                    self.buf.drain(..at);
                }
                None => {
                    let keep = usize::from(self.buf.last() == Some(&b'#'));
                    let cut = self.buf.len() - keep;
                    self.buf.drain(..cut);
                    return None;
                }
            }
            match decode_frame(&self.buf, self.max) {
                Ok((seg, used)) => {
                    let seg = String::from(seg);
                    self.buf.drain(..used);
                    return Some(Ok(seg));
                }
                Err(Hj212Error::Truncated { .. }) => return None,
                // `###0101...`: a stray `#` before the real header, not a frame.
                Err(Hj212Error::BadLength) => {
                    self.buf.drain(..1);
                }
                Err(e) => {
                    self.buf.drain(..1);
                    return Some(Err(e));
                }
            }
        }
    }
}
