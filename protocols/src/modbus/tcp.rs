//! Modbus TCP framing: the MBAP header (Modbus Messaging on TCP/IP Implementation Guide V1.0b §3.1.3).
//!
//! The header's length field delimits the frame, so the decoder needs no request; the client matches a
//! frame to its request by transaction id and drops stale ones (answers that arrive after a timeout).
//! Gateways that carry RTU frames over TCP do not use MBAP; see [`super::rtu`].

use core::fmt;

use super::pdu::{EncodeError, MAX_PDU};

/// Bytes in the MBAP header.
pub const MBAP_LEN: usize = 7;
/// Largest Modbus TCP frame: header and PDU.
pub const MAX_ADU: usize = MBAP_LEN + MAX_PDU;

/// The MBAP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mbap {
    /// Chosen by the client, echoed by the server.
    pub transaction: u16,
    /// Always 0 for Modbus.
    pub protocol: u16,
    /// Bytes that follow the length field: the unit id and the PDU.
    pub length: u16,
    /// The device behind a gateway; the guide asks for 0xFF when the TCP device is the target itself.
    pub unit: u8,
}

/// Why a header cannot start a Modbus frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MbapError {
    /// A protocol id other than 0: the peer speaks something else on this port.
    Protocol(u16),
    /// A length that leaves no function code, or a PDU longer than [`MAX_PDU`].
    Length(u16),
}

impl fmt::Display for MbapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MbapError::Protocol(p) => {
                write!(f, "protocol id {p} in the MBAP header where Modbus has 0; is this a Modbus port?")
            }
            MbapError::Length(n) => {
                write!(f, "MBAP length {n} is outside 2..={}; the stream is out of step", MAX_PDU + 1)
            }
        }
    }
}

impl core::error::Error for MbapError {}

impl Mbap {
    /// The header for a PDU of `pdu_len` bytes.
    pub fn new(transaction: u16, unit: u8, pdu_len: usize) -> Result<Mbap, EncodeError> {
        if pdu_len > MAX_PDU {
            return Err(EncodeError::PduTooLong { len: pdu_len });
        }
        Ok(Mbap { transaction, protocol: 0, length: pdu_len as u16 + 1, unit })
    }

    pub fn encode(&self) -> [u8; MBAP_LEN] {
        let [t0, t1] = self.transaction.to_be_bytes();
        let [p0, p1] = self.protocol.to_be_bytes();
        let [l0, l1] = self.length.to_be_bytes();
        [t0, t1, p0, p1, l0, l1, self.unit]
    }

    /// Reads and checks a header.
    pub fn decode(bytes: &[u8; MBAP_LEN]) -> Result<Mbap, MbapError> {
        let word = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
        let header = Mbap { transaction: word(0), protocol: word(2), length: word(4), unit: bytes[6] };
        if header.protocol != 0 {
            return Err(MbapError::Protocol(header.protocol));
        }
        if !(2..=MAX_PDU as u16 + 1).contains(&header.length) {
            return Err(MbapError::Length(header.length));
        }
        Ok(header)
    }

    /// Bytes of PDU that follow the header.
    pub fn pdu_len(&self) -> usize {
        usize::from(self.length).saturating_sub(1)
    }
}

/// Frames `pdu` behind an MBAP header into `buf` and returns the frame's length.
pub fn encode_adu(transaction: u16, unit: u8, pdu: &[u8], buf: &mut [u8]) -> Result<usize, EncodeError> {
    let header = Mbap::new(transaction, unit, pdu.len())?;
    let len = MBAP_LEN + pdu.len();
    let out = buf.get_mut(..len).ok_or(EncodeError::BufferTooSmall { need: len })?;
    out[..MBAP_LEN].copy_from_slice(&header.encode());
    out[MBAP_LEN..].copy_from_slice(pdu);
    Ok(len)
}

/// What the bytes received so far hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpFrame<'a> {
    /// Wait for at least `need` more bytes.
    Partial { need: usize },
    /// A whole frame of `len` bytes; bytes after `len` start the next one.
    Complete { header: Mbap, pdu: &'a [u8], len: usize },
    /// Not a Modbus frame: the stream cannot be resynchronised, so close the connection.
    Corrupt(MbapError),
}

/// Decodes one frame (request or response) from the start of `bytes`.
pub fn decode_adu(bytes: &[u8]) -> TcpFrame<'_> {
    let Some(head) = bytes.first_chunk::<MBAP_LEN>() else {
        return TcpFrame::Partial { need: MBAP_LEN - bytes.len() };
    };
    let header = match Mbap::decode(head) {
        Ok(h) => h,
        Err(e) => return TcpFrame::Corrupt(e),
    };
    let len = MBAP_LEN + header.pdu_len();
    match bytes.get(MBAP_LEN..len) {
        Some(pdu) => TcpFrame::Complete { header, pdu, len },
        None => TcpFrame::Partial { need: len - bytes.len() },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::modbus::address::Space;
    use crate::modbus::pdu::{self, Request, Response};

    #[test]
    fn read_holding_registers_over_tcp() {
        let req = Request::Read { space: Space::HoldingRegister, start: 0x6B, count: 3 };
        let mut pdu_buf = [0u8; MAX_PDU];
        let n = req.encode(&mut pdu_buf).unwrap();
        let mut buf = [0u8; MAX_ADU];
        let len = encode_adu(0x0001, 0x11, &pdu_buf[..n], &mut buf).unwrap();
        assert_eq!(buf[..len], [0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03]);

        let answer =
            [0x00, 0x01, 0x00, 0x00, 0x00, 0x09, 0x11, 0x03, 0x06, 0xAE, 0x41, 0x56, 0x52, 0x43, 0x40];
        for cut in 0..answer.len() {
            let need = if cut < MBAP_LEN { MBAP_LEN - cut } else { answer.len() - cut };
            assert_eq!(decode_adu(&answer[..cut]), TcpFrame::Partial { need }, "{cut}");
        }
        let TcpFrame::Complete { header, pdu, len } = decode_adu(&answer) else { panic!() };
        assert_eq!((header.transaction, header.unit, len), (1, 0x11, answer.len()));
        let Ok(Ok(Response::Registers(r))) = pdu::decode_response(&req, pdu) else { panic!("{pdu:02X?}") };
        assert_eq!(r.iter().collect::<Vec<_>>(), [0xAE41, 0x5652, 0x4340]);
    }

    #[test]
    fn back_to_back_frames_split_at_the_length() {
        let mut stream = Vec::new();
        for t in 0..3u16 {
            let mut buf = [0u8; MAX_ADU];
            let n = encode_adu(t, 1, &[0x83, t as u8 + 1], &mut buf).unwrap();
            stream.extend_from_slice(&buf[..n]);
        }
        let mut rest = &stream[..];
        for t in 0..3u16 {
            let TcpFrame::Complete { header, pdu, len } = decode_adu(rest) else { panic!("{rest:02X?}") };
            assert_eq!((header.transaction, pdu), (t, &[0x83, t as u8 + 1][..]));
            rest = &rest[len..];
        }
        assert_eq!(decode_adu(rest), TcpFrame::Partial { need: MBAP_LEN });
    }

    #[test]
    fn headers_that_are_not_modbus_are_corrupt() {
        let table = [
            ([0, 1, 0, 1, 0, 6, 1], MbapError::Protocol(1)),
            ([0, 1, 0, 0, 0, 1, 1], MbapError::Length(1)),
            ([0, 1, 0, 0, 0, 0, 1], MbapError::Length(0)),
            ([0, 1, 0, 0, 0, 255, 1], MbapError::Length(255)),
            // "HTTP/1." on the Modbus port.
            (*b"HTTP/1.", MbapError::Protocol(0x5450)),
        ];
        for (head, want) in table {
            assert_eq!(decode_adu(&head), TcpFrame::Corrupt(want), "{head:02X?}");
        }
        assert!(matches!(decode_adu(&[0, 1, 0, 0, 0, 254, 1]), TcpFrame::Partial { need: 253 }));
        assert_eq!(encode_adu(0, 1, &[0; 254], &mut [0; 300]), Err(EncodeError::PduTooLong { len: 254 }));
        assert_eq!(encode_adu(0, 1, &[0; 5], &mut [0; 11]), Err(EncodeError::BufferTooSmall { need: 12 }));
    }

    proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::testkit::cases()))]
        #[test]
        fn frames_round_trip(t in any::<u16>(), unit in any::<u8>(), pdu in prop::collection::vec(any::<u8>(), 1..=MAX_PDU)) {
            let mut buf = [0u8; MAX_ADU];
            let n = encode_adu(t, unit, &pdu, &mut buf).unwrap();
            let header = Mbap::new(t, unit, pdu.len()).unwrap();
            prop_assert_eq!(Mbap::decode(&header.encode()), Ok(header));
            prop_assert_eq!(decode_adu(&buf[..n]), TcpFrame::Complete { header, pdu: &pdu, len: n });
        }
    }
}
