//! PDUs against the worked examples of Modbus Application Protocol V1.1b3 §6 and §7, limits, and
//! properties: decoding arbitrary bytes never panics, and a device's well-formed answer decodes.

use proptest::prelude::*;

use super::address::Space::{Coil, DiscreteInput, HoldingRegister, InputRegister};
use super::pdu::{EncodeError, Exception, PduError, Request, Response, decode_response};

fn encoded(request: &Request<'_>) -> Vec<u8> {
    let mut buf = [0u8; 260];
    let n = request.encode(&mut buf).unwrap();
    buf[..n].to_vec()
}

fn registers(request: &Request<'_>, pdu: &[u8]) -> Vec<u16> {
    match decode_response(request, pdu) {
        Ok(Ok(Response::Registers(r))) => r.iter().collect(),
        other => panic!("expected registers, got {other:?}"),
    }
}

fn bits(request: &Request<'_>, pdu: &[u8]) -> Vec<bool> {
    match decode_response(request, pdu) {
        Ok(Ok(Response::Bits(b))) => b.iter().collect(),
        other => panic!("expected bits, got {other:?}"),
    }
}

/// "1100 1101" as the spec writes a byte, most significant bit first, read back in coil order.
fn lsb_first(bytes: &[u8], count: usize) -> Vec<bool> {
    (0..count).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect()
}

#[test]
fn spec_examples_for_reads() {
    // §6.1: coils 20-38 (wire 19, 19 coils): CD 6B 05.
    let req = Request::Read { space: Coil, start: 19, count: 19 };
    assert_eq!(encoded(&req), [0x01, 0x00, 0x13, 0x00, 0x13]);
    let got = bits(&req, &[0x01, 0x03, 0xCD, 0x6B, 0x05]);
    assert_eq!(got, lsb_first(&[0xCD, 0x6B, 0x05], 19));
    assert_eq!(&got[..8], [true, false, true, true, false, false, true, true]);

    // §6.2: discrete inputs 197-218 (wire 196, 22 inputs): AC DB 35.
    let req = Request::Read { space: DiscreteInput, start: 196, count: 22 };
    assert_eq!(encoded(&req), [0x02, 0x00, 0xC4, 0x00, 0x16]);
    assert_eq!(bits(&req, &[0x02, 0x03, 0xAC, 0xDB, 0x35]), lsb_first(&[0xAC, 0xDB, 0x35], 22));

    // §6.3: holding registers 108-110 hold 555, 0, 100.
    let req = Request::Read { space: HoldingRegister, start: 107, count: 3 };
    assert_eq!(encoded(&req), [0x03, 0x00, 0x6B, 0x00, 0x03]);
    let pdu = [0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64];
    assert_eq!(registers(&req, &pdu), [555, 0, 100]);

    // §6.4: input register 9 holds 10.
    let req = Request::Read { space: InputRegister, start: 8, count: 1 };
    assert_eq!(encoded(&req), [0x04, 0x00, 0x08, 0x00, 0x01]);
    assert_eq!(registers(&req, &[0x04, 0x02, 0x00, 0x0A]), [10]);
}

#[test]
fn spec_examples_for_writes_and_their_echoes() {
    let coils = [true, false, true, true, false, false, true, true, true, false];
    let values = [0x000A, 0x0102];
    let table: [(Request<'_>, &[u8], &[u8]); 5] = [
        // §6.5: coil 173 on.
        (Request::WriteCoil { address: 172, on: true }, &[0x05, 0x00, 0xAC, 0xFF, 0x00], &[]),
        (Request::WriteCoil { address: 172, on: false }, &[0x05, 0x00, 0xAC, 0x00, 0x00], &[]),
        // §6.6: register 2 to 3.
        (Request::WriteRegister { address: 1, value: 3 }, &[0x06, 0x00, 0x01, 0x00, 0x03], &[]),
        // §6.11: coils 20-29 to 1011 0011 10; the response echoes start and quantity only.
        (
            Request::WriteCoils { start: 19, coils: &coils },
            &[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01],
            &[0x0F, 0x00, 0x13, 0x00, 0x0A],
        ),
        // §6.12: registers 2-3 to 0x000A, 0x0102.
        (
            Request::WriteRegisters { start: 1, values: &values },
            &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02],
            &[0x10, 0x00, 0x01, 0x00, 0x02],
        ),
    ];
    for (req, wire, response) in table {
        assert_eq!(encoded(&req), wire, "{req:?}");
        assert_eq!(req.encoded_len(), wire.len());
        let response = if response.is_empty() { wire } else { response };
        assert_eq!(decode_response(&req, response), Ok(Ok(Response::Written)), "{req:?}");
        let mut wrong = response.to_vec();
        wrong[4] ^= 1;
        assert_eq!(decode_response(&req, &wrong), Err(PduError::Echo), "{req:?}");
    }
}

#[test]
fn exceptions_are_refusals_not_link_errors() {
    // §7: reading coil 1186 of a device that has none.
    let req = Request::Read { space: Coil, start: 1185, count: 1 };
    assert_eq!(encoded(&req), [0x01, 0x04, 0xA1, 0x00, 0x01]);
    assert_eq!(decode_response(&req, &[0x81, 0x02]), Ok(Err(Exception::IllegalDataAddress)));

    let codes = [(1, "illegal function"), (2, "illegal data address"), (3, "illegal data value")];
    let more = [(4, "server device failure"), (5, "acknowledge"), (6, "server device busy")];
    let gateway = [(8, "memory parity error"), (0x0A, "gateway path unavailable"), (0x0B, "gateway target")];
    for (code, name) in codes.into_iter().chain(more).chain(gateway) {
        let e = Exception::from_code(code);
        assert_eq!(e.code(), code);
        assert!(e.name().starts_with(name), "{code}: {}", e.name());
        assert!(!matches!(e, Exception::Other(_)));
    }
    assert_eq!(Exception::from_code(7), Exception::Other(7));
    assert!(Exception::ServerDeviceBusy.retry_later() && !Exception::IllegalDataAddress.retry_later());
    let text = Exception::IllegalDataAddress.to_string();
    assert!(text.contains("exception 2 (illegal data address)") && text.contains("address"), "{text}");
}

#[test]
fn responses_that_do_not_answer_the_request_are_errors() {
    let req = Request::Read { space: HoldingRegister, start: 0, count: 2 };
    let table: [(&[u8], PduError); 7] = [
        (&[], PduError::Length { expected: 2, got: 0 }),
        (&[0x04, 0x04, 0, 1, 0, 2], PduError::Function { expected: 0x03, got: 0x04 }),
        (&[0x03, 0x02, 0, 1], PduError::ByteCount { expected: 4, got: 2 }),
        (&[0x03, 0x04, 0, 1, 0], PduError::Length { expected: 6, got: 5 }),
        (&[0x03, 0x04, 0, 1, 0, 2, 9], PduError::Length { expected: 6, got: 7 }),
        (&[0x03], PduError::Length { expected: 6, got: 1 }),
        (&[0x83, 0x02, 0x00], PduError::Length { expected: 2, got: 3 }),
    ];
    for (pdu, want) in table {
        assert_eq!(decode_response(&req, pdu), Err(want), "{pdu:02X?}");
    }
    // An exception to another function is a mismatch, not a refusal.
    assert_eq!(decode_response(&req, &[0x84, 0x02]), Err(PduError::Function { expected: 3, got: 0x84 }));
}

#[test]
fn quantities_follow_the_spec_limits() {
    let regs = [0u16; 124];
    let coils = [false; 1969];
    let ok = |r: Request<'_>| r.check().is_ok();
    assert!(ok(Request::Read { space: HoldingRegister, start: 0, count: 125 }));
    assert!(ok(Request::Read { space: Coil, start: 0, count: 2000 }));
    assert!(ok(Request::WriteRegisters { start: 0, values: &regs[..123] }));
    assert!(ok(Request::WriteCoils { start: 0, coils: &coils[..1968] }));
    assert!(ok(Request::Read { space: InputRegister, start: 65535, count: 1 }));
    let table = [
        (
            Request::Read { space: InputRegister, start: 0, count: 126 },
            EncodeError::Quantity { count: 126, max: 125 },
        ),
        (
            Request::Read { space: DiscreteInput, start: 0, count: 2001 },
            EncodeError::Quantity { count: 2001, max: 2000 },
        ),
        (Request::Read { space: Coil, start: 0, count: 0 }, EncodeError::Quantity { count: 0, max: 2000 }),
        (Request::WriteRegisters { start: 0, values: &regs }, EncodeError::Quantity { count: 124, max: 123 }),
        (Request::WriteCoils { start: 0, coils: &coils }, EncodeError::Quantity { count: 1969, max: 1968 }),
        (Request::WriteRegisters { start: 0, values: &[] }, EncodeError::Quantity { count: 0, max: 123 }),
        (Request::Read { space: HoldingRegister, start: 65535, count: 2 }, EncodeError::PastEnd),
    ];
    for (req, want) in table {
        assert_eq!(req.encode(&mut [0u8; 300]), Err(want), "{req:?}");
    }
    let req = Request::WriteRegisters { start: 0, values: &regs[..123] };
    assert_eq!(req.encode(&mut [0u8; 251]), Err(EncodeError::BufferTooSmall { need: 252 }));
    assert_eq!(req.encode(&mut [0u8; 252]), Ok(252));
}

fn request() -> impl Strategy<Value = (u8, u16, u16, Vec<bool>, Vec<u16>)> {
    (
        0u8..8,
        any::<u16>(),
        1u16..2100,
        prop::collection::vec(any::<bool>(), 0..40),
        prop::collection::vec(any::<u16>(), 0..40),
    )
}

fn build<'a>(kind: u8, start: u16, count: u16, coils: &'a [bool], values: &'a [u16]) -> Request<'a> {
    let space = [Coil, DiscreteInput, HoldingRegister, InputRegister];
    match kind {
        0..2 => Request::Read { space: space[usize::from(kind)], start, count },
        // Mostly within the 125-register limit, sometimes just past it.
        2..4 => Request::Read { space: space[usize::from(kind)], start, count: 1 + count % 130 },
        4 => Request::WriteCoil { address: start, on: count % 2 == 1 },
        5 => Request::WriteRegister { address: start, value: count },
        6 => Request::WriteCoils { start, coils },
        _ => Request::WriteRegisters { start, values },
    }
}

proptest! {
    // About 3 % of drawn requests are outside the spec's limits and skipped: the reject budget grows with
    // the case count, or a 100 000-case run stops at proptest's default of 1024.
    #![proptest_config(proptest::prelude::ProptestConfig {
        max_global_rejects: crate::testkit::cases() / 10 + 1024,
        ..proptest::prelude::ProptestConfig::with_cases(crate::testkit::cases())
    })]
    #[test]
    fn a_well_formed_answer_decodes(
        (kind, start, count, coils, values) in request(),
        data in prop::collection::vec(any::<u8>(), 250),
    ) {
        let req = build(kind, start, count, &coils, &values);
        prop_assume!(req.check().is_ok());
        let wire = encoded(&req);
        let mut answer = wire[..5].to_vec();
        if let Request::Read { space, count, .. } = req {
            let n = req.response_len() - 2;
            answer = [&[wire[0], n as u8][..], &data[..n]].concat();
            match decode_response(&req, &answer) {
                Ok(Ok(Response::Bits(b))) if space.is_bits() => {
                    prop_assert_eq!(b.iter().collect::<Vec<_>>(), lsb_first(&data, usize::from(count)));
                }
                Ok(Ok(Response::Registers(r))) if !space.is_bits() => {
                    prop_assert_eq!(r.len(), usize::from(count));
                    prop_assert_eq!(r.get(0), Some(u16::from_be_bytes([data[0], data[1]])));
                }
                other => prop_assert!(false, "{:?}", other),
            }
        } else {
            prop_assert_eq!(decode_response(&req, &answer), Ok(Ok(Response::Written)));
        }
        let exception = [wire[0] | 0x80, data[0]];
        prop_assert_eq!(decode_response(&req, &exception), Ok(Err(Exception::from_code(data[0]))));
    }
}
