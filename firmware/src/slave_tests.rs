//! The slave against the client side of `protocols`: requests a master encodes are answered with frames
//! the master decodes; noise, cut frames, other units and broadcasts are dropped and counted; no byte
//! stream with any timing makes it panic or answer with a bad frame.

use proptest::prelude::*;
use protocols::modbus::pdu::{Request, Response, decode_response};
use protocols::modbus::rtu::{self, RtuFrame, encode_request};
use protocols::modbus::{Exception, Space};

use crate::loop_current::LoopStatus;
use crate::registers::{Bank, RegisterMap};
use crate::slave::Slave;

const T35: u32 = 2_006; // 19200 baud, 11 bits: 3.5 × 11 / 19200 s, rounded up

/// A UART as the slave sees it: bytes waiting to be read, bytes it wrote.
#[derive(Default)]
struct Wire {
    inbound: std::collections::VecDeque<u8>,
    sent: Vec<u8>,
}

impl embedded_io::ErrorType for Wire {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = buf.len().min(self.inbound.len());
        for slot in &mut buf[..n] {
            *slot = self.inbound.pop_front().unwrap_or(0);
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for Wire {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.inbound.is_empty())
    }
}

impl embedded_io::Write for Wire {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.sent.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn frame(unit: u8, request: &Request<'_>) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = encode_request(unit, request, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Sends `bytes` at `at`, then runs the slave's loop until well past t3.5; returns what it answered.
fn exchange(slave: &mut Slave, bank: &mut dyn Bank, wire: &mut Wire, bytes: &[u8], at: &mut u32) -> Vec<u8> {
    wire.inbound.extend(bytes);
    for _ in 0..4 {
        slave.serve(wire, bank, *at).unwrap();
        *at = at.wrapping_add(T35);
    }
    std::mem::take(&mut wire.sent)
}

fn answer<'a>(request: &Request<'_>, bytes: &'a [u8]) -> Result<Response<'a>, Exception> {
    match rtu::decode_response(7, request, bytes) {
        RtuFrame::Complete { pdu, len } if len == bytes.len() => decode_response(request, pdu).unwrap(),
        other => panic!("not a whole answer: {other:?} in {bytes:02x?}"),
    }
}

fn node() -> (Slave, RegisterMap, Wire) {
    let mut map = RegisterMap::default();
    map.set_climate(21.5, 45.0, 0);
    map.set_channel(1, 7.5, LoopStatus::Ok);
    (Slave::new(7, 19_200, 11), map, Wire::default())
}

#[test]
fn a_read_is_answered_after_the_silence_with_the_registers() {
    let (mut slave, mut map, mut wire) = node();
    let req = Request::Read { space: Space::InputRegister, start: 0, count: 4 };
    let mut at = u32::MAX - 3_000; // the timer wraps during the exchange
    let got = exchange(&mut slave, &mut map, &mut wire, &frame(7, &req), &mut at);
    let Ok(Response::Registers(r)) = answer(&req, &got) else { panic!("{got:02x?}") };
    let v: Vec<u16> = r.iter().collect();
    assert_eq!(f32::from_bits(u32::from(v[0]) << 16 | u32::from(v[1])), 21.5);
    assert_eq!(f32::from_bits(u32::from(v[2]) << 16 | u32::from(v[3])), 45.0);
    assert_eq!(slave.stats.answered, 1);
}

#[test]
fn no_answer_before_the_line_has_been_silent_for_t35() {
    let (mut slave, mut map, mut wire) = node();
    let req = Request::Read { space: Space::HoldingRegister, start: 2, count: 1 };
    wire.inbound.extend(frame(7, &req));
    slave.serve(&mut wire, &mut map, 1_000).unwrap();
    slave.serve(&mut wire, &mut map, 1_000 + T35 - 1).unwrap();
    assert!(wire.sent.is_empty());
    slave.serve(&mut wire, &mut map, 1_000 + T35).unwrap();
    assert!(matches!(answer(&req, &wire.sent), Ok(Response::Registers(r)) if r.get(0) == Some(3)));
}

#[test]
fn writes_are_echoed_and_bad_ones_refused_with_the_spec_exception() {
    let (mut slave, mut map, mut wire) = node();
    let mut at = 0;
    let req = Request::WriteRegister { address: 2, value: 9 };
    let got = exchange(&mut slave, &mut map, &mut wire, &frame(7, &req), &mut at);
    assert_eq!(answer(&req, &got), Ok(Response::Written));
    assert_eq!(map.debounce(), 9);

    let cases = [
        (Request::WriteRegister { address: 2, value: 0 }, Exception::IllegalDataValue),
        (Request::Read { space: Space::InputRegister, start: 19, count: 2 }, Exception::IllegalDataAddress),
        (Request::Read { space: Space::Coil, start: 0, count: 1 }, Exception::IllegalFunction),
        (Request::WriteCoil { address: 0, on: true }, Exception::IllegalFunction),
    ];
    for (req, want) in cases {
        let got = exchange(&mut slave, &mut map, &mut wire, &frame(7, &req), &mut at);
        assert_eq!(answer(&req, &got), Err(want), "{req:?}");
    }
    assert_eq!(slave.stats.exceptions, 4);
}

#[test]
fn noise_cut_frames_and_other_units_get_no_answer_and_are_counted() {
    let (mut slave, mut map, mut wire) = node();
    let mut at = 0;
    let req = Request::Read { space: Space::InputRegister, start: 0, count: 2 };
    let good = frame(7, &req);
    assert!(exchange(&mut slave, &mut map, &mut wire, &[0x00, 0xFF], &mut at).is_empty());
    assert!(exchange(&mut slave, &mut map, &mut wire, &good[..5], &mut at).is_empty());
    assert!(exchange(&mut slave, &mut map, &mut wire, &good[5..], &mut at).is_empty());
    let mut flipped = good.clone();
    flipped[3] ^= 0x01;
    assert!(exchange(&mut slave, &mut map, &mut wire, &flipped, &mut at).is_empty());
    assert!(exchange(&mut slave, &mut map, &mut wire, &frame(8, &req), &mut at).is_empty());
    assert!(exchange(&mut slave, &mut map, &mut wire, &[0x55; 300], &mut at).is_empty());
    let s = slave.stats;
    assert_eq!((s.runts, s.crc_errors, s.other_units, s.overruns), (2, 2, 1, 1), "{s:?}");
    // The line is quiet again: the next good frame is answered.
    let got = exchange(&mut slave, &mut map, &mut wire, &good, &mut at);
    assert!(answer(&req, &got).is_ok());
}

#[test]
fn a_broadcast_write_is_served_and_not_answered() {
    let (mut slave, mut map, mut wire) = node();
    let mut at = 0;
    let req = Request::WriteRegisters { start: 0, values: &[0, 1234] };
    assert!(exchange(&mut slave, &mut map, &mut wire, &frame(0, &req), &mut at).is_empty());
    assert_eq!(map.pulses(), 1234);
    assert_eq!(slave.stats.broadcasts, 1);
}

proptest! {
    /// Any bytes at any gaps: no panic, and every answer is a whole frame with a good CRC from this unit.
    #[test]
    fn any_bytes_at_any_timing_never_panic_nor_give_a_bad_frame(
        chunks in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..40), 0u32..5_000), 0..30),
        start in any::<u32>(),
    ) {
        let (mut slave, mut map, mut wire) = node();
        let mut at = start;
        for (bytes, gap) in chunks {
            wire.inbound.extend(bytes);
            slave.serve(&mut wire, &mut map, at).unwrap();
            at = at.wrapping_add(gap);
        }
        slave.serve(&mut wire, &mut map, at.wrapping_add(T35)).unwrap();
        let sent = wire.sent;
        let mut rest = &sent[..];
        while !rest.is_empty() {
            // Answers are back to back here; each is unit 7 with a CRC over itself.
            prop_assert_eq!(rest[0], 7);
            let len = (5..=rest.len()).find(|&n| rtu::split_frame(&rest[..n]).is_ok());
            prop_assert!(len.is_some(), "no frame in {:02x?}", rest);
            rest = &rest[len.unwrap_or(rest.len())..];
        }
    }
}
