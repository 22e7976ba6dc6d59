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
