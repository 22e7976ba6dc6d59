//! What every driver must do, checked the same way for each: run by each driver's own tests against its
//! real peer (sim, Modbus against pymodbus, ...), through the agent's runtime as `edge-agent run` uses it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::{Clock, ErrorKind, SystemClock, WriteError};
use edge_agent::http::{AgentState, health_report, render_metrics};
use edge_agent::runtime::Running;
use protocols::{Quality, Value};

/// Stopping the agent must finish well inside what operators expect (`edge-agent run` allows 4 s).
pub const STOP_LIMIT: Duration = Duration::from_secs(4);

/// The families /metrics must carry for every device, whatever its protocol.
pub const DEVICE_FAMILIES: &[&str] = &[
    "edge_device_up",
    "edge_device_samples_total",
    "edge_device_scans_total",
    "edge_device_scans_skipped_total",
    "edge_device_scan_duration_seconds_count",
    "edge_device_requests_total",
    "edge_device_requests_per_scan",
    "edge_device_reconnects_total",
    "edge_device_stale_answers_total",
    "edge_device_refusals_learned_total",
    "edge_device_request_duration_seconds_count",
];

/// A driver under test, through agent.toml text with exactly one link.
pub struct DriverUnderTest<'a> {
    pub config: &'a str,
    /// A writable tag and a value outside its limits, when the link has writable tags.
    pub out_of_limits: Option<(&'a str, f64)>,
    /// Makes every device of the link stop answering (stop the simulator, start a fault window...).
    pub break_link: Box<dyn FnOnce() + Send + 'a>,
    /// How long one fault may take to be noticed (a timeout, a scan period, a keep-alive).
    pub detect_within: Duration,
}

/// Runs the contract; panics naming the first property that does not hold.
pub async fn assert_driver_contract(d: DriverUnderTest<'_>) {
    let config = edge_agent::config::parse(d.config, "agent.toml", &|n| std::env::var(n).ok())
        .unwrap_or_else(|e| panic!("the contract's config is invalid:\n{e}"));
    assert_eq!(config.links.len(), 1, "the contract takes one link at a time");
    let tags: Vec<(String, String)> = config.links[0]
        .devices()
        .iter()
        .flat_map(|dev| {
            dev.tags
                .iter()
                .map(|t| (dev.name.get_ref().clone(), t.name.get_ref().clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let started = SystemClock.now();

    // 1. The driver, alone, refuses writes outside their limits even when the agent's check is bypassed.
    if let Some((tag, value)) = d.out_of_limits {
        let harness = crate::harness::Harness::start(d.config);
        match harness.write(tag, Value::Float(value)).await {
            Err(WriteError::OutOfLimits { .. }) => {}
            other => panic!("contract: driver accepted {value} for {tag} outside its limits: {other:?}"),
        }
        let took = harness.stop().await;
        assert!(took < STOP_LIMIT, "contract: the driver took {took:?} to stop");
    }

    // 2. In the agent: every tag gets a Good sample with a timestamp from the acquiring clock.
    let running = Running::start(config, Arc::new(SystemClock), Instant::now(), None);
    let g = running.generation.clone();
    let state = AgentState::new(g.clone(), Instant::now());
    let id = |tag: &str| g.config.tags.registry.id(tag).expect("declared");
    wait(Duration::from_secs(15), "every tag reads Good and every device is up", || {
        g.devices.iter().all(|d| d.is_up())
            && tags.iter().all(|(_, t)| g.snapshot.get(id(t)).is_some_and(|s| s.quality == Quality::Good))
    })
    .await;
    let now = SystemClock.now();
    for (_, t) in &tags {
        let s = g.snapshot.get(id(t)).expect("read");
        assert!(
            s.ts.0 >= started.0 - 1_000_000_000 && s.ts.0 <= now.0 + 1_000_000_000,
            "contract: tag {t} carries timestamp {} outside the test's run [{}, {}]",
            s.ts.0,
            started.0,
            now.0
        );
    }

    // 3. Every metric family, for every device.
    let metrics = render_metrics(&state);
    for (device, _) in &tags {
        for family in DEVICE_FAMILIES {
            let prefix = format!("{family}{{device=\"{device}\"");
            assert!(
                metrics.lines().any(|l| l.starts_with(&prefix)),
                "contract: /metrics has no {prefix}..}}"
            );
        }
        for kind in ErrorKind::ALL {
            let series = format!("edge_device_errors_total{{device=\"{device}\",kind=\"{}\"}}", kind.label());
            assert!(metrics.contains(&series), "contract: /metrics has no {series}");
        }
    }
    let health = health_report(&state);
    assert_eq!(health["status"], "ok", "contract: all up, yet /healthz says {health}");

    // 4. A fault: every tag turns Bad with a reason, every device down on /healthz with its last error.
    (d.break_link)();
    wait(d.detect_within, "every tag Bad with a reason and every device down", || {
        g.devices.iter().all(|dev| !dev.is_up())
            && tags.iter().all(|(_, t)| {
                g.snapshot
                    .get(id(t))
                    .is_some_and(|s| matches!(s.quality, Quality::Bad(_)) && s.quality.reason().is_some())
            })
    })
    .await;
    let health = health_report(&state);
    assert_eq!(health["status"], "degraded", "contract: a device is down, yet /healthz says {health}");
    for dev in health["devices"].as_array().expect("devices") {
        assert_eq!(dev["up"], false, "contract: {dev}");
        assert!(dev["last_error"].as_str().is_some_and(|e| !e.is_empty()), "contract: no reason in {dev}");
    }

    // 5. Stops within the limit.
    let stopping = Instant::now();
    running.stop(STOP_LIMIT).await;
    let took = stopping.elapsed();
    assert!(took < STOP_LIMIT, "contract: the agent took {took:?} to stop this driver");
}

async fn wait(within: Duration, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "contract: not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A sink under test: one `[[uplink]]` named `name` and its real peer.
pub struct SinkUnderTest<'a> {
    /// The `[[uplink]]` table, e.g. `[[uplink]]\nname = "vm"\ntype = "influxdb_v2"\n...`.
    pub uplink: &'a str,
    pub name: &'a str,
    /// How many points the peer holds now.
    pub stored: Box<dyn Fn() -> u64 + 'a>,
    /// An outage of the peer, and its return (with the data it had).
    pub stop_peer: Box<dyn FnMut() + 'a>,
    pub start_peer: Box<dyn FnMut() + 'a>,
}

/// The families /metrics must carry for every uplink, whatever its kind.
pub const UPLINK_FAMILIES: &[&str] = &[
    "edge_uplink_up",
    "edge_uplink_acked_seq",
    "edge_uplink_sent_samples_total",
    "edge_uplink_refused_samples_total",
    "edge_uplink_unencodable_samples_total",
    "edge_uplink_backlog_samples",
    "edge_uplink_writes_failed_total",
    "edge_uplink_write_duration_seconds_count",
];

/// What every uplink must do, checked the same way for each, through the agent's runtime and store: it
/// delivers what the store holds (Chinese names included), shows an outage on /healthz with the reason
/// while nothing is dropped, sends the backlog when the peer is back, and what it counts as sent is
/// exactly what the peer holds.
pub async fn assert_sink_contract(mut s: SinkUnderTest<'_>) {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        r#"
[agent]
site = "一号工厂"
gateway = "三号线网关"
data_dir = "{}"

[[sim.device]]
name = "锅炉一号"
scan = "50ms"
tags = [
  {{ name = "锅炉一号.计数", shape = "counter", rollover = 4000000000 }},
  {{ name = "锅炉一号.产量", shape = "counter", step = 3, rollover = 4000000000 }},
]

{}
"#,
        dir.path().display(),
        s.uplink
    );
    let config = edge_agent::config::parse(&text, "agent.toml", &|n| std::env::var(n).ok())
        .unwrap_or_else(|e| panic!("the contract's config is invalid:\n{e}"));
    let store_cfg = config.store.clone();
    let store = edge_agent::store::Store::open(&dir.path().join("store"), &store_cfg).expect("store");
    let persist = edge_agent::store::persist::Persist::start(store, tokio::runtime::Handle::current())
        .expect("store thread");
    let shared = persist.shared.clone();
    let running = Running::start(config, Arc::new(SystemClock), Instant::now(), Some(&persist));
    let g = running.generation.clone();
    let state = AgentState::new(g.clone(), Instant::now());
    let stats = g.uplinks.iter().find(|u| u.name == s.name).expect("the uplink runs").clone();

    // 1. Delivered: the peer acknowledges, /healthz is ok.
    wait(Duration::from_secs(15), "the peer acknowledges samples", || {
        stats.up.load(Relaxed) && stats.sent_samples.load(Relaxed) > 20
    })
    .await;
    assert_eq!(health_report(&state)["status"], "ok", "contract: all up, yet {}", health_report(&state));
    let metrics = render_metrics(&state);
    for family in UPLINK_FAMILIES {
        let prefix = format!("{family}{{uplink=\"{}\"", s.name);
        assert!(metrics.lines().any(|l| l.starts_with(&prefix)), "contract: /metrics has no {prefix}..}}");
    }

    // 2. An outage: down on /healthz with the reason, the backlog grows, nothing is dropped.
    (s.stop_peer)();
    wait(Duration::from_secs(20), "the outage shows on /healthz", || !stats.up.load(Relaxed)).await;
    let health = health_report(&state);
    assert_eq!(health["status"], "degraded", "contract: the peer is down, yet {health}");
    let shown = health["uplinks"].as_array().expect("uplinks").iter().find(|u| u["name"] == s.name).cloned();
    let shown = shown.expect("the uplink on /healthz");
    assert!(shown["last_error"].as_str().is_some_and(|e| !e.is_empty()), "contract: no reason in {shown}");
    let backlog = || stats.backlog(shared.head());
    wait(Duration::from_secs(10), "a backlog builds", || backlog() > 50).await;

    // 3. Back: the backlog is sent, and what was acknowledged is what the peer holds.
    (s.start_peer)();
    wait(Duration::from_secs(60), "the backlog is sent after the outage", || {
        stats.up.load(Relaxed) && backlog() < 20
    })
    .await;
    let stopping = Instant::now();
    running.stop(STOP_LIMIT).await;
    let took = stopping.elapsed();
    assert!(took < STOP_LIMIT, "contract: the agent took {took:?} to stop this uplink");
    let _ = tokio::task::spawn_blocking(move || persist.stop()).await;

    let appended = shared.counters.appended_samples.load(Relaxed);
    let sent = stats.sent_samples.load(Relaxed);
    let left = stats.backlog(shared.head());
    let refused = stats.refused_samples.load(Relaxed) + stats.unencodable_samples.load(Relaxed);
    assert_eq!(refused, 0, "contract: good samples refused or unencodable");
    assert_eq!(sent + left, appended, "contract: acknowledged {sent} + backlog {left} != stored {appended}");
    let held = wait_for(Duration::from_secs(10), || (s.stored)(), sent);
    assert_eq!(held, sent, "contract: the peer holds {held} points, the uplink counted {sent} acknowledged");
}

/// Polls `f` until it gives `want` or `within` passes; returns the last value.
fn wait_for(within: Duration, f: impl Fn() -> u64, want: u64) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let got = f();
        if got == want || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
