//! The fault proxy between the agent and its real peers: every kind of fault on a Modbus TCP link and
//! on the historian's link is reported the way it should be (device Bad and its error counted, uplink
//! retrying), the agent recovers once the fault is lifted, and the historian ends up with every sample
//! the agent acquired. Flipped bytes on a Modbus RTU-over-TCP link end as counted errors and Bad
//! quality, never as a wrong good value (the CRC catches them).

#[path = "support/agent.rs"]
mod agent;
#[path = "support/historians.rs"]
mod historians;
#[path = "support/pymodbus.rs"]
mod pymodbus;

use std::time::Duration;

use agent::{Agent, Scratch, eventually};
use hil_tests::acquired;
use hil_tests::faults::{Fault, FaultProxy};
use historians::VictoriaMetrics;
use protocols::{Quality, Value};
use pymodbus::Pymodbus;
use serde_json::json;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One boiler on pymodbus: 温度 (f32, 81.5) at holding 0, 计数 (u16, 7) at holding 2.
fn boiler(framer: &str) -> Pymodbus {
    let regs = json!([
        {"space": "holding", "address": 0, "type": "f32", "value": 81.5},
        {"space": "holding", "address": 2, "type": "u16", "value": 7},
    ]);
    Pymodbus::start(&json!({"units": {"1": regs}}), framer)
}

fn modbus_link(addr: std::net::SocketAddr, transport: &str) -> String {
    format!(
        r#"
[[modbus.link]]
name = "锅炉房"
transport = "{transport}"
address = "{addr}"
timeout = "200ms"
[[modbus.link.device]]
name = "锅炉一号"
unit = 1
scan = "100ms"
tags = [
  {{ name = "锅炉一号.温度", address = "holding:0", type = "f32" }},
  {{ name = "锅炉一号.计数", address = "holding:2", type = "u16" }},
]
"#
    )
}

fn metric(agent: &Agent, name: &str, labels: &str) -> f64 {
    agent.metric(&format!("{name}{{{labels}}}"))
}

const DEVICE: &str = r#"device="锅炉一号""#;

/// Waits until `what` is true, failing with the agent's health.
fn wait(agent: &Agent, within: Duration, what: &str, f: impl FnMut() -> bool) {
    assert!(eventually(within, f), "not within {within:?}: {what}; /healthz: {}", agent.get("/healthz").1);
}

fn answering(agent: &Agent) -> bool {
    metric(agent, "edge_device_up", DEVICE) == 1.0
        && agent.tag("锅炉一号.温度") == ("good".into(), None, json!(81.5))
}

#[test]
fn every_fault_on_a_modbus_link_shows_on_the_device_and_it_recovers_once_lifted() {
    let sim = boiler("socket");
    let proxy = FaultProxy::start(sim.addr, 19);
    let scratch = Scratch::new("fault-links-modbus");
    let agent = Agent::start(&scratch.config(&modbus_link(proxy.addr, "tcp")));
    wait(&agent, Duration::from_secs(10), "the boiler answers", || answering(&agent));
    let errors =
        |kind: &str| metric(&agent, "edge_device_errors_total", &format!(r#"{DEVICE},kind="{kind}""#));
    let reconnects = || metric(&agent, "edge_device_reconnects_total", DEVICE);

    // Answers later than the 200 ms timeout: Bad(timeout), counted.
    let before = errors("timeout");
    proxy.set(Fault::Latency { delay: ms(300), jitter: ms(100) });
    wait(&agent, Duration::from_secs(5), "timeouts counted", || errors("timeout") > before);
    wait(&agent, Duration::from_secs(5), "Bad(timeout)", || {
        agent.tag("锅炉一号.计数") == ("bad".into(), Some("timeout".into()), serde_json::Value::Null)
    });
    // A cap that makes each answer take longer than the timeout does the same.
    proxy.set(Fault::Bandwidth { bytes_per_sec: 40 });
    let before = errors("timeout");
    wait(&agent, Duration::from_secs(5), "timeouts under a bandwidth cap", || errors("timeout") > before);
    assert!(proxy.counts().delayed_chunks > 0);
    proxy.set(Fault::Pass);
    wait(&agent, Duration::from_secs(15), "back after latency", || answering(&agent));

    // Nothing comes back: the device goes down on timeouts.
    let before = errors("timeout");
    proxy.set(Fault::Blackhole);
    wait(&agent, Duration::from_secs(5), "down in a blackhole", || {
        metric(&agent, "edge_device_up", DEVICE) == 0.0
    });
    assert!(errors("timeout") > before && proxy.counts().held_bytes > 0);
    proxy.set(Fault::Pass);
    wait(&agent, Duration::from_secs(15), "back after the blackhole", || answering(&agent));

    // Connections reset or closed midway, then refused: the link reconnects and counts it.
    for fault in [Fault::Reset { chance: 1.0 }, Fault::Drop { chance: 1.0 }] {
        let (before, link) = (reconnects(), errors("link"));
        proxy.set(fault.clone());
        wait(&agent, Duration::from_secs(10), &format!("{fault}: reconnects"), || reconnects() > before);
        assert!(errors("link") > link, "{fault}: a lost link is a link error");
        proxy.set(Fault::Pass);
        wait(&agent, Duration::from_secs(15), &format!("back after {fault}"), || answering(&agent));
    }
    let link = errors("link");
    proxy.set(Fault::Refuse);
    proxy.reset_all();
    wait(&agent, Duration::from_secs(10), "refused reconnects", || {
        metric(&agent, "edge_device_up", DEVICE) == 0.0 && proxy.counts().refused > 1
    });
    assert!(errors("link") > link, "a refused connection is a link error");
    proxy.set(Fault::Pass);
    wait(&agent, Duration::from_secs(40), "back after refusals", || answering(&agent));

    let c = proxy.counts();
    assert!(c.resets >= 2 && c.drops >= 1, "{c:?}");
    let data = scratch.0.join("data");
    agent.stop();
    // Through all of it, every Good value is the device's.
    for ((_, tag), samples) in acquired::by_tag(&data) {
        let want = if tag.ends_with("温度") { Value::Float(81.5) } else { Value::UInt(7) };
        let wrong: Vec<_> =
            samples.iter().filter(|s| s.quality == Quality::Good && s.value != want).collect();
        assert!(wrong.is_empty(), "{tag}: {} wrong good values, e.g. {:?}", wrong.len(), wrong[0]);
        assert!(samples.iter().any(|s| s.quality != Quality::Good), "{tag}: the faults show as quality");
    }
}

#[test]
fn flipped_bytes_on_rtu_over_tcp_are_counted_errors_and_bad_quality_never_a_wrong_good_value() {
    let sim = boiler("rtu");
    let proxy = FaultProxy::start(sim.addr, 23);
    let scratch = Scratch::new("fault-links-flip");
    let agent = Agent::start(&scratch.config(&modbus_link(proxy.addr, "rtu_over_tcp")));
    wait(&agent, Duration::from_secs(10), "the boiler answers", || answering(&agent));
    let errors = || -> f64 {
        ["timeout", "link", "decode"]
            .iter()
            .map(|k| metric(&agent, "edge_device_errors_total", &format!(r#"{DEVICE},kind="{k}""#)))
            .sum()
    };
    let before = errors();
    // One chunk in ten, requests and answers alike, gets a flipped byte.
    proxy.set(Fault::Flip { chance: 0.1 });
    wait(&agent, Duration::from_secs(30), "flips", || proxy.counts().flipped_bytes >= 15);
    proxy.set(Fault::Pass);
    let flipped = proxy.counts().flipped_bytes;
    assert!(errors() > before, "{flipped} flipped bytes and no error counted");
    wait(&agent, Duration::from_secs(15), "back after the flips", || answering(&agent));
    let data = scratch.0.join("data");
    agent.stop();

    let all = acquired::by_tag(&data);
    let mut bad = 0;
    for ((_, tag), samples) in &all {
        let want = if tag.ends_with("温度") { Value::Float(81.5) } else { Value::UInt(7) };
        for s in samples {
            match s.quality {
                Quality::Good => assert_eq!(s.value, want, "{tag}: a flipped byte became a good value"),
                _ => bad += 1,
            }
        }
    }
    assert!(bad > 0, "{flipped} flips left no Bad sample");
    eprintln!("{flipped} bytes flipped, {bad} Bad samples, every Good one right");
}

#[test]
fn every_fault_on_the_historian_link_delays_but_loses_nothing() {
    let vm = VictoriaMetrics::start();
    let proxy = FaultProxy::start(vm.addr, 29);
    let scratch = Scratch::new("fault-links-vm");
    let data = scratch.0.join("data");
    let uplink = format!(
        r#"
[[uplink]]
name = "vm"
type = "influxdb_v2"
url = "http://{}"
org = "plant"
bucket = "edge"
token = "t0ken"
batch_age = "100ms"
timeout = "1s"
max_retry_wait = "1s"
"#,
        proxy.addr
    );
    let device = r#"
[[sim.device]]
name = "锅炉一号"
scan = "20ms"
tags = [
  { name = "锅炉一号.计数", shape = "counter", rollover = 1000000000 },
  { name = "锅炉一号.温度", shape = "sine", period = "7s" },
]
"#;
    let config = scratch.config(&format!("{uplink}{device}"));
    let agent = Agent::start(&config);
    let sent = || metric(&agent, "edge_uplink_sent_samples_total", r#"uplink="vm""#);
    let failed = || metric(&agent, "edge_uplink_writes_failed_total", r#"uplink="vm""#);
    wait(&agent, Duration::from_secs(10), "the first write", || sent() > 0.0);

    for fault in [Fault::Reset { chance: 0.5 }, Fault::Drop { chance: 0.5 }, Fault::Blackhole, Fault::Refuse]
    {
        let before = failed();
        proxy.set(fault.clone());
        if fault == Fault::Refuse {
            proxy.reset_all();
        }
        wait(&agent, Duration::from_secs(10), &format!("{fault}: a failed write"), || failed() > before);
        // A while longer: retries back off and a backlog builds.
        std::thread::sleep(ms(1000));
        proxy.set(Fault::Pass);
        let now = sent();
        wait(&agent, Duration::from_secs(10), &format!("writes after {fault}"), || sent() > now);
    }
    // Slow but working: writes go on under latency and a bandwidth cap.
    for fault in
        [Fault::Latency { delay: ms(300), jitter: ms(200) }, Fault::Bandwidth { bytes_per_sec: 20_000 }]
    {
        proxy.set(fault.clone());
        let now = sent();
        wait(&agent, Duration::from_secs(10), &format!("writes under {fault}"), || sent() > now);
    }
    proxy.set(Fault::Pass);
    agent.stop();
    acquired::deliver_the_rest(&scratch.config(&uplink), &["vm"], Duration::from_secs(30));
    let c = proxy.counts();
    assert!(
        c.resets > 0 && c.drops > 0 && c.refused > 0 && c.held_bytes > 0 && c.delayed_chunks > 0,
        "{c:?}"
    );

    for ((device, tag), samples) in acquired::by_tag(&data) {
        let t = acquired::tally(&vm, &device, &tag, &samples);
        assert!(t.acquired > 100 && t.missing.is_empty() && t.extra.is_empty(), "{tag}: {t:?}");
        assert_eq!(t.held, t.acquired, "{tag}");
        eprintln!(
            "{tag}: acquired {}, held {} ({} stored twice before dedup)",
            t.acquired, t.held, t.repeats
        );
    }
}
