//! The live status line `run` shows when it owns a terminal: devices up, samples per second, ring depth.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::http::AgentState;

/// Repaints one line on stdout every second until the task is dropped. Does nothing off a terminal, so
/// journald never sees it.
pub async fn run(state: Arc<AgentState>) {
    let mut out = std::io::stdout();
    if !out.is_terminal() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_total = None;
    loop {
        tick.tick().await;
        let g = state.current();
        let total: u64 = g.devices.iter().map(|d| d.samples.load(Relaxed)).sum();
        let rate = last_total.map_or(0, |l| total.saturating_sub(l));
        last_total = Some(total);
        let line = line(&state, rate);
        // \r and erase-line keep it on one row; a log line above simply pushes it down.
        let _ = write!(out, "\r\x1b[2K{line}");
        let _ = out.flush();
    }
}

fn line(state: &AgentState, samples_per_s: u64) -> String {
    let g = state.current();
    let up = g.devices.iter().filter(|d| d.is_up()).count();
    let ring = g.ring.stats();
    let skipped: u64 = ring.readers.iter().map(|r| r.skipped).sum();
    let down: Vec<&str> = g.devices.iter().filter(|d| !d.is_up()).map(|d| d.name.as_str()).take(3).collect();
    let mut s = format!(
        "{} devices {up}/{} up · {samples_per_s} samples/s · ring {}/{} · skipped {skipped}",
        g.config.agent.gateway,
        g.devices.len(),
        ring.depth,
        ring.capacity
    );
    if !down.is_empty() {
        s.push_str(&format!(" · down: {}", down.join(", ")));
    }
    s
}

/// Clears the status line, so what follows (the shell prompt, the last log lines) starts clean.
pub fn clear() {
    let mut out = std::io::stdout();
    if out.is_terminal() {
        let _ = write!(out, "\r\x1b[2K");
        let _ = out.flush();
    }
}
