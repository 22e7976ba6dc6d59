//! Every Modbus frame read from outside, as properties: random bytes, and valid frames with up to three
//! mutations (a flipped bit, a byte set, cut short, extended, a byte inserted or deleted, a span
//! repeated, which between them make wrong length fields, byte counts and CRCs), through the TCP and RTU
//! client decoders, the PDU decoder and the server's request decoder. No panic; an accepted frame is
//! exactly what was sent; a refused one names the field and the value it saw.
//! `PROPTEST_CASES` sets the count (10 000 by default; `benches/fuzz-long.sh` runs 100 000).

use proptest::prelude::*;

use super::address::Space::{Coil, DiscreteInput, HoldingRegister, InputRegister};
use super::pdu::{self, MAX_PDU, PduError, Request, Response};
use super::rtu::{self, FrameError, RtuError, RtuFrame, crc16};
use super::server::{self, Indication};
use super::tcp::{self, MBAP_LEN, Mbap, MbapError, TcpFrame};
use crate::testkit::{self, Mutation, mutated, mutations, noise};

/// A valid request, owned so a strategy can hold it.
#[derive(Debug, Clone)]
struct Asked {
    kind: u8,
    start: u16,
    count: u16,
    coils: Vec<bool>,
    values: Vec<u16>,
}

impl Asked {
    fn request(&self) -> Request<'_> {
        let space = [Coil, DiscreteInput, HoldingRegister, InputRegister];
        let (start, count) = (self.start, self.count);
        match self.kind {
            0..4 => Request::Read { space: space[usize::from(self.kind)], start, count },
            4 => Request::WriteCoil { address: start, on: count % 2 == 1 },
            5 => Request::WriteRegister { address: start, value: count },
            6 => Request::WriteCoils { start, coils: &self.coils },
            _ => Request::WriteRegisters { start, values: &self.values },
        }
    }

    fn pdu(&self) -> Vec<u8> {
        let mut buf = [0u8; MAX_PDU];
        let n = self.request().encode(&mut buf).expect("the strategy makes valid requests");
        buf[..n].to_vec()
    }

    /// The device's answer: the values read from `data`, the write's echo, or exception `code`.
    fn answer(&self, data: &[u8], exception: Option<u8>) -> Vec<u8> {
        let req = self.request();
        let function = req.function();
        match (exception, req) {
            (Some(code), _) => vec![function | 0x80, code],
            (None, Request::Read { .. }) => {
                let n = req.response_len() - 2;
                [&[function, n as u8][..], &data[..n]].concat()
            }
            (None, _) => self.pdu()[..5].to_vec(),
        }
    }
}

fn asked() -> impl Strategy<Value = Asked> {
    (
        0u8..8,
        any::<u16>(),
        any::<u16>(),
        prop::collection::vec(any::<bool>(), 1..100),
        prop::collection::vec(any::<u16>(), 1..=123),
    )
        .prop_map(|(kind, start, n, coils, values)| {
            let count = match kind {
                0..2 => 1 + n % 2000,
                2..4 => 1 + n % 125,
                _ => n,
            };
            let len = match kind {
                0..4 => usize::from(count),
                6 => coils.len(),
                7 => values.len(),
                _ => 1,
            };
            // Within the address space: a request past 65535 is the encoder's to refuse, not ours.
            let start = start.min((0x1_0000 - len) as u16);
            Asked { kind, start, count, coils, values }
        })
}

/// Any request, also those no valid client sends (no items, too many, past 65535), which the
/// decoders must survive all the same.
fn any_asked() -> impl Strategy<Value = Asked> {
    (
        0u8..8,
        any::<u16>(),
        any::<u16>(),
        prop::collection::vec(any::<bool>(), 0..2000),
        prop::collection::vec(any::<u16>(), 0..130),
    )
        .prop_map(|(kind, start, count, coils, values)| Asked { kind, start, count, coils, values })
}

fn exception() -> impl Strategy<Value = Option<u8>> {
    prop::option::weighted(0.2, any::<u8>())
}

/// A PDU the client decoder accepted is the request's answer; a refusal names what it saw.
fn check_pdu(req: &Request<'_>, pdu: &[u8]) -> Result<(), TestCaseError> {
    match pdu::decode_response(req, pdu) {
        Ok(Ok(Response::Registers(r))) => prop_assert_eq!(r.len() * 2 + 2, pdu.len()),
        Ok(Ok(Response::Bits(b))) => prop_assert_eq!(b.len().div_ceil(8) + 2, pdu.len()),
        Ok(Ok(Response::Written)) => prop_assert_eq!(pdu.len(), 5),
        Ok(Err(e)) => prop_assert_eq!(e.code(), pdu[1]),
        Err(e) => {
            let text = e.to_string();
            let named = match e {
                PduError::Length { got, .. } => got == pdu.len() && text.contains(&got.to_string()),
                PduError::Function { got, .. } => got == pdu[0] && text.contains(&format!("{got:#04x}")),
                PduError::ByteCount { got, .. } => got == pdu[1] && text.contains(&got.to_string()),
                PduError::Echo => text.contains("echo"),
            };
            prop_assert!(named, "{:?} from {:02X?}: {}", e, pdu, text);
        }
    }
    Ok(())
}

fn changed_one_byte(changes: &[Mutation], valid: &[u8], got: &[u8]) -> bool {
    changes.len() == 1 && matches!(changes[0], Mutation::Flip(..) | Mutation::Set(..)) && got != valid
}

proptest! {
    #![proptest_config(testkit::config())]

    #[test]
    fn tcp_frames_decode_to_what_was_sent_or_name_the_header_field(
        asked in asked(),
        (t, unit) in any::<(u16, u8)>(),
        data in prop::collection::vec(any::<u8>(), 250),
        exception in exception(),
        changes in mutations(),
        random in noise(300),
    ) {
        let req = asked.request();
        let answer = asked.answer(&data, exception);
        let mut buf = [0u8; tcp::MAX_ADU];
        let n = tcp::encode_adu(t, unit, &answer, &mut buf).unwrap();
        let valid = &buf[..n];
        let bytes = random.unwrap_or_else(|| mutated(valid, &changes));
        match tcp::decode_adu(&bytes) {
            TcpFrame::Complete { header, pdu, len } => {
                prop_assert_eq!(len, MBAP_LEN + header.pdu_len());
                let mut again = [0u8; tcp::MAX_ADU];
                let m = tcp::encode_adu(header.transaction, header.unit, pdu, &mut again).unwrap();
                prop_assert_eq!(&again[..m], &bytes[..len]);
                if bytes == valid {
                    prop_assert_eq!((header.transaction, header.unit, pdu), (t, unit, &answer[..]));
                }
                check_pdu(&req, pdu)?;
            }
            TcpFrame::Partial { need } => {
                prop_assert!(need > 0);
                let whole = match bytes.get(4..6) {
                    Some(l) if bytes.len() >= MBAP_LEN => MBAP_LEN - 1 + usize::from(u16::from_be_bytes([l[0], l[1]])),
                    _ => MBAP_LEN,
                };
                prop_assert_eq!(bytes.len() + need, whole);
            }
            TcpFrame::Corrupt(e) => {
                let word = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
                let text = e.to_string();
                let named = match e {
                    MbapError::Protocol(p) => p == word(2) && text.contains(&format!("protocol id {p}")),
                    MbapError::Length(l) => l == word(4) && text.contains(&format!("MBAP length {l}")),
                };
                prop_assert!(named, "{:?} from {:02X?}: {}", e, bytes, text);
                prop_assert!(Mbap::decode(bytes[..MBAP_LEN].try_into().unwrap()).is_err());
            }
        }
    }

    #[test]
    fn rtu_answers_decode_to_what_was_sent_or_name_the_field(
        asked in asked(),
        unit in any::<u8>(),
        data in prop::collection::vec(any::<u8>(), 250),
        exception in exception(),
        changes in mutations(),
        random in noise(300),
    ) {
        let req = asked.request();
        let answer = asked.answer(&data, exception);
        let mut buf = [0u8; rtu::MAX_ADU];
        let n = rtu::encode_adu(unit, &answer, &mut buf).unwrap();
        let valid = &buf[..n];
        let from_noise = random.is_some();
        let bytes = random.unwrap_or_else(|| mutated(valid, &changes));
        match rtu::decode_response(unit, &req, &bytes) {
            RtuFrame::Complete { pdu, len } => {
                prop_assert_eq!(bytes[0], unit);
                prop_assert_eq!(crc16(&bytes[..len - 2]).to_le_bytes(), [bytes[len - 2], bytes[len - 1]]);
                prop_assert_eq!(pdu, &bytes[1..len - 2]);
                // CRC-16 catches every error within 16 bits, so one byte changed is never taken.
                prop_assert!(from_noise || len != valid.len() || !changed_one_byte(&changes, valid, &bytes[..len]));
                if bytes == valid {
                    prop_assert_eq!(pdu, &answer[..]);
                }
                check_pdu(&req, pdu)?;
            }
            RtuFrame::Partial { need } => {
                prop_assert!(need > 0 && bytes.len() + need <= rtu::MAX_ADU);
            }
            RtuFrame::Corrupt(e) => {
                let text = e.to_string();
                let named = match e {
                    RtuError::Unit { got, .. } => got == bytes[0] && text.contains(&format!("unit {}", got)),
                    RtuError::Function { got, .. } => got == bytes[1] && text.contains(&format!("{:#04x}", got)),
                    RtuError::ByteCount { got, .. } => got == bytes[2] && text.contains(&got.to_string()),
                    RtuError::Crc { received, .. } => text.contains(&format!("{:#06x}", received)),
                };
                prop_assert!(named, "{:?} from {:02X?}: {}", e, bytes, text);
            }
        }
    }

    #[test]
    fn a_frame_arriving_byte_by_byte_waits_then_completes(
        asked in asked(),
        unit in any::<u8>(),
        data in prop::collection::vec(any::<u8>(), 250),
        exception in exception(),
    ) {
        let req = asked.request();
        let answer = asked.answer(&data, exception);
        let (mut t_buf, mut r_buf) = ([0u8; tcp::MAX_ADU], [0u8; rtu::MAX_ADU]);
        let t_len = tcp::encode_adu(7, unit, &answer, &mut t_buf).unwrap();
        let r_len = rtu::encode_adu(unit, &answer, &mut r_buf).unwrap();
        for cut in 0..t_len {
            let TcpFrame::Partial { need } = tcp::decode_adu(&t_buf[..cut]) else { return Err(TestCaseError::fail(format!("tcp cut {}", cut))) };
            prop_assert!(cut + need <= t_len);
        }
        for cut in 0..r_len {
            let RtuFrame::Partial { need } = rtu::decode_response(unit, &req, &r_buf[..cut]) else { return Err(TestCaseError::fail(format!("rtu cut {}", cut))) };
            prop_assert!(cut + need <= r_len);
        }
        prop_assert_eq!(tcp::decode_adu(&t_buf[..t_len]), TcpFrame::Complete { header: Mbap::new(7, unit, answer.len()).unwrap(), pdu: &answer, len: t_len });
        prop_assert_eq!(rtu::decode_response(unit, &req, &r_buf[..r_len]), RtuFrame::Complete { pdu: &answer, len: r_len });
    }

    #[test]
    fn server_requests_decode_to_what_was_asked_or_the_specs_exception(
        asked in asked(),
        unit in any::<u8>(),
        changes in mutations(),
        random in noise(300),
    ) {
        let valid = asked.pdu();
        let pdu = random.unwrap_or_else(|| mutated(&valid, &changes));
        match server::decode_request(&pdu) {
            Ok(ind) => {
                prop_assert_eq!(ind.function(), pdu[0]);
                let (start, count) = ind.range();
                prop_assert!(count >= 1 && u32::from(start) + u32::from(count) <= 0x1_0000);
                let (coils, values): (Vec<bool>, Vec<u16>) = match ind {
                    Indication::WriteCoils { coils, .. } => (coils.iter().collect(), vec![]),
                    Indication::WriteRegisters { values, .. } => (vec![], values.iter().collect()),
                    _ => (vec![], vec![]),
                };
                let again = match ind {
                    Indication::Read { space, start, count } => Request::Read { space, start, count },
                    Indication::WriteCoil { address, on } => Request::WriteCoil { address, on },
                    Indication::WriteRegister { address, value } => Request::WriteRegister { address, value },
                    Indication::WriteCoils { start, .. } => Request::WriteCoils { start, coils: &coils },
                    Indication::WriteRegisters { start, .. } => Request::WriteRegisters { start, values: &values },
                };
                let mut buf = [0u8; MAX_PDU];
                let n = again.encode(&mut buf).unwrap();
                // Exactly the bytes received, but for the unused high bits of a coil write's last byte.
                let used = count % 8;
                let coils_written = matches!(ind, Indication::WriteCoils { .. });
                let mask = if coils_written && used != 0 { (1u8 << used) - 1 } else { 0xFF };
                prop_assert_eq!(n, pdu.len());
                prop_assert_eq!(&buf[..n - 1], &pdu[..n - 1]);
                prop_assert_eq!(buf[n - 1], pdu[n - 1] & mask);
                if pdu == valid {
                    prop_assert_eq!(&buf[..n], &valid[..]);
                }
            }
            Err(e) => {
                // §7: 01 for an unknown function, 03 for a bad quantity or length, 02 past 65535.
                let known = pdu.first().is_some_and(|f| matches!(f, 1..=6 | 0x0F | 0x10));
                prop_assert_eq!(e.code() == 1, !known, "{:?} for {:02X?}", e, pdu);
                prop_assert!(matches!(e.code(), 1..=3), "{:?}", e);
            }
        }
        let mut frame = [0u8; rtu::MAX_ADU + 20];
        if let (false, Ok(n)) = (pdu.is_empty(), rtu::encode_adu(unit, &pdu, &mut frame)) {
            prop_assert_eq!(rtu::split_frame(&frame[..n]), Ok((unit, &pdu[..])));
        }
        let mut echo = [0u8; MAX_PDU];
        match server::encode_echo(&pdu, &mut echo) {
            Ok(n) => prop_assert_eq!(&echo[..n], &pdu[..5]),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn server_frames_cut_by_silence_split_or_name_the_length_or_crc(
        asked in asked(),
        unit in any::<u8>(),
        changes in mutations(),
        random in noise(300),
    ) {
        let mut buf = [0u8; rtu::MAX_ADU];
        let n = rtu::encode_adu(unit, &asked.pdu(), &mut buf).unwrap();
        let valid = &buf[..n];
        let from_noise = random.is_some();
        let frame = random.unwrap_or_else(|| mutated(valid, &changes));
        match rtu::split_frame(&frame) {
            Ok((u, pdu)) => {
                prop_assert_eq!((u, pdu), (frame[0], &frame[1..frame.len() - 2]));
                prop_assert!(from_noise || !changed_one_byte(&changes, valid, &frame));
            }
            Err(e @ FrameError::Length(len)) => {
                let named = e.to_string().contains(&format!("{len} bytes"));
                prop_assert!(named && len == frame.len() && !(4..=rtu::MAX_ADU).contains(&len), "{}", e);
            }
            Err(e @ FrameError::Crc { received, computed }) => {
                let tail = [frame[frame.len() - 2], frame[frame.len() - 1]];
                prop_assert_eq!((received, computed), (u16::from_le_bytes(tail), crc16(&frame[..frame.len() - 2])));
                let named = e.to_string().contains(&format!("{received:#06x}"));
                prop_assert!(named, "{}", e);
            }
        }
    }

    #[test]
    fn answers_to_any_request_even_one_never_sent_decode_without_panic(
        asked in any_asked(),
        unit in any::<u8>(),
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let req = asked.request();
        check_pdu(&req, &bytes)?;
        if let RtuFrame::Complete { pdu, len } = rtu::decode_response(unit, &req, &bytes) {
            prop_assert!(len <= bytes.len() && pdu.len() + 3 == len);
        }
        let _ = req.encode(&mut [0u8; 64]);
    }
}
