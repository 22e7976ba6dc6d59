//! The Modbus TCP driver against a real server on 127.0.0.1: values, faults and scheduling as a plant
//! sees them.

mod modbus_fixture;

use std::sync::atomic::Ordering;
use std::time::Duration;

use drivers::ErrorKind;
use modbus_fixture::{DeviceServer, start};
use protocols::{Quality, Reason, Value};

fn link(addr: std::net::SocketAddr, timeout: &str, devices: &str) -> String {
    format!(
        "[[modbus.link]]\nname = \"plc\"\ntransport = \"tcp\"\naddress = \"{addr}\"\ntimeout = \"{timeout}\"\nretries = 0\n{devices}"
    )
}

fn device(name: &str, unit: u8, scan: &str, tags: &[String]) -> String {
    format!(
        "[[modbus.link.device]]\nname = \"{name}\"\nunit = {unit}\nscan = \"{scan}\"\nmax_gap = 3\ntags = [\n{}\n]\n",
        tags.join(",\n")
    )
}

/// `value`'s big-endian bytes laid over registers as a device with `order` stores them, written out
/// independently of the codec under test: CD.. means least significant register first, BA means low
/// byte first in each register.
fn lay(be: &[u8], order: &str) -> Vec<u16> {
    let mut regs: Vec<u16> = be.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
    if order == "CDAB" || order == "DCBA" {
        regs.reverse();
    }
    if order == "BADC" || order == "DCBA" {
        regs.iter_mut().for_each(|r| *r = r.swap_bytes());
    }
    regs
}

#[tokio::test]
async fn every_type_in_every_byte_order_decodes_as_the_device_meant() {
    let server = DeviceServer::start().await;
    let numbers: [(&str, Vec<u8>, Value); 8] = [
        ("u16", 0xBEEFu16.to_be_bytes().to_vec(), Value::UInt(0xBEEF)),
        ("i16", (-1234i16).to_be_bytes().to_vec(), Value::Int(-1234)),
        ("u32", 0xDEAD_BEEFu32.to_be_bytes().to_vec(), Value::UInt(0xDEAD_BEEF)),
        ("i32", (-123_456_789i32).to_be_bytes().to_vec(), Value::Int(-123_456_789)),
        ("u64", 0x0123_4567_89AB_CDEFu64.to_be_bytes().to_vec(), Value::UInt(0x0123_4567_89AB_CDEF)),
        (
            "i64",
            (-1_234_567_890_123_456_789i64).to_be_bytes().to_vec(),
            Value::Int(-1_234_567_890_123_456_789),
        ),
        ("f32", 3.25f32.to_be_bytes().to_vec(), Value::Float(3.25)),
        ("f64", (-12345.678f64).to_be_bytes().to_vec(), Value::Float(-12345.678)),
    ];
    let mut tags = Vec::new();
    let mut expected = Vec::new();
    let mut address = 0u16;
    for order in ["ABCD", "CDAB", "BADC", "DCBA"] {
        for (ty, be, value) in &numbers {
            server.plant.set_holding(1, address, &lay(be, order));
            let name = format!("t.{ty}.{order}");
            tags.push(format!("{{ name = \"{name}\", address = \"holding:{address}\", type = \"{ty}\", order = \"{order}\" }}"));
            expected.push((name, *value));
            address += 4;
        }
        // "PAC3200" over 4 registers: characters in address order, swapped within a register for BA orders.
        let text =
            lay(b"PAC3200\0", if order.starts_with('B') || order.starts_with('D') { "BADC" } else { "ABCD" });
        server.plant.set_holding(1, address, &text);
        tags.push(format!("{{ name = \"s.{order}\", address = \"holding:{address}\", type = \"string\", registers = 4, order = \"{order}\" }}"));
        address += 4;
        // Bit 2 of 0x0004 as the device means it; bit 3 is clear.
        server.plant.set_holding(1, address, &lay(&[0x00, 0x04], order));
        tags.push(format!("{{ name = \"b2.{order}\", address = \"holding:{address}\", type = \"bit\", bit = 2, order = \"{order}\" }}"));
        tags.push(format!("{{ name = \"b3.{order}\", address = \"holding:{address}\", type = \"bit\", bit = 3, order = \"{order}\" }}"));
        address += 4;
    }
    {
        let mut banks = server.plant.banks.lock().unwrap();
        let bank = banks.entry(1).or_default();
        bank.coils.insert(5, true);
        bank.discrete.insert(9, true);
        bank.input.insert(7, 2305);
    }
    tags.push("{ name = \"coil5\", address = \"coil:5\", type = \"bool\" }".into());
    tags.push("{ name = \"coil6\", address = \"coil:6\", type = \"bool\" }".into());
    tags.push("{ name = \"di9\", address = \"discrete:9\", type = \"bool\" }".into());
    tags.push("{ name = \"volts\", address = \"30008\", type = \"u16\", scale = 0.1 }".into());
    let run = start(&link(server.addr, "500ms", &device("meter", 1, "100ms", &tags)));
    run.until(Duration::from_secs(3), "a first good scan", |r| r.device("meter").is_up()).await;

    for (name, value) in &expected {
        let s = run.latest(name).unwrap();
        assert_eq!((s.quality, s.value), (Quality::Good, *value), "{name}");
    }
    for order in ["ABCD", "CDAB", "BADC", "DCBA"] {
        let s = run.latest(&format!("s.{order}")).unwrap();
        let Value::Text(id) = s.value else { panic!("{order}: {s:?}") };
        assert_eq!(&*run.texts.get(id).unwrap(), "PAC3200", "{order}");
        assert_eq!(run.latest(&format!("b2.{order}")).unwrap().value, Value::Bool(true), "{order}");
        assert_eq!(run.latest(&format!("b3.{order}")).unwrap().value, Value::Bool(false), "{order}");
    }
    assert_eq!(run.latest("coil5").unwrap().value, Value::Bool(true));
    assert_eq!(run.latest("coil6").unwrap().value, Value::Bool(false));
    assert_eq!(run.latest("di9").unwrap().value, Value::Bool(true));
    let Value::Float(v) = run.latest("volts").unwrap().value else { panic!("scaled values are floats") };
    assert!((v - 230.5).abs() < 1e-9, "{v}");
    run.stop().await;
}

#[tokio::test]
async fn an_exception_reads_bad_exception_and_the_device_comes_back() {
    let server = DeviceServer::start().await;
    server.plant.set_holding(1, 100, &[42]);
    server.plant.refuse.lock().unwrap().push((100, 100));
    let tags = ["{ name = \"kw\", address = \"holding:100\" }".to_owned()];
    let run = start(&link(server.addr, "500ms", &device("meter", 1, "50ms", &tags)));
    run.until(Duration::from_secs(3), "an exception sample", |r| r.latest("kw").is_some()).await;
    assert_eq!(run.latest("kw").unwrap().quality, Quality::Bad(Reason::Exception(2)));
    // It answers, if only to refuse: the device is there, the read is wrong.
    assert!(run.device("meter").is_up());
    assert!(run.device("meter").errors(ErrorKind::Exception) >= 1);

    // The register is mapped again (the PLC program was downloaded): the next scan reads it.
    server.plant.refuse.lock().unwrap().clear();
    run.until(Duration::from_secs(3), "a good sample after the exception", |r| {
        r.latest("kw").is_some_and(|s| s.quality == Quality::Good)
    })
    .await;
    assert_eq!(run.latest("kw").unwrap().value, Value::UInt(42));
    assert!(run.device("meter").is_up());
    run.stop().await;
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_reads_bad_timeout() {
    let server = DeviceServer::start().await;
    *server.plant.delay.lock().unwrap() = Duration::from_millis(400);
    let tags = ["{ name = \"kw\", address = \"holding:0\" }".to_owned()];
    let run = start(&link(server.addr, "100ms", &device("meter", 1, "50ms", &tags)));
    run.until(Duration::from_secs(3), "a timeout sample", |r| r.latest("kw").is_some()).await;
    assert_eq!(run.latest("kw").unwrap().quality, Quality::Bad(Reason::Timeout));
    assert!(run.device("meter").errors(ErrorKind::Timeout) >= 1);

    // Back to answering promptly: late answers to old requests are discarded, fresh ones read Good.
    *server.plant.delay.lock().unwrap() = Duration::ZERO;
    run.until(Duration::from_secs(5), "a good sample once the device is fast again", |r| {
        r.latest("kw").is_some_and(|s| s.quality == Quality::Good)
    })
    .await;
    run.stop().await;
}

#[tokio::test]
async fn a_dropped_connection_reconnects_and_is_counted() {
    let server = DeviceServer::start().await;
    server.plant.set_holding(1, 0, &[7]);
    let tags = ["{ name = \"kw\", address = \"holding:0\" }".to_owned()];
    let run = start(&link(server.addr, "200ms", &device("meter", 1, "50ms", &tags)));
    run.until(Duration::from_secs(3), "a first good scan", |r| r.device("meter").is_up()).await;
    assert_eq!(run.device("meter").reconnects.load(Ordering::Relaxed), 0);

    let server = server.restart().await;
    run.until(Duration::from_secs(5), "a reconnect", |r| {
        r.device("meter").reconnects.load(Ordering::Relaxed) == 1
    })
    .await;
    let before = run.samples("kw").len();
    run.until(Duration::from_secs(3), "good samples after the reconnect", |r| {
        r.samples("kw")[before..].iter().any(|s| s.quality == Quality::Good)
    })
    .await;
    assert!(run.device("meter").is_up());
    drop(server);
    run.stop().await;
}

#[tokio::test]
async fn an_unreachable_endpoint_reads_comms_lost_on_every_device() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let tags_a = ["{ name = \"a\", address = \"holding:0\" }".to_owned()];
    let tags_b = ["{ name = \"b\", address = \"holding:0\" }".to_owned()];
    let devices = device("meter-a", 1, "50ms", &tags_a) + &device("meter-b", 2, "50ms", &tags_b);
    let run = start(&link(addr, "200ms", &devices));
    run.until(Duration::from_secs(3), "samples of both devices", |r| {
        r.latest("a").is_some() && r.latest("b").is_some()
    })
    .await;
    for (tag, dev) in [("a", "meter-a"), ("b", "meter-b")] {
        assert_eq!(run.latest(tag).unwrap().quality, Quality::Bad(Reason::CommsLost), "{tag}");
        assert!(!run.device(dev).is_up());
        let why = run.device(dev).last_error().unwrap();
        assert!(why.starts_with(&format!("link: cannot connect to {addr}: ")), "{dev}: {why}");
    }
    run.stop().await;
}

#[tokio::test]
async fn a_dead_unit_does_not_hold_up_its_neighbour() {
    let server = DeviceServer::start().await;
    server.plant.silent.lock().unwrap().insert(2);
    let tags_a = ["{ name = \"a\", address = \"holding:0\" }".to_owned()];
    let tags_b = ["{ name = \"b\", address = \"holding:0\" }".to_owned()];
    let devices = device("alive", 1, "100ms", &tags_a) + &device("dead", 2, "100ms", &tags_b);
    let run = start(&link(server.addr, "300ms", &devices));
    run.until(Duration::from_secs(3), "the dead unit timed out", |r| r.latest("b").is_some()).await;
    let (t0, seen) = (tokio::time::Instant::now(), run.samples("a").len());
    let scans0 = run.device("alive").scans.load(Ordering::Relaxed);
    let dead0 = server.plant.requests_of(2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let scans = run.device("alive").scans.load(Ordering::Relaxed) - scans0;
    let rate = scans as f64 / t0.elapsed().as_secs_f64();
    // Polled every scan, the dead unit's 300 ms timeout would pace the link: about 3 scans/s for the
    // neighbour. Backed off, it costs one timeout per growing interval.
    assert!(rate >= 6.0, "the live unit keeps most of its 10 scans/s: {rate:.1}/s");
    let probes = server.plant.requests_of(2) - dead0;
    assert!(probes <= 5, "the dead unit is probed at a growing interval, not every scan: {probes} in 3 s");
    // And no single wait for the dead unit delays the neighbour by more than that one timeout.
    let stamps: Vec<i64> = run.samples("a")[seen..].iter().map(|s| s.ts.as_nanos()).collect();
    let gap = stamps.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(gap <= 500_000_000, "longest gap between the neighbour's scans {} ms", gap / 1_000_000);
    assert_eq!(run.latest("b").unwrap().quality, Quality::Bad(Reason::Timeout));
    assert!(run.latest("a").unwrap().quality.is_good());
    run.stop().await;
}

#[tokio::test]
async fn a_hundred_tags_take_exactly_the_planned_requests_per_scan() {
    let server = DeviceServer::start().await;
    // Four blocks of 25 u16 tags, each 200 registers apart: max_gap 3 cannot bridge them, and each block
    // fits one read, so 4 requests per scan.
    let tags: Vec<String> = (0..100)
        .map(|i| format!("{{ name = \"r{i}\", address = \"holding:{}\" }}", (i / 25) * 200 + i % 25))
        .collect();
    let run = start(&link(server.addr, "500ms", &device("meter", 1, "50ms", &tags)));
    run.until(Duration::from_secs(3), "five scans", |r| r.device("meter").scans.load(Ordering::Relaxed) >= 5)
        .await;
    let device = run.devices["meter"].clone();
    run.stop().await;
    // Shutdown is taken between scans, so every scan counted is whole and every request of it counted.
    let scans = device.scans.load(Ordering::Relaxed);
    let requests = server.plant.requests_of(1);
    assert_eq!(requests, 4 * scans, "{requests} requests for {scans} scans");
    assert_eq!(device.requests_per_scan.load(Ordering::Relaxed), 4);
    assert_eq!(device.requests.load(Ordering::Relaxed), requests);
}

async fn write(run: &modbus_fixture::Running, tag: &str, value: Value) -> Result<(), drivers::WriteError> {
    let (reply, rx) = tokio::sync::oneshot::channel();
    let tag = run.registry.id(tag).unwrap();
    run.writes.send(drivers::WriteRequest { tag, value, reply }).await.unwrap();
    tokio::time::timeout(Duration::from_secs(3), rx).await.unwrap().unwrap()
}

#[tokio::test]
async fn writes_reach_registers_and_coils_and_refusals_come_back() {
    let server = DeviceServer::start().await;
    server.plant.set_holding(1, 20, &[0b1000_0001]);
    let tags = [
        "{ name = \"sp\", address = \"holding:10\", type = \"u16\", writable = { min = 0.0, max = 1000.0 } }",
        "{ name = \"limit\", address = \"holding:12\", type = \"f32\", order = \"CDAB\", writable = { min = -100.0, max = 100.0 } }",
        "{ name = \"flag\", address = \"holding:20\", type = \"bit\", bit = 3, writable = { min = 0.0, max = 1.0 } }",
        "{ name = \"pump\", address = \"coil:4\", type = \"bool\", writable = { min = 0.0, max = 1.0 } }",
        "{ name = \"locked\", address = \"holding:30\", type = \"u16\", writable = { min = 0.0, max = 10.0 } }",
        "{ name = \"kw\", address = \"holding:40\" }",
    ]
    .map(str::to_owned);
    let run = start(&link(server.addr, "500ms", &device("plc", 1, "100ms", &tags)));
    write(&run, "sp", Value::UInt(750)).await.unwrap();
    write(&run, "limit", Value::Float(-2.5)).await.unwrap();
    write(&run, "flag", Value::Bool(true)).await.unwrap();
    write(&run, "pump", Value::Bool(true)).await.unwrap();
    {
        let banks = server.plant.banks.lock().unwrap();
        let bank = &banks[&1];
        assert_eq!(bank.holding[&10], 750, "FC06");
        assert_eq!([bank.holding[&12], bank.holding[&13]], lay(&(-2.5f32).to_be_bytes(), "CDAB")[..], "FC16");
        assert_eq!(bank.holding[&20], 0b1000_1001, "read-modify-write keeps the other bits");
        assert!(bank.coils[&4], "FC05");
    }
    assert!(matches!(
        write(&run, "locked", Value::UInt(11)).await,
        Err(drivers::WriteError::OutOfLimits { .. })
    ));
    // The PLC locks the register: its refusal comes back to the requester, with the exception.
    server.plant.refuse.lock().unwrap().push((30, 30));
    let refused = write(&run, "locked", Value::UInt(5)).await;
    let Err(drivers::WriteError::Refused { reason, .. }) = &refused else { panic!("{refused:?}") };
    assert_eq!(reason, &protocols::modbus::Exception::IllegalDataAddress.to_string());
    assert_eq!(run.device("plc").errors(ErrorKind::Write), 2, "the write out of limits, the refused one");
    assert!(matches!(write(&run, "kw", Value::UInt(1)).await, Err(drivers::WriteError::NotWritable { .. })));
    run.stop().await;
}

#[tokio::test]
async fn rtu_over_tcp_through_a_gateway_reads_refuses_and_writes() {
    let gateway = DeviceServer::start_rtu_gateway().await;
    gateway.plant.set_holding(3, 0, &lay(&1.5f32.to_be_bytes(), "CDAB"));
    gateway.plant.refuse.lock().unwrap().push((50, 50));
    let tags = [
        "{ name = \"kw\", address = \"40001\", type = \"f32\", order = \"CDAB\" }",
        "{ name = \"gone\", address = \"holding:50\" }",
        "{ name = \"sp\", address = \"holding:10\", writable = { min = 0.0, max = 100.0 } }",
    ]
    .map(str::to_owned);
    let text = link(gateway.addr, "300ms", &device("meter", 3, "50ms", &tags))
        .replace("\"tcp\"", "\"rtu_over_tcp\"");
    let run = start(&text);
    run.until(Duration::from_secs(3), "a scan", |r| r.latest("kw").is_some() && r.latest("gone").is_some())
        .await;
    assert_eq!(run.latest("kw").unwrap().value, Value::Float(1.5));
    assert_eq!(run.latest("gone").unwrap().quality, Quality::Bad(Reason::Exception(2)));
    assert!(run.device("meter").is_up(), "a device that answers some reads is up");
    write(&run, "sp", Value::UInt(42)).await.unwrap();
    assert_eq!(gateway.plant.banks.lock().unwrap()[&3].holding[&10], 42);
    run.stop().await;
}

#[tokio::test]
async fn a_poll_group_scans_at_its_own_rate() {
    let server = DeviceServer::start().await;
    let tags = [
        "{ name = \"kw\", address = \"holding:0\", group = \"fast\" }",
        "{ name = \"kwh\", address = \"holding:100\" }",
    ]
    .map(str::to_owned);
    let devices =
        device("meter", 1, "500ms", &tags).replace("tags = [", "poll_groups = { fast = \"50ms\" }\ntags = [");
    let run = start(&link(server.addr, "300ms", &devices));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (fast, slow) = (run.samples("kw").len(), run.samples("kwh").len());
    // 1.2 s: about 24 scans of the 50 ms group, 3 of the 500 ms device scan.
    assert!(fast >= 12, "fast group: {fast} samples");
    assert!((2..=4).contains(&slow), "device scan: {slow} samples");
    run.stop().await;
}

#[tokio::test]
async fn a_device_slower_than_its_scan_skips_scans_instead_of_bursting_and_counts_them() {
    let server = DeviceServer::start().await;
    // Every answer takes 120 ms, the scan asks for one every 50 ms.
    *server.plant.delay.lock().unwrap() = Duration::from_millis(120);
    let tags = ["{ name = \"kw\", address = \"holding:0\" }".to_owned()];
    let run = start(&link(server.addr, "500ms", &device("meter", 1, "50ms", &tags)));
    run.until(Duration::from_secs(5), "ten scans", |r| r.device("meter").scans.load(Ordering::Relaxed) >= 10)
        .await;
    let device = run.devices["meter"].clone();
    run.stop().await;
    let (scans, skipped) =
        (device.scans.load(Ordering::Relaxed), device.scans_skipped.load(Ordering::Relaxed));
    // Each scan after the first starts 70 to 120 ms late: one or two 50 ms scans missed each time.
    assert!((scans - 1..=2 * scans).contains(&skipped), "{skipped} skipped over {scans} scans");
    assert_eq!(server.plant.requests_of(1), scans, "one request per scan, none bunched up to catch up");
}

#[tokio::test]
async fn an_answer_whose_tail_comes_after_the_timeout_is_dropped_and_the_connection_kept() {
    let server = DeviceServer::start().await;
    let network = modbus_fixture::LossyNetwork::start(&server).await;
    server.plant.set_holding(1, 0, &[7]);
    let tags = ["{ name = \"kw\", address = \"holding:0\" }".to_owned()];
    let run = start(&link(network.addr, "100ms", &device("meter", 1, "50ms", &tags)));
    run.until(Duration::from_secs(3), "a first good scan", |r| r.device("meter").is_up()).await;

    // The segment with the rest of the next answer is lost and resent 250 ms later, after the timeout:
    // that scan reads Bad(timeout), and the late answer arrives while the next request is out.
    *server.plant.late_tail.lock().unwrap() = Some(Duration::from_millis(250));
    run.until(Duration::from_secs(3), "a timeout", |r| r.device("meter").errors(ErrorKind::Timeout) == 1)
        .await;
    let at_timeout = run.samples("kw").len();
    run.until(Duration::from_secs(5), "five good scans after the timeout", |r| {
        r.samples("kw")[at_timeout..].iter().filter(|s| s.quality == Quality::Good).count() >= 5
    })
    .await;
    let meter = run.device("meter");
    assert_eq!(meter.stale_answers.load(Ordering::Relaxed), 1, "the late answer, told apart by its id");
    assert_eq!(meter.reconnects.load(Ordering::Relaxed), 0, "the connection stayed in step");
    assert_eq!((meter.errors(ErrorKind::Link), meter.errors(ErrorKind::Timeout)), (0, 1));
    // Bad(timeout) while the unit is backed off, then Good from the first answer on.
    let after: Vec<Quality> = run.samples("kw")[at_timeout..].iter().map(|s| s.quality).collect();
    let first_good = after.iter().position(|q| *q == Quality::Good).unwrap();
    assert!(after[..first_good].iter().all(|q| *q == Quality::Bad(Reason::Timeout)), "{after:?}");
    assert!(after[first_good..].iter().all(|q| *q == Quality::Good), "{after:?}");
    assert_eq!(run.latest("kw").unwrap().value, Value::UInt(7));
    run.stop().await;
}

#[tokio::test]
async fn a_read_refused_over_a_hole_is_split_the_hole_learnt_and_every_mapped_tag_read() {
    for (refusal, code) in [
        (tokio_modbus::ExceptionCode::IllegalDataAddress, 2),
        (tokio_modbus::ExceptionCode::IllegalDataValue, 3),
    ] {
        let (logs, _guard) = modbus_fixture::Logs::capture();
        let server = DeviceServer::start().await;
        // A meter numbered from 1 (its manual's holding:21 is wire 20). Wire 20..=25 are not mapped, and
        // neither is wire 50, which the config names as a tag anyway.
        let plant = &server.plant;
        plant.set_holding(1, 0, &[11, 12, 13]);
        plant.set_holding(1, 10, &lay(&230.5f32.to_be_bytes(), "ABCD"));
        plant.set_holding(1, 40, &lay(&123_456u32.to_be_bytes(), "ABCD"));
        plant.refuse.lock().unwrap().extend([(20, 25), (50, 50)]);
        *plant.refusal.lock().unwrap() = Some(refusal);
        let tags = [
            "{ name = \"l1\", address = \"holding:1\" }",
            "{ name = \"l2\", address = \"holding:2\" }",
            "{ name = \"l3\", address = \"holding:3\" }",
            "{ name = \"kw\", address = \"holding:11\", type = \"f32\" }",
            "{ name = \"kwh\", address = \"holding:41\", type = \"u32\" }",
            "{ name = \"ghost\", address = \"holding:51\" }",
        ]
        .map(str::to_owned);
        // max_gap 40 merges all six into one read of wire 0..51, which the meter refuses whole.
        let devices = device("meter", 1, "50ms", &tags).replace("max_gap = 3", "base = 1\nmax_gap = 40");
        let run = start(&link(server.addr, "500ms", &devices));
        run.until(Duration::from_secs(5), "the hole learnt and five scans on the new plan", |r| {
            r.device("meter").refusals_learned.load(Ordering::Relaxed) == 1 && r.samples("kwh").len() >= 8
        })
        .await;

        // Every mapped tag was read from the first scan on, while the driver was still finding out.
        let wanted = [
            ("l1", Value::UInt(11)),
            ("l2", Value::UInt(12)),
            ("l3", Value::UInt(13)),
            ("kw", Value::Float(230.5)),
            ("kwh", Value::UInt(123_456)),
        ];
        for (tag, value) in wanted {
            let seen: Vec<(Quality, Value)> = run.samples(tag).iter().map(|s| (s.quality, s.value)).collect();
            assert!(seen.iter().all(|s| *s == (Quality::Good, value)), "{tag}: {seen:?}");
        }
        let ghost: Vec<Quality> = run.samples("ghost").iter().map(|s| s.quality).collect();
        assert!(ghost.iter().all(|q| *q == Quality::Bad(Reason::Exception(code))), "{ghost:?}");
        assert_eq!(ghost.len(), run.samples("kwh").len(), "one sample a scan, for every tag");

        // The hole, in the manual's numbering, once, with the line that spares the search next time.
        let said: Vec<String> =
            logs.lines().into_iter().filter(|l| l.contains("refuses any read over")).collect();
        assert_eq!(said.len(), 1, "{said:?}");
        let name = ["", "", "illegal data address", "illegal data value"][code as usize];
        let message = format!(
            "device meter refuses any read over holding:21-26 (exception {code}, {name}); reads go around it \
             from now on. To spare the search after a restart, set in its [[modbus.link.device]]: \
             forbidden = [\"holding:21-26\"]"
        );
        assert!(said[0].contains(" WARN ") && said[0].contains(&message), "{}\nwanted {message}", said[0]);

        // The new plan: wire 0..12, 40..42, and the refused tag apart: three requests a scan.
        let meter = run.devices["meter"].clone();
        let (scans, requests) = (meter.scans.load(Ordering::Relaxed), server.plant.requests_of(1));
        run.until(Duration::from_secs(3), "ten more scans", |r| {
            r.device("meter").scans.load(Ordering::Relaxed) >= scans + 10
        })
        .await;
        run.stop().await;
        let more_scans = meter.scans.load(Ordering::Relaxed) - scans;
        let more_requests = server.plant.requests_of(1) - requests;
        // Counted between scans' ends, give or take the one running at the first count.
        assert!(
            more_requests.abs_diff(3 * more_scans) <= 3,
            "{more_requests} requests in {more_scans} scans"
        );
        assert_eq!(meter.requests_per_scan.load(Ordering::Relaxed), 3);
        assert_eq!(meter.requests.load(Ordering::Relaxed), server.plant.requests_of(1));
    }
}

#[tokio::test]
async fn a_tag_refused_alone_that_answers_again_joins_its_neighbours_read() {
    let server = DeviceServer::start().await;
    server.plant.set_holding(1, 0, &[1, 2, 3, 4]);
    server.plant.refuse.lock().unwrap().push((3, 3));
    let tags: Vec<String> =
        (0..4).map(|i| format!("{{ name = \"r{i}\", address = \"holding:{i}\" }}")).collect();
    let run = start(&link(server.addr, "500ms", &device("plc", 1, "50ms", &tags)));
    run.until(Duration::from_secs(3), "r3 read apart", |r| {
        r.device("plc").requests_per_scan.load(Ordering::Relaxed) == 2 && r.samples("r0").len() >= 3
    })
    .await;
    assert_eq!(run.latest("r3").unwrap().quality, Quality::Bad(Reason::Exception(2)));
    assert!(run.samples("r2").iter().all(|s| s.quality == Quality::Good));
    assert_eq!(run.device("plc").refusals_learned.load(Ordering::Relaxed), 0, "a tag, not a hole");

    // The PLC program that maps register 3 is downloaded: r3 reads, and its read merges back.
    server.plant.refuse.lock().unwrap().clear();
    run.until(Duration::from_secs(3), "one read again", |r| {
        r.latest("r3").is_some_and(|s| s.quality == Quality::Good)
            && r.device("plc").requests_per_scan.load(Ordering::Relaxed) == 1
    })
    .await;
    assert_eq!(run.latest("r3").unwrap().value, Value::UInt(4));
    run.stop().await;
}
