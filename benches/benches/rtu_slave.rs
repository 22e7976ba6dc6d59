//! The sensor-node firmware's RTU slave on the host: a frame that has ended (t3.5 passed) to its answer,
//! for a 20-register FC04 read of the node's measurements and a 4-register FC16 write of a span; beside it
//! in the same run, the master's own decode of that read's answer (protocols' client side) as the baseline.
//!   cargo bench -p benches --bench rtu_slave

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use firmware::{RegisterMap, Slave};
use protocols::modbus::Space;
use protocols::modbus::pdu::{MAX_READ_REGISTERS, Request, decode_response};
use protocols::modbus::rtu::{self, MAX_ADU, RtuFrame, encode_request};

fn frame(request: &Request<'_>) -> Vec<u8> {
    let mut buf = [0u8; MAX_ADU];
    let n = encode_request(7, request, &mut buf).unwrap();
    buf[..n].to_vec()
}

fn answer(slave: &mut Slave, map: &mut RegisterMap, request: &[u8], tx: &mut [u8; MAX_ADU]) -> usize {
    slave.receive(request, 0);
    slave.poll(slave.silence_us(), map, tx).unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let mut map = RegisterMap::default();
    map.set_climate(21.5, 45.0, 0);
    let mut slave = Slave::new(7, 19_200, 11);
    let mut tx = [0u8; MAX_ADU];
    let read = Request::Read { space: Space::InputRegister, start: 0, count: 20 };
    let read_frame = frame(&read);
    let span = [0x4120, 0x0000, 0x42C8, 0x0000]; // 10.0 and 100.0
    let write_frame = frame(&Request::WriteRegisters { start: 3, values: &span });
    assert!(answer(&mut slave, &mut map, &read_frame, &mut tx) > 0, "the read is answered");
    let reply = tx;
    let reply_len = answer(&mut slave, &mut map, &read_frame, &mut tx);
    assert!(answer(&mut slave, &mut map, &write_frame, &mut tx) > 0, "the write is answered");

    let mut g = c.benchmark_group("rtu_slave");
    g.bench_function("slave answers a 20-register read", |b| {
        b.iter(|| answer(&mut slave, &mut map, black_box(&read_frame), &mut tx))
    });
    g.bench_function("slave answers a 4-register write", |b| {
        b.iter(|| answer(&mut slave, &mut map, black_box(&write_frame), &mut tx))
    });
    g.bench_function("baseline: master decodes the read's answer", |b| {
        b.iter(|| match rtu::decode_response(7, &read, black_box(&reply[..reply_len])) {
            RtuFrame::Complete { pdu, .. } => {
                let mut out = [0u16; MAX_READ_REGISTERS as usize];
                match decode_response(&read, pdu) {
                    Ok(Ok(protocols::modbus::Response::Registers(r))) => r.copy_to(&mut out),
                    _ => 0,
                }
            }
            _ => 0,
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
