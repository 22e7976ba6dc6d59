//! First order plus dead time: `τ·y' = gain·u(t − θ) + offset − y`, the usual model of a kiln, a tank or a
//! heat exchanger answering its valve.
//!
//! Integrated exactly between scans: the delayed input is piecewise constant (each scan's input holds until
//! the next), so across each piece `y` moves to its target by `1 − exp(−Δt/τ)`. Scan spacing therefore
//! does not change the response, only where it is sampled.

use std::collections::VecDeque;
use std::time::Duration;

/// Oldest inputs beyond this are merged away, so a long dead time at a fast scan cannot grow memory.
pub const MAX_HISTORY: usize = 65_536;

#[derive(Debug, Clone)]
pub struct Fopdt {
    gain: f64,
    offset: f64,
    tau_s: f64,
    dead_ns: i64,
    /// (time in ns, input from then on), oldest first; never empty once started.
    history: VecDeque<(i64, f64)>,
    capacity: usize,
    y: f64,
    last_ns: Option<i64>,
}

impl Fopdt {
    /// `scan` sizes the input history: about two entries per scan that fits in the dead time.
    pub fn new(gain: f64, offset: f64, time_constant: Duration, dead_time: Duration, scan: Duration) -> Self {
        let per_scan = scan.as_nanos().max(1);
        let expected = dead_time.as_nanos().div_ceil(per_scan) as usize;
        Fopdt {
            gain,
            offset,
            tau_s: time_constant.as_secs_f64(),
            dead_ns: i64::try_from(dead_time.as_nanos()).unwrap_or(i64::MAX),
            history: VecDeque::new(),
            capacity: expected.saturating_mul(2).saturating_add(4).min(MAX_HISTORY),
            y: offset,
            last_ns: None,
        }
    }

    /// The input that acted at `t`: the last one recorded at or before `t`, or the first if none was.
    fn input_at(&self, t: i64) -> (f64, Option<i64>) {
        let i = self.history.partition_point(|&(ts, _)| ts <= t);
        let value = self.history[i.saturating_sub(1)].1;
        (value, self.history.get(i).map(|&(ts, _)| ts))
    }

    /// Advances the plant to `now` with `input` applied from `now` on; returns the output at `now`.
    pub fn step(&mut self, now: i64, input: f64) -> f64 {
        let Some(last) = self.last_ns else {
            // Start in steady state for the first input: a plant already running, not a cold start.
            self.y = self.gain * input + self.offset;
            self.history.push_back((now, input));
            self.last_ns = Some(now);
            return self.y;
        };
        let mut s = last;
        while s < now {
            let (u, next_change) = self.input_at(s.saturating_sub(self.dead_ns));
            let end = next_change.map_or(now, |c| c.saturating_add(self.dead_ns).min(now));
            let end = end.max(s + 1).min(now);
            let target = self.gain * u + self.offset;
            let dt = (end - s) as f64 / 1e9;
            self.y =
                if self.tau_s > 0.0 { target + (self.y - target) * (-dt / self.tau_s).exp() } else { target };
            s = end;
        }
        self.last_ns = Some(now.max(last));
        self.record(now, input);
        self.y
    }

    fn record(&mut self, now: i64, input: f64) {
        if self.history.back().is_some_and(|&(ts, u)| ts >= now || u == input) {
            // Same instant, or no change: nothing new for the delay line to replay.
            if let Some(back) = self.history.back_mut().filter(|b| b.0 >= now) {
                back.1 = input;
            }
        } else {
            self.history.push_back((now, input));
        }
        // Keep one entry at or before the oldest instant the dead time can still look back to.
        let horizon = now.saturating_sub(self.dead_ns);
        while self.history.len() > 1 && self.history[1].0 <= horizon {
            self.history.pop_front();
        }
        while self.history.len() > self.capacity {
            self.history.pop_front();
        }
    }

    #[cfg(test)]
    pub fn history_len(&self) -> usize {
        self.history.len()
    }
}
