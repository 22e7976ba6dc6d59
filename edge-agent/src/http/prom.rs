//! /metrics: every counter the agent keeps, read at scrape time.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use drivers::{DeviceStats, ErrorKind};

use super::AgentState;
use crate::metrics::Exposition;

pub async fn metrics(State(state): State<Arc<AgentState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], render(&state))
}

/// The families that are one number per device: name, type, help, and how to read it.
type PerDevice = (&'static str, &'static str, &'static str, fn(&DeviceStats) -> f64);

const PER_DEVICE: [PerDevice; 9] = [
    ("edge_device_up", "gauge", "1 if the device answered its last scan, else 0.", |d| {
        d.is_up() as u8 as f64
    }),
    ("edge_device_samples_total", "counter", "Samples acquired from the device, good or bad.", |d| {
        d.samples.load(Relaxed) as f64
    }),
    ("edge_device_scans_total", "counter", "Completed scans (polled devices).", |d| {
        d.scans.load(Relaxed) as f64
    }),
    (
        "edge_device_scans_skipped_total",
        "counter",
        "Scans that fell due but never ran: an earlier scan started more than a period late.",
        |d| d.scans_skipped.load(Relaxed) as f64,
    ),
    ("edge_device_requests_total", "counter", "Requests sent to the device (polled protocols).", |d| {
        d.requests.load(Relaxed) as f64
    }),
    (
        "edge_device_requests_per_scan",
        "gauge",
        "Requests the last scan took (after request planning).",
        |d| d.requests_per_scan.load(Relaxed) as f64,
    ),
    ("edge_device_reconnects_total", "counter", "Connections to the device's link re-established.", |d| {
        d.reconnects.load(Relaxed) as f64
    }),
    (
        "edge_device_stale_answers_total",
        "counter",
        "Answers that came after their request timed out, dropped by transaction id; the link stays up.",
        |d| d.stale_answers.load(Relaxed) as f64,
    ),
    (
        "edge_device_refusals_learned_total",
        "counter",
        "Register ranges (or table boundaries) the device refused to read over, found by splitting a refused read.",
        |d| d.refusals_learned.load(Relaxed) as f64,
    ),
];

pub fn render(state: &AgentState) -> String {
    let g = state.current();
    let mut e = Exposition::new();

    for (name, kind, help, read) in PER_DEVICE {
        e.family(name, kind, help);
        for d in &g.devices {
            e.sample(name, &[("device", &d.name)], read(d));
        }
    }
    e.family("edge_device_errors_total", "counter", "Device faults by kind.");
    for d in &g.devices {
        for kind in ErrorKind::ALL {
            e.sample(
                "edge_device_errors_total",
                &[("device", &d.name), ("kind", kind.label())],
                d.errors(kind) as f64,
            );
        }
    }
    e.family(
        "edge_device_scan_duration_seconds",
        "histogram",
        "Time from a scan's start to its last answer.",
    );
    for d in &g.devices {
        e.histogram("edge_device_scan_duration_seconds", &[("device", &d.name)], &d.scan_latency);
    }
    e.family("edge_device_request_duration_seconds", "histogram", "Round trip of one request.");
    for d in &g.devices {
        e.histogram("edge_device_request_duration_seconds", &[("device", &d.name)], &d.request_latency);
    }

    let ring = g.ring.stats();
    e.family("edge_ring_capacity", "gauge", "Samples the ring holds.").sample(
        "edge_ring_capacity",
        &[],
        ring.capacity as f64,
    );
    e.family("edge_ring_written_total", "counter", "Samples written into the ring.").sample(
        "edge_ring_written_total",
        &[],
        ring.written as f64,
    );
    e.family("edge_ring_depth", "gauge", "Samples written but not yet taken by the slowest lossless reader.")
        .sample("edge_ring_depth", &[], ring.depth as f64);
    e.family(
        "edge_ring_back_pressure_total",
        "counter",
        "Times a driver was held back because a lossless reader was a full ring behind.",
    )
    .sample("edge_ring_back_pressure_total", &[], ring.back_pressure_events as f64);
    e.family("edge_ring_reader_lag", "gauge", "Samples between the ring's head and the reader.");
    for r in &ring.readers {
        e.sample("edge_ring_reader_lag", &[("reader", &r.name), ("policy", r.policy.label())], r.lag as f64);
    }
    e.family(
        "edge_ring_reader_skipped_total",
        "counter",
        "Samples a lossy reader skipped because it lagged.",
    );
    for r in &ring.readers {
        e.sample(
            "edge_ring_reader_skipped_total",
            &[("reader", &r.name), ("policy", r.policy.label())],
            r.skipped as f64,
        );
    }

    e.family("edge_engines", "gauge", "Engines running.").sample(
        "edge_engines",
        &[],
        g.engines.engines.load(Relaxed) as f64,
    );
    e.family(
        "edge_engine_derived_samples_total",
        "counter",
        "Samples derived by engines (alarm states, ...).",
    )
    .sample("edge_engine_derived_samples_total", &[], g.engines.derived_samples.load(Relaxed) as f64);
    e.family(
        "edge_engine_events_total",
        "counter",
        "Events raised by engines (alarms raised or cleared, ...).",
    )
    .sample("edge_engine_events_total", &[], g.engines.events.load(Relaxed) as f64);
    e.family(
        "edge_engine_events_summarised_total",
        "counter",
        "Events left out of the log during an alarm flood (summarised once a minute instead).",
    )
    .sample("edge_engine_events_summarised_total", &[], g.engines.events_summarised.load(Relaxed) as f64);
    // What engine kinds publish themselves (alarms by priority, machine states, ...).
    for (family, samples) in g.engines.gauges().families() {
        e.family(family.name, family.kind, family.help);
        for (labels, v) in samples {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            e.sample(family.name, &labels, *v);
        }
    }

    e.family("edge_component_up", "gauge", "1 while a supervised task (driver, engine host, uplink) runs.");
    for c in &g.components {
        e.sample("edge_component_up", &[("kind", c.kind), ("name", &c.name)], c.is_up() as u8 as f64);
    }
    e.family(
        "edge_component_restarts_total",
        "counter",
        "Times a supervised task was restarted after it crashed, failed or ended on its own.",
    );
    for c in &g.components {
        e.sample(
            "edge_component_restarts_total",
            &[("kind", c.kind), ("name", &c.name)],
            c.restarts.load(Relaxed) as f64,
        );
    }

    e.family("edge_config_reloads_total", "counter", "Config reloads on SIGHUP, by outcome.")
        .sample("edge_config_reloads_total", &[("result", "applied")], state.reloads_ok.load(Relaxed) as f64)
        .sample(
            "edge_config_reloads_total",
            &[("result", "refused")],
            state.reloads_failed.load(Relaxed) as f64,
        );
    super::console::render_metrics(state, &mut e);
    super::prom_outputs::render(&g, &mut e);
    super::prom_loops::render(&g, &mut e);
    e.family("edge_agent_uptime_seconds", "gauge", "Seconds since the agent started.").sample(
        "edge_agent_uptime_seconds",
        &[],
        state.process_start.elapsed().as_secs_f64(),
    );
    e.family("edge_agent_info", "gauge", "Build and site of this agent.").sample(
        "edge_agent_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("site", &g.config.agent.site),
            ("gateway", &g.config.agent.gateway),
        ],
        1.0,
    );
    e.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use drivers::SystemClock;

    use super::*;
    use crate::runtime::Running;

    const PLANT: &str = r#"
[[sim.device]]
name = "kiln"
scan = "10ms"
tags = [{ name = "kiln.temp", shape = "sine" }]

[[sim.device]]
name = "meter"
scan = "10ms"
tags = [{ name = "meter.kwh", shape = "counter" }]

[[alarm]]
tag = "kiln.temp"
high = 0.5
"#;

    /// Every device emits every per-device family, and the agent-wide families are all there: a new
    /// driver that forgets its telemetry fails here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_device_emits_every_family() {
        let config = crate::config::parse(PLANT, "t.toml", &|_| None).unwrap();
        let running = Running::start(config, Arc::new(SystemClock), Instant::now(), None);
        let state = AgentState::new(running.generation.clone(), Instant::now());
        let deadline = Instant::now() + Duration::from_secs(10);
        while running.generation.devices.iter().any(|d| d.scans.load(Relaxed) < 2)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let text = render(&state);
        for device in ["kiln", "meter"] {
            for family in [
                "edge_device_up",
                "edge_device_samples_total",
                "edge_device_scans_total",
                "edge_device_scan_duration_seconds_count",
            ] {
                let line = format!("{family}{{device=\"{device}\"}} ");
                let value: f64 = text
                    .lines()
                    .find_map(|l| l.strip_prefix(&line))
                    .unwrap_or_else(|| panic!("no {line} in\n{text}"))
                    .parse()
                    .unwrap();
                assert!(value >= 1.0, "{line}{value}");
            }
            // Counted only when something happens: present, whatever the value.
            for family in [
                "edge_device_scans_skipped_total",
                "edge_device_stale_answers_total",
                "edge_device_refusals_learned_total",
            ] {
                let line = format!("{family}{{device=\"{device}\"}} ");
                assert!(text.lines().any(|l| l.starts_with(&line)), "no {line} in\n{text}");
            }
            for kind in ErrorKind::ALL {
                let line =
                    format!("edge_device_errors_total{{device=\"{device}\",kind=\"{}\"}} 0", kind.label());
                assert!(text.contains(&line), "no {line}");
            }
        }
        for family in [
            "edge_ring_capacity 65536",
            "edge_ring_written_total ",
            "edge_ring_reader_skipped_total{reader=\"snapshot\",policy=\"lossy\"} ",
            "edge_ring_reader_lag{reader=\"engines\",policy=\"lossy\"} ",
            "edge_engines 1",
            "edge_engine_events_total ",
            "edge_config_reloads_total{result=\"refused\"} 0",
        ] {
            assert!(text.contains(family), "no {family} in\n{text}");
        }
        // Each family is declared once, before its samples.
        let mut declared = std::collections::HashSet::new();
        for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            assert!(declared.insert(l.split(' ').nth(2).unwrap().to_owned()), "declared twice: {l}");
        }
        running.stop(Duration::from_secs(2)).await;
    }
}
