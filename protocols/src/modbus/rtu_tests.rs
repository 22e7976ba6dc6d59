//! RTU frames against published vectors, the stream decoder byte by byte, and t3.5.

use core::time::Duration;

use proptest::prelude::*;

use super::address::Space::{Coil, HoldingRegister};
use super::pdu::{self, EncodeError, Exception, Request, Response};
use super::rtu::{MAX_ADU, RtuError, RtuFrame, crc16, decode_response, encode_adu, encode_request, silence};

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

#[test]
fn crc_known_vectors() {
    // CRC-16/MODBUS check value, then frames from the serial-line spec and widely published examples.
    assert_eq!(crc16(b"123456789"), 0x4B37);
    let table = [
        ("01 03 00 6B 00 03", "74 17"),
        ("01 03 00 00 00 0A", "C5 CD"),
        ("11 03 00 6B 00 03", "76 87"),
        ("11 03 06 AE 41 56 52 43 40", "49 AD"),
        ("01 05 00 AC FF 00", "4C 1B"),
    ];
    for (body, crc) in table {
        assert_eq!(crc16(&hex(body)).to_le_bytes().to_vec(), hex(crc), "{body}");
    }
}

#[test]
fn requests_frame_with_the_crc_low_byte_first() {
    let req = Request::Read { space: HoldingRegister, start: 0x6B, count: 3 };
    let mut buf = [0u8; MAX_ADU];
    let n = encode_request(0x01, &req, &mut buf).unwrap();
    assert_eq!(buf[..n], hex("01 03 00 6B 00 03 74 17"));
    let mut via_pdu = [0u8; MAX_ADU];
    assert_eq!(encode_adu(0x01, &buf[1..n - 2], &mut via_pdu), Ok(n));
    assert_eq!(via_pdu[..n], buf[..n]);

    assert_eq!(encode_request(1, &req, &mut [0u8; 7]), Err(EncodeError::BufferTooSmall { need: 8 }));
    assert_eq!(encode_adu(1, &[0u8; 254], &mut buf), Err(EncodeError::PduTooLong { len: 254 }));
    assert_eq!(encode_adu(1, &[0u8; 253], &mut buf), Ok(MAX_ADU));
}

#[test]
fn a_response_arrives_byte_by_byte() {
    // Unit 0x11 answers three holding registers (the simplymodbus.ca example).
    let req = Request::Read { space: HoldingRegister, start: 0x6B, count: 3 };
    let wire = hex("11 03 06 AE 41 56 52 43 40 49 AD");
    for cut in 0..wire.len() {
        assert_eq!(decode_response(0x11, &req, &wire[..cut]), RtuFrame::Partial { need: need(cut, 11) });
    }
    let RtuFrame::Complete { pdu, len } = decode_response(0x11, &req, &wire) else { panic!("incomplete") };
    assert_eq!(len, 11);
    let Ok(Ok(Response::Registers(regs))) = pdu::decode_response(&req, pdu) else { panic!("{pdu:02X?}") };
    assert_eq!(regs.iter().collect::<Vec<_>>(), [0xAE41, 0x5652, 0x4340]);

    // Trailing bytes (the start of the next frame, or line noise) are left to the caller.
    let mut longer = wire.clone();
    longer.push(0x00);
    assert!(matches!(decode_response(0x11, &req, &longer), RtuFrame::Complete { len: 11, .. }));
}

/// Until the function code arrives the decoder only knows the shortest frame (an exception, 5 bytes).
fn need(have: usize, total: usize) -> usize {
    if have < 2 { 5 - have } else { total - have }
}

#[test]
fn exceptions_are_short_frames() {
    let req = Request::Read { space: Coil, start: 1185, count: 1 };
    let mut frame = hex("0A 81 02");
    frame.extend(crc16(&frame).to_le_bytes());
    assert_eq!(decode_response(0x0A, &req, &frame[..3]), RtuFrame::Partial { need: 2 });
    let RtuFrame::Complete { pdu, len: 5 } = decode_response(0x0A, &req, &frame) else { panic!() };
    assert_eq!(pdu::decode_response(&req, pdu), Ok(Err(Exception::IllegalDataAddress)));
}

#[test]
fn bytes_that_do_not_answer_are_corrupt_as_soon_as_it_shows() {
    let req = Request::Read { space: HoldingRegister, start: 0, count: 10 };
    let table: [(&str, RtuError); 5] = [
        ("02", RtuError::Unit { expected: 1, got: 2 }),
        ("02 03 14", RtuError::Unit { expected: 1, got: 2 }),
        ("01 04", RtuError::Function { expected: 3, got: 4 }),
        ("01 90 02", RtuError::Function { expected: 3, got: 0x90 }),
        ("01 03 12", RtuError::ByteCount { expected: 20, got: 0x12 }),
    ];
    for (bytes, want) in table {
        assert_eq!(decode_response(1, &req, &hex(bytes)), RtuFrame::Corrupt(want), "{bytes}");
    }
    let write = Request::WriteRegister { address: 1, value: 3 };
    let mut frame = hex("01 06 00 01 00 03 98 0B");
    assert!(matches!(decode_response(1, &write, &frame), RtuFrame::Complete { len: 8, .. }));
    frame[5] = 0x04;
    let got = decode_response(1, &write, &frame);
    assert!(matches!(got, RtuFrame::Corrupt(RtuError::Crc { received: 0x0B98, .. })), "{got:?}");
}

#[test]
fn silence_is_three_and_a_half_characters() {
    let table = [
        (9_600, 11, 4_011),
        (19_200, 11, 2_006),
        (1_200, 10, 29_167),
        (38_400, 11, 1_750),
        (115_200, 11, 1_750),
        (0, 11, 38_500_000),
    ];
    for (baud, bits, micros) in table {
        assert_eq!(silence(baud, bits), Duration::from_micros(micros), "{baud} baud");
    }
}

proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::testkit::cases()))]
    #[test]
    fn framed_responses_round_trip(unit in any::<u8>(), data in prop::collection::vec(any::<u8>(), 1..=125)) {
        let count = data.len() as u16;
        let req = Request::Read { space: Coil, start: 0, count: count * 8 };
        let pdu = [&[0x01, count as u8][..], &data].concat();
        let mut buf = [0u8; MAX_ADU];
        let n = encode_adu(unit, &pdu, &mut buf).unwrap();
        prop_assert_eq!(decode_response(unit, &req, &buf[..n]), RtuFrame::Complete { pdu: &pdu, len: n });
        // A single flipped bit anywhere after the unit id is caught.
        let mut bad = buf;
        bad[n - 1 - usize::from(data[0]) % (n - 1)] ^= 0x10;
        prop_assert!(matches!(decode_response(unit, &req, &bad[..n]), RtuFrame::Corrupt(_)));
    }
}
