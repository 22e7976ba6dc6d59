//! What a frame or data segment got wrong, naming the part: a platform operator reads these in the log.

use alloc::string::String;
use core::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hj212Error {
    /// The bytes do not start with `##`.
    NoHeader,
    /// The 4 characters after `##` are not a decimal length.
    BadLength,
    /// The frame needs more bytes than were given (a stream decoder waits for them).
    Truncated { need: usize },
    /// The data length is over the edition's limit.
    TooLong { len: usize, max: usize },
    /// The 4 characters after the data segment are not hexadecimal.
    BadCrcText,
    /// The check does not match the data segment.
    CrcMismatch { computed: u16, received: u16 },
    /// The frame does not end in CR LF.
    NoTrailer,
    /// The data segment is not UTF-8.
    NotUtf8 { at: usize },
    /// A field the segment needs is absent.
    Missing(&'static str),
    /// A field appears twice.
    Duplicate(String),
    /// A field's value is wrong; `problem` says how.
    Field { field: String, problem: &'static str },
    /// A value holds a character the format uses as a separator.
    Separator { field: String },
    /// One CP field alone is longer than a packet may be.
    Unsplittable { field: String, len: usize, max: usize },
}

impl fmt::Display for Hj212Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHeader => write!(f, "frame does not start with `##`"),
            Self::BadLength => write!(f, "data length after `##` is not 4 decimal digits"),
            Self::Truncated { need } => write!(f, "frame is incomplete: {need} bytes needed"),
            Self::TooLong { len, max } => {
                write!(f, "data segment of {len} bytes is over the limit of {max}; split it with PNUM/PNO")
            }
            Self::BadCrcText => write!(f, "CRC after the data segment is not 4 hexadecimal digits"),
            Self::CrcMismatch { computed, received } => {
                write!(f, "CRC {received:04X} does not match the data segment (computed {computed:04X})")
            }
            Self::NoTrailer => write!(f, "frame does not end in CR LF"),
            Self::NotUtf8 { at } => write!(f, "data segment is not UTF-8 at byte {at}"),
            Self::Missing(field) => write!(f, "data segment has no `{field}`"),
            Self::Duplicate(field) => write!(f, "field `{field}` appears twice"),
            Self::Field { field, problem } => write!(f, "field `{field}`: {problem}"),
            Self::Separator { field } => {
                write!(f, "field `{field}` holds one of ; , = & CR LF, which HJ 212 uses as separators")
            }
            Self::Unsplittable { field, len, max } => {
                write!(f, "CP field `{field}` alone is {len} bytes, over the packet limit of {max}")
            }
        }
    }
}

impl core::error::Error for Hj212Error {}
