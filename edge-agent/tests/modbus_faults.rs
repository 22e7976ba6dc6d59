//! Faults on a Modbus link, made by a proxy in front of pymodbus that reads MBAP frames: a unit that
//! never answers, answers that come too late, connections that drop, and a read the device refuses.

#[path = "support/agent.rs"]
mod agent;
#[path = "support/pymodbus.rs"]
mod pymodbus;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use agent::{Agent, Scratch, eventually};
use pymodbus::Pymodbus;
use serde_json::json;

/// What the proxy does to traffic, changed while it runs.
#[derive(Default)]
struct Faults {
    /// Requests for this unit are swallowed (0: none).
    dead_unit: AtomicU64,
    /// Answers are held this long before they go back.
    delay_ms: AtomicU64,
    /// Bumping it closes every open connection.
    cut: AtomicU64,
}

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 7];
    s.read_exact(&mut head).ok()?;
    let len = u16::from_be_bytes([head[4], head[5]]) as usize;
    let mut frame = head.to_vec();
    frame.resize(6 + len, 0);
    s.read_exact(&mut frame[7..]).ok()?;
    Some(frame)
}

fn proxy(upstream: SocketAddr, faults: Arc<Faults>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(server) = TcpStream::connect(upstream) else { continue };
            let cut = faults.cut.load(SeqCst);
            let (mut c_in, mut c_out) = (client.try_clone().unwrap(), client);
            let (mut s_in, mut s_out) = (server.try_clone().unwrap(), server);
            let f = faults.clone();
            std::thread::spawn(move || {
                while let Some(frame) = read_frame(&mut c_in) {
                    if f.cut.load(SeqCst) != cut {
                        break;
                    }
                    if frame[6] as u64 != f.dead_unit.load(SeqCst) && s_out.write_all(&frame).is_err() {
                        break;
                    }
                }
                let _ = s_out.shutdown(std::net::Shutdown::Both);
            });
            let f = faults.clone();
            std::thread::spawn(move || {
                while let Some(frame) = read_frame(&mut s_in) {
                    std::thread::sleep(Duration::from_millis(f.delay_ms.load(SeqCst)));
                    if f.cut.load(SeqCst) != cut || c_out.write_all(&frame).is_err() {
                        break;
                    }
                }
                let _ = c_out.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

fn scans(agent: &Agent, device: &str) -> f64 {
    agent.metric(&format!("edge_device_scans_total{{device=\"{device}\"}}"))
}

/// The `last_error` /healthz gives `device`.
fn last_error(agent: &Agent, device: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(&agent.get("/healthz").1).unwrap();
    let devices = json["devices"].as_array().unwrap();
    let d = devices.iter().find(|d| d["name"] == device).unwrap_or_else(|| panic!("no {device} in {json}"));
    d["last_error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_dead_unit_slow_answers_dropped_connections_and_refusals_stay_where_they_belong() {
    let regs = |unit: u64| json!([{"space": "holding", "address": 0, "type": "u16", "value": unit}, {"space": "holding", "address": 1, "type": "f32", "value": 2.5}]);
    let sim = Pymodbus::start(&json!({"units": {"1": regs(1), "2": regs(2)}}), "socket");
    let faults = Arc::new(Faults::default());
    let addr = proxy(sim.addr, faults.clone());
    let scratch = Scratch::new("modbus-faults");
    let config = scratch.config(&format!(
        r#"
[[modbus.link]]
name = "hall-2"
address = "{addr}"
timeout = "200ms"
retries = 1
[[modbus.link.device]]
name = "press"
unit = 1
scan = "100ms"
tags = [
  {{ name = "press.id", address = "holding:0" }},
  {{ name = "press.kw", address = "holding:1", type = "f32" }},
  # Past the end of pymodbus's map: exception 2, illegal data address.
  {{ name = "press.missing", address = "holding:20000" }},
]
[[modbus.link.device]]
name = "oven"
unit = 2
scan = "100ms"
tags = [{{ name = "oven.id", address = "holding:0" }}]
"#,
    ));
    let agent = Agent::start(&config);
    let m = |series: &str| agent.metric(series);

    // A refused read makes Bad samples for its tags only; the device answers, so it stays up.
    assert!(eventually(Duration::from_secs(10), || m(
        r#"edge_device_errors_total{device="press",kind="exception"}"#
    ) > 2.0));
    assert_eq!(m(r#"edge_device_up{device="press"}"#), 1.0);
    assert_eq!(
        m(r#"edge_device_requests_per_scan{device="press"}"#),
        2.0,
        "holding:0..3 in one read, 20000 in another"
    );
    let bad = ("bad".to_owned(), Some("exception 0x02".to_owned()), serde_json::Value::Null);
    assert_eq!(agent.tag("press.missing"), bad);
    assert_eq!(agent.tag("press.kw"), ("good".to_owned(), None, json!(2.5)));

    // Unit 2 dies: it goes down, unit 1 keeps its pace (100 ms scans; the dead unit is backed off and
    // costs at most one 200 ms timeout per try).
    faults.dead_unit.store(2, SeqCst);
    assert!(eventually(Duration::from_secs(5), || m(r#"edge_device_up{device="oven"}"#) == 0.0));
    let before = scans(&agent, "press");
    std::thread::sleep(Duration::from_secs(3));
    let rate = (scans(&agent, "press") - before) / 3.0;
    assert!(rate >= 6.0, "press scanned {rate}/s beside a dead unit, expected about 10/s");
    assert!(m(r#"edge_device_errors_total{device="oven",kind="timeout"}"#) >= 1.0);
    let why = last_error(&agent, "oven");
    assert!(why.starts_with("timeout: unit 2 did not answer within 200ms; next try in "), "{why}");
    faults.dead_unit.store(0, SeqCst);
    assert!(
        eventually(Duration::from_secs(40), || m(r#"edge_device_up{device="oven"}"#) == 1.0),
        "oven came back"
    );

    // Answers later than the timeout: Bad(timeout), then recovery once they are on time again.
    let timeouts = m(r#"edge_device_errors_total{device="press",kind="timeout"}"#);
    faults.delay_ms.store(300, SeqCst);
    assert!(eventually(Duration::from_secs(10), || m(
        r#"edge_device_errors_total{device="press",kind="timeout"}"#
    ) > timeouts));
    assert_eq!(
        agent.tag("press.id"),
        ("bad".to_owned(), Some("timeout".to_owned()), serde_json::Value::Null)
    );
    faults.delay_ms.store(0, SeqCst);
    assert!(eventually(Duration::from_secs(40), || m(r#"edge_device_up{device="press"}"#) == 1.0
        && agent.tag("press.id") == ("good".to_owned(), None, json!(1))));
    // The late answers arrived while later requests were out: dropped by transaction id, the
    // connection kept.
    assert!(m(r#"edge_device_stale_answers_total{device="press"}"#) >= 1.0);
    assert_eq!(m(r#"edge_device_reconnects_total{device="press"}"#), 0.0);

    // The connection drops: the link reconnects and counts it.
    faults.cut.fetch_add(1, SeqCst);
    assert!(
        eventually(Duration::from_secs(20), || m(r#"edge_device_reconnects_total{device="press"}"#) >= 1.0)
    );
    assert!(eventually(Duration::from_secs(20), || m(r#"edge_device_up{device="press"}"#) == 1.0));
}
