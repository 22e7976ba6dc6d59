//! The sensor-node firmware's RTU slave, on the host behind pty pairs, polled by the agent's Modbus RTU
//! driver through real RTU framing, with a relay putting noise and pauses inside frames on the line.

use std::time::Duration;

use firmware::Node;
use firmware::loop_current::{LoopInput, LoopStatus, Span};
use firmware::sht3x::{self, Sht3x};
use hil_tests::harness::Harness;
use hil_tests::pymodbus::PtyPair;
use hil_tests::sensor_node::{LineFault, Relay, SensorNode};
use protocols::{Quality, Value};

const BAUD: u32 = 4800; // t3.5 = 7.3 ms at 8N1: room for a pause inside a frame that is shorter

fn node() -> Node {
    let mut node = Node::new(Sht3x { address: sht3x::ADDRESS }, [LoopInput::ADS1115_150_OHM; 4]);
    node.map.set_climate(21.5, 45.0, 0);
    let span = Span { at_4ma: 0.0, at_20ma: 16.0 };
    let (bar, status) = span.scale(12.25);
    node.map.set_channel(0, bar, status);
    node.map.set_channel(1, f32::NAN, LoopStatus::OpenLoop);
    node.pulses.preset(123_456);
    node.map.set_pulses(123_456);
    node
}

fn value(h: &Harness, tag: &str) -> Option<f64> {
    let s = h.latest(tag)?;
    if s.quality != Quality::Good {
        return None;
    }
    match s.value {
        Value::Float(v) => Some(v),
        Value::Int(v) => Some(v as f64),
        Value::UInt(v) => Some(v as f64),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_polls_the_firmware_slave_through_noise_and_pauses_inside_frames() {
    let (master_line, node_line) = (PtyPair::new(), PtyPair::new());
    let sensor = SensorNode::start(&node_line.b, 7, BAUD, node());
    let script = vec![
        (3, LineFault::NoiseBefore { bytes: vec![0x07, 0x03, 0xFF], then: Duration::from_millis(30) }),
        // Shorter than t3.5: still one frame.
        (6, LineFault::PauseInside { after: 3, pause: Duration::from_millis(2) }),
        // Longer than t3.5: two broken frames, no answer; the agent times out and asks again.
        (9, LineFault::PauseInside { after: 4, pause: Duration::from_millis(60) }),
        (12, LineFault::NoiseBeforeAnswer(vec![0x00, 0xAA, 0x55])),
    ];
    let relay = Relay::start(&master_line.b, &node_line.a, BAUD, script);
    let config = format!(
        r#"
[[modbus.link]]
name = "rs485-锅炉房"
transport = "rtu"
port = "{port}"
baud = {BAUD}
parity = "none"
stop_bits = 1
timeout = "300ms"
[[modbus.link.device]]
name = "锅炉一号"
unit = 7
scan = "100ms"
tags = [
  {{ name = "锅炉一号.温度", address = "input:0", type = "f32" }},
  {{ name = "锅炉一号.湿度", address = "input:2", type = "f32" }},
  {{ name = "锅炉一号.压力", address = "input:5", type = "f32" }},
  {{ name = "锅炉一号.压力状态", address = "input:7" }},
  {{ name = "锅炉一号.回路二状态", address = "input:10" }},
  {{ name = "锅炉一号.脉冲", address = "input:17", type = "u32" }},
  {{ name = "锅炉一号.去抖", address = "holding:2", writable = {{ min = 1.0, max = 255.0 }} }},
]
"#,
        port = master_line.a.display()
    );
    let h = Harness::start(&config);
    let wants = [
        ("锅炉一号.温度", 21.5),
        ("锅炉一号.湿度", 45.0),
        ("锅炉一号.压力", 8.25),
        ("锅炉一号.压力状态", 0.0),
        ("锅炉一号.回路二状态", LoopStatus::OpenLoop as u16 as f64),
        ("锅炉一号.脉冲", 123_456.0),
        ("锅炉一号.去抖", 3.0),
    ];
    let all_read = |h: &Harness| wants.iter().all(|(t, v)| value(h, t) == Some(*v));
    h.until(Duration::from_secs(10), "every tag reads what the node holds", all_read).await;

    // Through every fault of the script, and past it: the agent reads the node's values again.
    let requests = relay.requests.clone();
    h.until(Duration::from_secs(20), "the relay's script has run", |_| {
        requests.load(std::sync::atomic::Ordering::Relaxed) > 16
    })
    .await;
    let since = h.samples("锅炉一号.温度").len();
    h.until(Duration::from_secs(5), "good scans after the faults", |h| {
        h.samples("锅炉一号.温度").len() > since + 2 && all_read(h)
    })
    .await;

    // A write through the agent lands in the node's settings and reads back.
    h.write("锅炉一号.去抖", Value::Float(9.0)).await.expect("the node takes a debounce of 9");
    assert_eq!(sensor.node.lock().unwrap().pulses.debounce, 9);
    h.until(Duration::from_secs(5), "the new debounce reads back", |h| {
        value(h, "锅炉一号.去抖") == Some(9.0)
    })
    .await;

    let stats = sensor.stats();
    assert!(stats.runts >= 1, "the noise before request 3 was counted: {stats:?}");
    assert!(stats.crc_errors >= 2, "the halves of request 9 were dropped: {stats:?}");
    assert!(stats.answered >= 15, "{stats:?}");
    let times = sensor.times.lock().unwrap().clone();
    let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    let median = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    println!(
        "slave answers on the host ({} answered): turnaround (last request byte to answer written, \
         t3.5 = 7.3 ms included) median {:?}, max {:?}; work after the silence median {:?}, max {:?}",
        times.work.len(),
        median(&times.turnaround),
        max(&times.turnaround),
        median(&times.work),
        max(&times.work),
    );
    h.stop().await;
}
