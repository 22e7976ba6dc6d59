//! Modbus PDUs, server side: a request PDU decoded to what it asks, and responses written into the
//! caller's buffer. What a sensor node or a slave simulator needs; `no_std`, no allocation.
//!
//! Section numbers are Modbus Application Protocol V1.1b3. A request the server cannot serve decodes to
//! the [`Exception`] the spec says to answer with (§7: 01 for an unknown function, 03 for a bad quantity
//! or byte count, 02 for a range past 65535); address checks against the server's own map are the caller's (exception 02).

use super::address::Space;
use super::pdu::{
    Bits, EncodeError, Exception, MAX_PDU, MAX_READ_BITS, MAX_READ_REGISTERS, MAX_WRITE_COILS,
    MAX_WRITE_REGISTERS, Registers,
};

/// What a client asks of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indication<'a> {
    /// FC01/02/03/04.
    Read { space: Space, start: u16, count: u16 },
    /// FC05.
    WriteCoil { address: u16, on: bool },
    /// FC06.
    WriteRegister { address: u16, value: u16 },
    /// FC15.
    WriteCoils { start: u16, coils: Bits<'a> },
    /// FC16.
    WriteRegisters { start: u16, values: Registers<'a> },
}

impl Indication<'_> {
    pub fn function(&self) -> u8 {
        match self {
            Indication::Read { space, .. } => space.read_function(),
            Indication::WriteCoil { .. } => 0x05,
            Indication::WriteRegister { .. } => 0x06,
            Indication::WriteCoils { .. } => 0x0F,
            Indication::WriteRegisters { .. } => 0x10,
        }
    }

    /// The first address and the number of items the request touches.
    pub fn range(&self) -> (u16, u16) {
        match *self {
            Indication::Read { start, count, .. } => (start, count),
            Indication::WriteCoil { address, .. } | Indication::WriteRegister { address, .. } => (address, 1),
            Indication::WriteCoils { start, coils } => (start, coils.len() as u16),
            Indication::WriteRegisters { start, values } => (start, values.len() as u16),
        }
    }
}

fn word(pdu: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*pdu.get(at)?, *pdu.get(at + 1)?]))
}

/// Decodes a request PDU, or gives the exception to answer it with.
pub fn decode_request(pdu: &[u8]) -> Result<Indication<'_>, Exception> {
    let function = *pdu.first().ok_or(Exception::IllegalFunction)?;
    let space = match function {
        0x01 => Some(Space::Coil),
        0x02 => Some(Space::DiscreteInput),
        0x03 => Some(Space::HoldingRegister),
        0x04 => Some(Space::InputRegister),
        0x05 | 0x06 | 0x0F | 0x10 => None,
        _ => return Err(Exception::IllegalFunction),
    };
    let (Some(a), Some(b)) = (word(pdu, 1), word(pdu, 3)) else {
        return Err(Exception::IllegalDataValue);
    };
    // §6.3 and the like: a bad quantity is exception 03, a range past 65535 exception 02.
    let fits = |count: u16, max: u16| -> Result<(), Exception> {
        if !(1..=max).contains(&count) {
            return Err(Exception::IllegalDataValue);
        }
        if u32::from(a) + u32::from(count) > 0x1_0000 {
            return Err(Exception::IllegalDataAddress);
        }
        Ok(())
    };
    let indication = match (function, space) {
        (_, Some(space)) => {
            let max = if space.is_bits() { MAX_READ_BITS } else { MAX_READ_REGISTERS };
            if pdu.len() != 5 {
                return Err(Exception::IllegalDataValue);
            }
            fits(b, max)?;
            Indication::Read { space, start: a, count: b }
        }
        // §6.5: a coil is switched by 0xFF00 or 0x0000 only.
        (0x05, _) if pdu.len() == 5 && (b == 0xFF00 || b == 0) => {
            Indication::WriteCoil { address: a, on: b == 0xFF00 }
        }
        (0x06, _) if pdu.len() == 5 => Indication::WriteRegister { address: a, value: b },
        (0x0F, _) => {
            let bytes = usize::from(b).div_ceil(8);
            fits(b, MAX_WRITE_COILS)?;
            if pdu.get(5).map(|&n| usize::from(n)) != Some(bytes) {
                return Err(Exception::IllegalDataValue);
            }
            let data = pdu.get(6..).filter(|d| d.len() == bytes).ok_or(Exception::IllegalDataValue)?;
            Indication::WriteCoils { start: a, coils: Bits::new(data, b) }
        }
        (0x10, _) => {
            let bytes = 2 * usize::from(b);
            fits(b, MAX_WRITE_REGISTERS)?;
            if pdu.get(5).map(|&n| usize::from(n)) != Some(bytes) {
                return Err(Exception::IllegalDataValue);
            }
            let data = pdu.get(6..).filter(|d| d.len() == bytes).ok_or(Exception::IllegalDataValue)?;
            Indication::WriteRegisters { start: a, values: Registers::new(data) }
        }
        _ => return Err(Exception::IllegalDataValue),
    };
    Ok(indication)
}

fn out(buf: &mut [u8], len: usize) -> Result<&mut [u8], EncodeError> {
    if len > MAX_PDU {
        return Err(EncodeError::PduTooLong { len });
    }
    buf.get_mut(..len).ok_or(EncodeError::BufferTooSmall { need: len })
}

/// Writes the exception response to a request with `function` (§7) and returns its length.
pub fn encode_exception(function: u8, exception: Exception, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let pdu = out(buf, 2)?;
    pdu[0] = function | 0x80;
    pdu[1] = exception.code();
    Ok(2)
}

/// Writes a FC03/04 response carrying `values` (§6.3, §6.4) and returns its length.
pub fn encode_registers(function: u8, values: &[u16], buf: &mut [u8]) -> Result<usize, EncodeError> {
    if values.is_empty() || values.len() > usize::from(MAX_READ_REGISTERS) {
        return Err(EncodeError::Quantity { count: values.len(), max: MAX_READ_REGISTERS });
    }
    let len = 2 + 2 * values.len();
    let pdu = out(buf, len)?;
    pdu[0] = function;
    pdu[1] = (2 * values.len()) as u8;
    for (pair, v) in pdu[2..].chunks_exact_mut(2).zip(values) {
        pair.copy_from_slice(&v.to_be_bytes());
    }
    Ok(len)
}

/// Writes a FC01/02 response carrying `count` bits from `bit(i)` (§6.1, §6.2) and returns its length.
pub fn encode_bits(
    function: u8,
    count: u16,
    mut bit: impl FnMut(u16) -> bool,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    if count == 0 || count > MAX_READ_BITS {
        return Err(EncodeError::Quantity { count: usize::from(count), max: MAX_READ_BITS });
    }
    let bytes = usize::from(count).div_ceil(8);
    let pdu = out(buf, 2 + bytes)?;
    pdu[0] = function;
    pdu[1] = bytes as u8;
    pdu[2..].fill(0);
    for i in (0..count).filter(|&i| bit(i)) {
        pdu[2 + usize::from(i) / 8] |= 1 << (i % 8);
    }
    Ok(2 + bytes)
}

/// Writes the response to a write request, which echoes its first five bytes (§6.5, §6.6, §6.11,
/// §6.12), and returns its length. A read request has no echo: `Quantity` with `max` 0.
pub fn encode_echo(request_pdu: &[u8], buf: &mut [u8]) -> Result<usize, EncodeError> {
    match (request_pdu.first(), request_pdu.get(..5)) {
        (Some(0x05 | 0x06 | 0x0F | 0x10), Some(head)) => {
            out(buf, 5)?.copy_from_slice(head);
            Ok(5)
        }
        _ => Err(EncodeError::Quantity { count: request_pdu.len(), max: 0 }),
    }
}
