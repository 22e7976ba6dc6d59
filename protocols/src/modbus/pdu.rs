//! Modbus PDUs, client side: requests into the caller's buffer, responses out of the bytes received.
//!
//! Section numbers are Modbus Application Protocol V1.1b3. A response decodes to
//! `Result<Result<Response, Exception>, PduError>`: the outer error is a frame that is malformed or does
//! not answer the request (the link failed), the inner one a device that answered with a refusal.

use core::fmt;

use super::address::Space;

/// Largest PDU (§4.1: 256-byte serial ADU less address and CRC).
pub const MAX_PDU: usize = 253;
/// Quantity limits (§6.1-6.4, §6.11, §6.12).
pub const MAX_READ_BITS: u16 = 2000;
pub const MAX_READ_REGISTERS: u16 = 125;
pub const MAX_WRITE_COILS: u16 = 1968;
pub const MAX_WRITE_REGISTERS: u16 = 123;

/// A request a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// FC01/02/03/04, by space.
    Read { space: Space, start: u16, count: u16 },
    /// FC05.
    WriteCoil { address: u16, on: bool },
    /// FC06.
    WriteRegister { address: u16, value: u16 },
    /// FC15.
    WriteCoils { start: u16, coils: &'a [bool] },
    /// FC16.
    WriteRegisters { start: u16, values: &'a [u16] },
}

/// Why a request or frame could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Zero items, or more than the function allows.
    Quantity { count: usize, max: u16 },
    /// The items run past address 65535.
    PastEnd,
    /// The caller's buffer is shorter than the frame.
    BufferTooSmall { need: usize },
    /// A PDU longer than [`MAX_PDU`] given to a framer.
    PduTooLong { len: usize },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::Quantity { count, max } => {
                write!(f, "{count} items in one request; Modbus allows 1 to {max}, so split it")
            }
            EncodeError::PastEnd => f.write_str("the request runs past address 65535"),
            EncodeError::BufferTooSmall { need } => write!(f, "the frame needs a buffer of {need} bytes"),
            EncodeError::PduTooLong { len } => {
                write!(f, "a PDU of {len} bytes is longer than Modbus allows ({MAX_PDU})")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

impl Request<'_> {
    pub fn function(&self) -> u8 {
        match self {
            Request::Read { space, .. } => space.read_function(),
            Request::WriteCoil { .. } => 0x05,
            Request::WriteRegister { .. } => 0x06,
            Request::WriteCoils { .. } => 0x0F,
            Request::WriteRegisters { .. } => 0x10,
        }
    }

    /// Checks the quantity against the spec's limits and the end of the address space.
    pub fn check(&self) -> Result<(), EncodeError> {
        let (start, count, max) = match *self {
            Request::Read { space, start, count } => {
                let max = if space.is_bits() { MAX_READ_BITS } else { MAX_READ_REGISTERS };
                (start, usize::from(count), max)
            }
            Request::WriteCoil { address, .. } | Request::WriteRegister { address, .. } => (address, 1, 1),
            Request::WriteCoils { start, coils } => (start, coils.len(), MAX_WRITE_COILS),
            Request::WriteRegisters { start, values } => (start, values.len(), MAX_WRITE_REGISTERS),
        };
        if count == 0 || count > usize::from(max) {
            return Err(EncodeError::Quantity { count, max });
        }
        if usize::from(start) + count > 0x1_0000 {
            return Err(EncodeError::PastEnd);
        }
        Ok(())
    }

    /// The four bytes after the function code, which write responses echo (§6.5, §6.6, §6.11, §6.12).
    fn head(&self) -> [u8; 4] {
        let (a, b) = match *self {
            Request::Read { start, count, .. } => (start, count),
            // §6.5: only 0xFF00 and 0x0000 are valid coil values.
            Request::WriteCoil { address, on } => (address, if on { 0xFF00 } else { 0x0000 }),
            Request::WriteRegister { address, value } => (address, value),
            Request::WriteCoils { start, coils } => (start, coils.len() as u16),
            Request::WriteRegisters { start, values } => (start, values.len() as u16),
        };
        let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
        [a[0], a[1], b[0], b[1]]
    }

    /// Bytes of data a read response carries, or a multiple write request sends.
    fn data_len(&self) -> usize {
        match *self {
            Request::Read { space, count, .. } if space.is_bits() => usize::from(count).div_ceil(8),
            Request::Read { count, .. } => 2 * usize::from(count),
            Request::WriteCoils { coils, .. } => coils.len().div_ceil(8),
            Request::WriteRegisters { values, .. } => 2 * values.len(),
            Request::WriteCoil { .. } | Request::WriteRegister { .. } => 0,
        }
    }

    /// Length of the PDU [`Request::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Request::WriteCoils { .. } | Request::WriteRegisters { .. } => 6 + self.data_len(),
            _ => 5,
        }
    }

    /// Length of a normal (not exception) response PDU.
    pub fn response_len(&self) -> usize {
        match self {
            Request::Read { .. } => 2 + self.data_len(),
            _ => 5,
        }
    }

    /// Writes the request PDU to `buf` and returns its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        self.check()?;
        let len = self.encoded_len();
        let out = buf.get_mut(..len).ok_or(EncodeError::BufferTooSmall { need: len })?;
        out[0] = self.function();
        out[1..5].copy_from_slice(&self.head());
        match *self {
            Request::WriteCoils { coils, .. } => {
                out[5] = self.data_len() as u8;
                // §6.11: coil n of the request is bit n % 8 of byte n / 8, least significant first.
                out[6..].fill(0);
                for (i, _) in coils.iter().enumerate().filter(|(_, on)| **on) {
                    out[6 + i / 8] |= 1 << (i % 8);
                }
            }
            Request::WriteRegisters { values, .. } => {
                out[5] = self.data_len() as u8;
                for (pair, v) in out[6..].chunks_exact_mut(2).zip(values) {
                    pair.copy_from_slice(&v.to_be_bytes());
                }
            }
            _ => {}
        }
        Ok(len)
    }
}

/// Bits of a FC01/02 response, least significant bit of the first byte first (§6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits<'a> {
    bytes: &'a [u8],
    count: u16,
}

impl<'a> Bits<'a> {
    /// The first `count` bits of `bytes`; the server side builds these from a FC15 request.
    pub(super) fn new(bytes: &'a [u8], count: u16) -> Self {
        Bits { bytes, count }
    }
}

impl Bits<'_> {
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bit `i` of the read, counted from its start address.
    pub fn get(&self, i: usize) -> Option<bool> {
        if i >= self.len() {
            return None;
        }
        self.bytes.get(i / 8).map(|b| b >> (i % 8) & 1 == 1)
    }

    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or(false))
    }
}

/// Registers of a FC03/04 response, big-endian on the wire (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registers<'a> {
    bytes: &'a [u8],
}

impl<'a> Registers<'a> {
    /// Big-endian register pairs; the server side builds these from a FC16 request.
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Registers { bytes }
    }
}

impl Registers<'_> {
    pub fn len(&self) -> usize {
        self.bytes.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.len() < 2
    }

    /// Register `i` of the read, counted from its start address.
    pub fn get(&self, i: usize) -> Option<u16> {
        let pair = self.bytes.get(2 * i..2 * i + 2)?;
        Some(u16::from_be_bytes([pair[0], pair[1]]))
    }

    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.bytes.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]]))
    }

    /// Copies as many registers as fit into `out` and returns how many.
    pub fn copy_to(&self, out: &mut [u16]) -> usize {
        out.iter_mut().zip(self.iter()).map(|(slot, r)| *slot = r).count()
    }
}

/// A normal response, checked against its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response<'a> {
    Bits(Bits<'a>),
    Registers(Registers<'a>),
    /// A write whose echo matched the request.
    Written,
}

/// An exception response: the device understood the request and refused it (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exception {
    IllegalFunction,
    IllegalDataAddress,
    IllegalDataValue,
    ServerDeviceFailure,
    Acknowledge,
    ServerDeviceBusy,
    MemoryParityError,
    GatewayPathUnavailable,
    GatewayTargetFailedToRespond,
    /// A code the spec does not define.
    Other(u8),
}

impl Exception {
    pub const KNOWN: [Exception; 9] = [
        Exception::IllegalFunction,
        Exception::IllegalDataAddress,
        Exception::IllegalDataValue,
        Exception::ServerDeviceFailure,
        Exception::Acknowledge,
        Exception::ServerDeviceBusy,
        Exception::MemoryParityError,
        Exception::GatewayPathUnavailable,
        Exception::GatewayTargetFailedToRespond,
    ];

    pub fn from_code(code: u8) -> Exception {
        Exception::KNOWN.into_iter().find(|e| e.code() == code).unwrap_or(Exception::Other(code))
    }

    pub fn code(self) -> u8 {
        match self {
            Exception::IllegalFunction => 0x01,
            Exception::IllegalDataAddress => 0x02,
            Exception::IllegalDataValue => 0x03,
            Exception::ServerDeviceFailure => 0x04,
            Exception::Acknowledge => 0x05,
            Exception::ServerDeviceBusy => 0x06,
            Exception::MemoryParityError => 0x08,
            Exception::GatewayPathUnavailable => 0x0A,
            Exception::GatewayTargetFailedToRespond => 0x0B,
            Exception::Other(code) => code,
        }
    }

    /// The spec's name for the code.
    pub fn name(self) -> &'static str {
        match self {
            Exception::IllegalFunction => "illegal function",
            Exception::IllegalDataAddress => "illegal data address",
            Exception::IllegalDataValue => "illegal data value",
            Exception::ServerDeviceFailure => "server device failure",
            Exception::Acknowledge => "acknowledge",
            Exception::ServerDeviceBusy => "server device busy",
            Exception::MemoryParityError => "memory parity error",
            Exception::GatewayPathUnavailable => "gateway path unavailable",
            Exception::GatewayTargetFailedToRespond => "gateway target device failed to respond",
            Exception::Other(_) => "unknown exception",
        }
    }

    /// The device (or gateway) is working and asks to be asked again later, not for a different request.
    pub fn retry_later(self) -> bool {
        matches!(
            self,
            Exception::Acknowledge | Exception::ServerDeviceBusy | Exception::GatewayTargetFailedToRespond
        )
    }

    fn hint(self) -> &'static str {
        match self {
            Exception::IllegalFunction => "the device does not support this function for this table",
            Exception::IllegalDataAddress => {
                "the device has no such register; check the tag's address and base, or forbid the range"
            }
            Exception::IllegalDataValue => "the device refused the value or quantity",
            Exception::GatewayPathUnavailable => "check the gateway's routing for this unit id",
            Exception::GatewayTargetFailedToRespond => "the device behind the gateway did not answer",
            _ => "the device reported a fault; retry later",
        }
    }
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the device refused: exception {} ({}); {}", self.code(), self.name(), self.hint())
    }
}

impl core::error::Error for Exception {}

/// A response that is malformed or does not answer the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PduError {
    /// Wrong length for the function (and, for reads, the quantity asked for).
    Length { expected: usize, got: usize },
    /// A function code that is neither the request's nor its exception code.
    Function { expected: u8, got: u8 },
    /// A read response whose byte count does not match the quantity asked for.
    ByteCount { expected: usize, got: u8 },
    /// A write response that does not echo the request.
    Echo,
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PduError::Length { expected, got } => {
                write!(f, "response of {got} bytes where {expected} were expected")
            }
            PduError::Function { expected, got } => {
                write!(f, "response with function code {got:#04x} to a request with {expected:#04x}")
            }
            PduError::ByteCount { expected, got } => {
                write!(f, "read response carries {got} data bytes where {expected} were asked for")
            }
            PduError::Echo => f.write_str("write response does not echo the request"),
        }
    }
}

impl core::error::Error for PduError {}

/// Decodes the response PDU `pdu` to `request`.
pub fn decode_response<'a>(
    request: &Request<'_>,
    pdu: &'a [u8],
) -> Result<Result<Response<'a>, Exception>, PduError> {
    let function = request.function();
    let got = pdu.first().copied().ok_or(PduError::Length { expected: 2, got: 0 })?;
    if got == function | 0x80 {
        return match *pdu {
            [_, code] => Ok(Err(Exception::from_code(code))),
            _ => Err(PduError::Length { expected: 2, got: pdu.len() }),
        };
    }
    if got != function {
        return Err(PduError::Function { expected: function, got });
    }
    if let (Request::Read { .. }, Some(&count)) = (request, pdu.get(1)) {
        if usize::from(count) != request.data_len() {
            return Err(PduError::ByteCount { expected: request.data_len(), got: count });
        }
    }
    let expected = request.response_len();
    if pdu.len() != expected {
        return Err(PduError::Length { expected, got: pdu.len() });
    }
    Ok(Ok(match *request {
        Request::Read { space, count, .. } if space.is_bits() => {
            Response::Bits(Bits { bytes: &pdu[2..], count })
        }
        Request::Read { .. } => Response::Registers(Registers { bytes: &pdu[2..] }),
        _ if pdu[1..5] == request.head() => Response::Written,
        _ => return Err(PduError::Echo),
    }))
}
