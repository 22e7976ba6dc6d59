//! The server side against the client side: every request the client encodes decodes to what it asked,
//! every response the server encodes decodes on the client, malformed requests give the spec's
//! exception, and no input panics.

use proptest::prelude::*;

use super::address::Space::{Coil, DiscreteInput, HoldingRegister, InputRegister};
use super::pdu::{Exception, Request, Response, decode_response};
use super::rtu::{FrameError, encode_adu, split_frame};
use super::server::{
    Indication, decode_request, encode_bits, encode_echo, encode_exception, encode_registers,
};

fn encoded(request: &Request<'_>) -> Vec<u8> {
    let mut buf = [0u8; 260];
    let n = request.encode(&mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn reads_decode_to_what_the_client_asked() {
    for space in [Coil, DiscreteInput, HoldingRegister, InputRegister] {
        let pdu = encoded(&Request::Read { space, start: 3054, count: 2 });
        assert_eq!(decode_request(&pdu), Ok(Indication::Read { space, start: 3054, count: 2 }));
    }
}

#[test]
fn writes_decode_with_their_values() {
    let pdu = encoded(&Request::WriteRegisters { start: 10, values: &[0x1234, 0xABCD, 7] });
    let Ok(Indication::WriteRegisters { start: 10, values }) = decode_request(&pdu) else { panic!() };
    assert_eq!(values.iter().collect::<Vec<_>>(), [0x1234, 0xABCD, 7]);

    let coils = [true, false, true, true, false, false, false, false, true];
    let pdu = encoded(&Request::WriteCoils { start: 19, coils: &coils });
    let Ok(Indication::WriteCoils { start: 19, coils: got }) = decode_request(&pdu) else { panic!() };
    assert_eq!(got.iter().collect::<Vec<_>>(), coils);

    let pdu = encoded(&Request::WriteCoil { address: 172, on: true });
    assert_eq!(decode_request(&pdu), Ok(Indication::WriteCoil { address: 172, on: true }));
    let pdu = encoded(&Request::WriteRegister { address: 1, value: 3 });
    assert_eq!(decode_request(&pdu), Ok(Indication::WriteRegister { address: 1, value: 3 }));
}

#[test]
fn malformed_requests_get_the_spec_exception() {
    let cases: [(&[u8], Exception); 8] = [
        (&[], Exception::IllegalFunction),
        (&[0x2B, 0x0E, 0x01, 0x00], Exception::IllegalFunction),
        (&[0x03, 0x00, 0x00, 0x00, 0x00], Exception::IllegalDataValue),
        (&[0x03, 0x00, 0x00, 0x00, 0x7E], Exception::IllegalDataValue),
        (&[0x03, 0xFF, 0xFF, 0x00, 0x02], Exception::IllegalDataAddress),
        (&[0x03, 0x00, 0x00, 0x00], Exception::IllegalDataValue),
        // §6.5: 0x1234 is not a coil value.
        (&[0x05, 0x00, 0x01, 0x12, 0x34], Exception::IllegalDataValue),
        // FC16 announcing 4 bytes for 1 register.
        (&[0x10, 0x00, 0x00, 0x00, 0x01, 0x04, 0, 1, 0, 2], Exception::IllegalDataValue),
    ];
    for (pdu, want) in cases {
        assert_eq!(decode_request(pdu), Err(want), "{pdu:02x?}");
    }
}

#[test]
fn responses_decode_on_the_client() {
    let mut buf = [0u8; 256];
    let req = Request::Read { space: InputRegister, start: 0, count: 3 };
    let n = encode_registers(0x04, &[1, 0xFFFF, 300], &mut buf).unwrap();
    let Ok(Ok(Response::Registers(r))) = decode_response(&req, &buf[..n]) else { panic!() };
    assert_eq!(r.iter().collect::<Vec<_>>(), [1, 0xFFFF, 300]);

    let req = Request::Read { space: Coil, start: 0, count: 10 };
    let n = encode_bits(0x01, 10, |i| i % 3 == 0, &mut buf).unwrap();
    let Ok(Ok(Response::Bits(b))) = decode_response(&req, &buf[..n]) else { panic!() };
    assert_eq!(b.iter().collect::<Vec<_>>(), (0..10).map(|i| i % 3 == 0).collect::<Vec<_>>());

    let req = Request::WriteRegisters { start: 5, values: &[9, 8] };
    let n = encode_echo(&encoded(&req), &mut buf).unwrap();
    assert_eq!(decode_response(&req, &buf[..n]), Ok(Ok(Response::Written)));

    let n = encode_exception(0x03, Exception::IllegalDataAddress, &mut buf).unwrap();
    let req = Request::Read { space: HoldingRegister, start: 0, count: 1 };
    assert_eq!(decode_response(&req, &buf[..n]), Ok(Err(Exception::IllegalDataAddress)));
}

#[test]
fn frames_split_by_crc() {
    let mut buf = [0u8; 256];
    let n = encode_adu(17, &[0x03, 0x00, 0x6B, 0x00, 0x03], &mut buf).unwrap();
    // Modbus over Serial Line V1.02 §6.2.2 example frame ends 76 87.
    assert_eq!(&buf[n - 2..n], [0x76, 0x87]);
    assert_eq!(split_frame(&buf[..n]), Ok((17, &[0x03, 0x00, 0x6B, 0x00, 0x03][..])));
    buf[3] ^= 0x10;
    assert!(matches!(split_frame(&buf[..n]), Err(FrameError::Crc { .. })));
    assert_eq!(split_frame(&buf[..3]), Err(FrameError::Length(3)));
}

proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::testkit::cases()))]
    #[test]
    fn every_register_read_round_trips(start in 0u16..=65535, count in 1u16..=125) {
        let req = Request::Read { space: HoldingRegister, start, count };
        if req.check().is_ok() {
            let pdu = encoded(&req);
            let want = Indication::Read { space: HoldingRegister, start, count };
            prop_assert_eq!(decode_request(&pdu), Ok(want));
        } else {
            prop_assert!(decode_request(&encoded_unchecked(start, count)).is_err());
        }
    }
}

fn encoded_unchecked(start: u16, count: u16) -> Vec<u8> {
    let (a, b) = (start.to_be_bytes(), count.to_be_bytes());
    vec![0x03, a[0], a[1], b[0], b[1]]
}
