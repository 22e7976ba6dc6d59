//! /metrics for control loops: timing of each loop's thread, mode, SP/PV/OP, faults, writes, solves.

use std::sync::atomic::Ordering::Relaxed;

use crate::metrics::Exposition;
use crate::runtime::Generation;

type Counter = fn(&crate::runtime::engines::looping::LoopHandle) -> f64;
type Gauge = fn(&serde_json::Value) -> Option<f64>;

pub fn render(g: &Generation, e: &mut Exposition) {
    let loops = &g.loops.list;
    e.family(
        "edge_loop_jitter_seconds",
        "histogram",
        "How late each tick of the loop's thread woke, past its deadline.",
    );
    for l in loops {
        e.histogram("edge_loop_jitter_seconds", &[("loop", &l.name)], &l.group.jitter);
    }
    e.family(
        "edge_loop_busy_seconds",
        "histogram",
        "From a tick's wake-up to the end of its work (all loops of the period).",
    );
    for l in loops {
        e.histogram("edge_loop_busy_seconds", &[("loop", &l.name)], &l.group.busy);
    }
    let counters: [(&str, &str, Counter); 4] = [
        ("edge_loop_ticks_total", "Ticks of the loop's thread.", |l| l.group.ticks.load(Relaxed) as f64),
        (
            "edge_loop_deadlines_missed_total",
            "Ticks later than a whole period (the schedule then moves on).",
            |l| l.group.missed.load(Relaxed) as f64,
        ),
        ("edge_loop_max_lateness_seconds", "The latest a tick has woken.", |l| {
            l.group.max_late_ns.load(Relaxed) as f64 / 1e9
        }),
        (
            "edge_loop_dropped_samples_total",
            "Derived loop samples not published because the ring was full.",
            |l| l.group.dropped_samples.load(Relaxed) as f64,
        ),
    ];
    for (name, help, value) in counters {
        e.family(name, if name.ends_with("_total") { "counter" } else { "gauge" }, help);
        for l in loops {
            e.sample(name, &[("loop", &l.name)], value(l));
        }
    }
    e.family("edge_loop_writes_total", "counter", "Writes the loop sent to its actuators, by outcome.");
    for l in loops {
        e.sample(
            "edge_loop_writes_total",
            &[("loop", &l.name), ("result", "ok")],
            l.writes_ok.load(Relaxed) as f64,
        );
        e.sample(
            "edge_loop_writes_total",
            &[("loop", &l.name), ("result", "failed")],
            l.writes_failed.load(Relaxed) as f64,
        );
    }
    let statuses: Vec<_> = loops.iter().map(|l| (l.name.as_str(), l.status())).collect();
    let gauges: [(&str, &str, Gauge); 6] = [
        ("edge_loop_mode", "0 manual, 1 auto, 2 cascade.", |s| {
            s["mode"].as_str().map(|m| match m {
                "manual" => 0.0,
                "auto" => 1.0,
                _ => 2.0,
            })
        }),
        (
            "edge_loop_fault",
            "0 none, 1 input bad, 2 input stale, 3 missed deadline, 4 write failed, 5 read-back mismatch, 6 solve failed.",
            |s| Some(s["fault"]["code"].as_f64().unwrap_or(0.0)),
        ),
        ("edge_loop_pv", "A PID loop's process value.", |s| s["pv"].as_f64()),
        ("edge_loop_sp", "A PID loop's setpoint.", |s| s["sp"].as_f64()),
        ("edge_loop_op", "A PID loop's output.", |s| s["op"].as_f64()),
        ("edge_mpc_solve_seconds", "Time of an MPC's last QP solve.", |s| s["solve"]["seconds"].as_f64()),
    ];
    for (name, help, value) in gauges {
        e.family(name, "gauge", help);
        for (l, s) in &statuses {
            if let Some(v) = s.as_ref().and_then(value) {
                e.sample(name, &[("loop", l)], v);
            }
        }
    }
    e.family(
        "edge_mpc_solve_failures_total",
        "counter",
        "QP solves of an MPC that failed or overran their budget.",
    );
    for (l, s) in &statuses {
        if let Some(v) = s.as_ref().and_then(|s| s["solve"]["failures_total"].as_f64()) {
            e.sample("edge_mpc_solve_failures_total", &[("loop", l)], v);
        }
    }
}
