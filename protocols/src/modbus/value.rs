//! Register value codec: the registers (or bit) of one tag to a [`Value`] and back.
//!
//! A tag's codec is its data type, its [`ByteOrder`] and an optional linear scaling
//! `value = raw * scale + offset`. Floats decode to `Value::Float`; integers decode to `Value::Int` /
//! `Value::UInt` while unscaled and to `Value::Float` once scaled. Writes run the inverse and refuse any
//! value the register type cannot hold: nothing is ever wrapped or silently clamped.

use core::fmt;
use core::str::FromStr;

use super::order::ByteOrder;
use crate::Value;

/// What a tag's registers hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// A coil or discrete input; on a register space, any non-zero register reads as true.
    Bool,
    /// One bit (0 = least significant .. 15) of a register, after the tag's byte order is applied.
    Bit(u8),
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    /// Fixed-length ASCII text over this many registers, two characters per register.
    Text(u8),
}

impl DataType {
    /// Registers (or, for `Bool` on a bit space, bits) the tag occupies.
    pub fn registers(self) -> u16 {
        match self {
            DataType::Bool | DataType::Bit(_) | DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
            DataType::Text(n) => u16::from(n),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::Bit(_) => "bit",
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::U64 => "u64",
            DataType::I64 => "i64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
            DataType::Text(_) => "string",
        }
    }

    /// Range of the raw integer, `None` for non-integer types.
    fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            DataType::U16 => (0, u16::MAX.into()),
            DataType::I16 => (i16::MIN.into(), i16::MAX.into()),
            DataType::U32 => (0, u32::MAX.into()),
            DataType::I32 => (i32::MIN.into(), i32::MAX.into()),
            DataType::U64 => (0, u64::MAX.into()),
            DataType::I64 => (i64::MIN.into(), i64::MAX.into()),
            _ => return None,
        })
    }

    fn signed(self) -> bool {
        matches!(self, DataType::I16 | DataType::I32 | DataType::I64)
    }
}

/// A type name that is not one of the parameterless types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownDataType;

impl fmt::Display for UnknownDataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown data type; expected one of bool, u16, i16, u32, i32, u64, i64, f32, f64")
    }
}

impl core::error::Error for UnknownDataType {}

impl FromStr for DataType {
    type Err = UnknownDataType;
    /// Parses the parameterless types; `Bit` and `Text` carry a number the config gives separately.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const NAMED: [DataType; 9] = [
            DataType::Bool,
            DataType::U16,
            DataType::I16,
            DataType::U32,
            DataType::I32,
            DataType::U64,
            DataType::I64,
            DataType::F32,
            DataType::F64,
        ];
        NAMED.into_iter().find(|t| t.name().eq_ignore_ascii_case(s)).ok_or(UnknownDataType)
    }
}

/// Why a tag's registers could not become a value, or a value could not become registers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueError {
    /// Fewer registers than the type needs were given (decode) or room for them (encode).
    Short { need: u16, got: usize },
    /// The value does not fit the register type (after removing scale and offset).
    OutOfRange { ty: DataType, raw: f64 },
    /// A fractional value for an unscaled integer register.
    NotInteger { raw: f64 },
    /// NaN or infinity, which no write should carry.
    NotFinite,
    /// A value of the wrong kind for this type: text for a number, a number for text.
    WrongKind { ty: DataType },
    /// Text that is not printable ASCII, or longer than the registers hold.
    BadText { max_chars: u16 },
    /// A bit index above 15, a zero-length string, or a scale that is zero or not finite.
    BadCodec,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ValueError::Short { need, got } => {
                write!(f, "the type needs {need} registers but {got} were given; check the tag's length")
            }
            ValueError::OutOfRange { ty, raw } => write!(
                f,
                "raw value {raw} does not fit a {} register; write a smaller value or check scale/offset",
                ty.name()
            ),
            ValueError::NotInteger { raw } => {
                write!(f, "{raw} is not a whole number and the register holds an integer; round it or set a scale")
            }
            ValueError::NotFinite => f.write_str("NaN or infinity cannot be written to a register"),
            ValueError::WrongKind { ty } => write!(f, "this kind of value cannot go to a {} tag", ty.name()),
            ValueError::BadText { max_chars } => {
                write!(f, "text must be printable ASCII of at most {max_chars} characters")
            }
            ValueError::BadCodec => f.write_str(
                "invalid tag codec: bit index must be 0..15, strings at least 1 register, scale finite and non-zero",
            ),
        }
    }
}

impl core::error::Error for ValueError {}

/// How one tag's registers map to a [`Value`]: type, order and linear scaling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TagCodec {
    ty: DataType,
    order: ByteOrder,
    scale: f64,
    offset: f64,
}

impl TagCodec {
    /// An unscaled codec. Fails for a bit index above 15 or a zero-register string.
    pub fn new(ty: DataType, order: ByteOrder) -> Result<Self, ValueError> {
        match ty {
            DataType::Bit(b) if b > 15 => Err(ValueError::BadCodec),
            DataType::Text(0) => Err(ValueError::BadCodec),
            _ => Ok(TagCodec { ty, order, scale: 1.0, offset: 0.0 }),
        }
    }

    /// Adds `value = raw * scale + offset`. Fails for a zero or non-finite scale or a non-finite offset.
    pub fn with_linear(mut self, scale: f64, offset: f64) -> Result<Self, ValueError> {
        if !scale.is_finite() || scale == 0.0 || !offset.is_finite() {
            return Err(ValueError::BadCodec);
        }
        self.scale = scale;
        self.offset = offset;
        Ok(self)
    }

    pub fn data_type(&self) -> DataType {
        self.ty
    }

    pub fn order(&self) -> ByteOrder {
        self.order
    }

    /// Registers the tag spans; what the request planner needs.
    pub fn registers(&self) -> u16 {
        self.ty.registers()
    }

    fn is_scaled(&self) -> bool {
        self.scale != 1.0 || self.offset != 0.0
    }

    /// Decodes a numeric or boolean tag from its registers (address order; for coils and discrete inputs
    /// pass each bit as 0 or 1). Text tags need [`TagCodec::decode_text`].
    pub fn decode(&self, regs: &[u16]) -> Result<Value, ValueError> {
        let n = self.ty.registers();
        let regs = regs.get(..usize::from(n)).ok_or(ValueError::Short { need: n, got: regs.len() })?;
        let raw = self.order.gather(regs);
        let value = match self.ty {
            DataType::Bool => return Ok(Value::Bool(raw != 0)),
            DataType::Bit(b) => return Ok(Value::Bool(raw >> (b & 15) & 1 == 1)),
            DataType::Text(_) => return Err(ValueError::WrongKind { ty: self.ty }),
            DataType::U16 | DataType::U32 | DataType::U64 => Value::UInt(raw),
            DataType::I16 => Value::Int((raw as u16 as i16).into()),
            DataType::I32 => Value::Int((raw as u32 as i32).into()),
            DataType::I64 => Value::Int(raw as i64),
            DataType::F32 => Value::Float(f32::from_bits(raw as u32).into()),
            DataType::F64 => Value::Float(f64::from_bits(raw)),
        };
        if !self.is_scaled() {
            return Ok(value);
        }
        let x = value.as_f64().unwrap_or(f64::NAN);
        Ok(Value::Float(x * self.scale + self.offset))
    }

    /// Decodes a text tag into `buf` and returns it, cut at the first NUL and with trailing spaces trimmed.
    /// Byte-swapped orders swap the two characters of each register; register order is always address order.
    pub fn decode_text<'b>(&self, regs: &[u16], buf: &'b mut [u8]) -> Result<&'b str, ValueError> {
        let DataType::Text(n) = self.ty else { return Err(ValueError::WrongKind { ty: self.ty }) };
        let n = usize::from(n);
        let regs = regs.get(..n).ok_or(ValueError::Short { need: n as u16, got: regs.len() })?;
        let max_chars = 2 * n as u16;
        let got = buf.len() / 2;
        let out = buf.get_mut(..2 * n).ok_or(ValueError::Short { need: n as u16, got })?;
        for (pair, &r) in out.chunks_exact_mut(2).zip(regs) {
            pair.copy_from_slice(&self.order.fix_bytes(r).to_be_bytes());
        }
        let end = out.iter().position(|&b| b == 0).unwrap_or(out.len());
        let mut len = end;
        while len > 0 && out[len - 1] == b' ' {
            len -= 1;
        }
        let text = &out[..len];
        if !text.iter().all(|b| (0x20..0x7f).contains(b)) {
            return Err(ValueError::BadText { max_chars });
        }
        core::str::from_utf8(text).map_err(|_| ValueError::BadText { max_chars })
    }

    /// Encodes `value` for a write and returns the registers used. For `Bit` tags `out[0]` must hold the
    /// register's current value on entry (read-modify-write): only the tag's bit changes.
    pub fn encode(&self, value: Value, out: &mut [u16]) -> Result<usize, ValueError> {
        let n = self.ty.registers();
        let got = out.len();
        let out = out.get_mut(..usize::from(n)).ok_or(ValueError::Short { need: n, got })?;
        let raw: u64 = match self.ty {
            DataType::Bool => u64::from(truth(value)?),
            DataType::Bit(b) => {
                let bit = 1u16 << (b & 15);
                let current = self.order.fix_bytes(out[0]);
                u64::from(if truth(value)? { current | bit } else { current & !bit })
            }
            DataType::Text(_) => return Err(ValueError::WrongKind { ty: self.ty }),
            DataType::F32 => {
                let x = self.unscale(value)?;
                let y = x as f32;
                if !y.is_finite() {
                    return Err(ValueError::OutOfRange { ty: self.ty, raw: x });
                }
                y.to_bits().into()
            }
            DataType::F64 => self.unscale(value)?.to_bits(),
            ty => self.integer(ty, value)?,
        };
        self.order.scatter(raw, out);
        Ok(out.len())
    }

    /// Encodes `text` for a text tag, padding with NULs; returns the registers used.
    pub fn encode_text(&self, text: &str, out: &mut [u16]) -> Result<usize, ValueError> {
        let DataType::Text(n) = self.ty else { return Err(ValueError::WrongKind { ty: self.ty }) };
        let n = usize::from(n);
        let max_chars = 2 * n as u16;
        let bytes = text.as_bytes();
        if bytes.len() > 2 * n || !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
            return Err(ValueError::BadText { max_chars });
        }
        let got = out.len();
        let out = out.get_mut(..n).ok_or(ValueError::Short { need: n as u16, got })?;
        for (i, slot) in out.iter_mut().enumerate() {
            let hi = bytes.get(2 * i).copied().unwrap_or(0);
            let lo = bytes.get(2 * i + 1).copied().unwrap_or(0);
            *slot = self.order.fix_bytes(u16::from_be_bytes([hi, lo]));
        }
        Ok(n)
    }

    /// `(value - offset) / scale` as a finite float.
    fn unscale(&self, value: Value) -> Result<f64, ValueError> {
        let x = value.as_f64().ok_or(ValueError::WrongKind { ty: self.ty })?;
        let raw = (x - self.offset) / self.scale;
        if raw.is_finite() { Ok(raw) } else { Err(ValueError::NotFinite) }
    }

    /// The raw two's-complement bits of an integer register, range-checked.
    fn integer(&self, ty: DataType, value: Value) -> Result<u64, ValueError> {
        let (lo, hi) = ty.int_range().ok_or(ValueError::WrongKind { ty })?;
        let exact: i128 = match value {
            // Unscaled integers go through exactly: a u64 above 2^53 must not pass through f64.
            Value::Int(i) if !self.is_scaled() => i.into(),
            Value::UInt(u) if !self.is_scaled() => u.into(),
            Value::Bool(b) if !self.is_scaled() => b.into(),
            _ => {
                let raw = self.unscale(value)?;
                // A scaled write is quantised to the register's step; an unscaled one must be whole.
                let r = if self.is_scaled() { round_half_away(raw) } else { raw };
                if r != round_half_away(r) {
                    return Err(ValueError::NotInteger { raw });
                }
                // 2^127 bounds keep the cast exact; the range check below rejects anything that large.
                if !(-1.7e38..1.7e38).contains(&r) {
                    return Err(ValueError::OutOfRange { ty, raw });
                }
                r as i128
            }
        };
        if exact < lo || exact > hi {
            return Err(ValueError::OutOfRange { ty, raw: exact as f64 });
        }
        let bits = if ty.signed() { exact as i64 as u64 } else { exact as u64 };
        let width = 16 * u32::from(ty.registers());
        Ok(if width == 64 { bits } else { bits & ((1u64 << width) - 1) })
    }
}

/// A boolean write: `Bool`, or a number that is exactly 0 or 1.
fn truth(value: Value) -> Result<bool, ValueError> {
    match value {
        Value::Bool(b) => Ok(b),
        Value::Text(_) => Err(ValueError::WrongKind { ty: DataType::Bool }),
        v => match v.as_f64() {
            Some(0.0) => Ok(false),
            Some(1.0) => Ok(true),
            Some(x) => Err(ValueError::OutOfRange { ty: DataType::Bool, raw: x }),
            None => Err(ValueError::WrongKind { ty: DataType::Bool }),
        },
    }
}

/// Rounds half away from zero without `std` (core has no `f64::round` on our MSRV).
fn round_half_away(x: f64) -> f64 {
    // From 2^52 on every f64 is already whole; NaN falls through unchanged.
    if !(-4.5e15..4.5e15).contains(&x) {
        return x;
    }
    let t = x as i64 as f64;
    let frac = x - t;
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    }
}
