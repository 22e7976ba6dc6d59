//! A flapping device (up, down, up, down, every scan) would log every transition: thousands of lines an
//! hour. Its transitions are logged freely up to [`FREE_PER_WINDOW`] a minute; past that one line says
//! the rest is held back, and the first transition after the minute logs a summary of what was.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Transitions logged per window before the rest are only counted.
pub const FREE_PER_WINDOW: u32 = 6;
pub const WINDOW: Duration = Duration::from_secs(60);

/// What to do with one transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; first, when given, the summary of the window that just ended.
    Log { summary: Option<String> },
    /// The first one held back: log this notice instead.
    Notice(String),
    /// Held back (counted for the summary).
    Quiet,
}

#[derive(Debug, Default)]
pub struct FlapLimiter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    window_start: Option<Instant>,
    logged: u32,
    held: u32,
    last_held: Option<String>,
}

impl FlapLimiter {
    /// Rules on the transition `what` (e.g. `down: timeout`) at `now`.
    pub fn transition(&self, now: Instant, what: &str) -> Verdict {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut summary = None;
        if s.window_start.is_none_or(|t| now.duration_since(t) >= WINDOW) {
            if s.held > 0 {
                summary = Some(format!(
                    "flapping: {} more up/down transitions in the last {}s were not logged (last: {}); \
                     edge_device_errors_total counts every fault",
                    s.held,
                    s.window_start.map_or(0, |t| now.duration_since(t).as_secs()),
                    s.last_held.as_deref().unwrap_or("?")
                ));
            }
            *s = State { window_start: Some(now), ..State::default() };
        }
        if s.logged < FREE_PER_WINDOW {
            s.logged += 1;
            return Verdict::Log { summary };
        }
        s.held += 1;
        s.last_held = Some(what.to_owned());
        if s.held == 1 {
            return Verdict::Notice(format!(
                "flapping: {FREE_PER_WINDOW} up/down transitions within {}s; the rest of this minute's are \
                 counted, not logged",
                WINDOW.as_secs()
            ));
        }
        Verdict::Quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_flaps_in_a_minute_log_a_few_lines_and_then_a_summary() {
        let flaps = FlapLimiter::default();
        let t0 = Instant::now();
        let verdicts: Vec<Verdict> = (0..1000)
            .map(|i| {
                flaps.transition(
                    t0 + Duration::from_millis(i * 50),
                    if i % 2 == 0 { "down: timeout" } else { "up" },
                )
            })
            .collect();
        let logged = verdicts.iter().filter(|v| matches!(v, Verdict::Log { .. })).count();
        let notices = verdicts.iter().filter(|v| matches!(v, Verdict::Notice(_))).count();
        assert_eq!((logged, notices), (FREE_PER_WINDOW as usize, 1), "all within one minute (50 s)");
        // The first transition after the minute logs, with the summary of what was held back.
        match flaps.transition(t0 + Duration::from_secs(61), "down: comms lost") {
            Verdict::Log { summary: Some(s) } => {
                assert!(s.contains("994 more up/down transitions"), "{s}");
                assert!(s.contains("last: up"), "{s}");
            }
            other => panic!("expected a summary, got {other:?}"),
        }
    }

    #[test]
    fn a_device_that_rarely_changes_is_always_logged_without_summaries() {
        let flaps = FlapLimiter::default();
        let t0 = Instant::now();
        for i in 0..20 {
            let v = flaps.transition(t0 + Duration::from_secs(i * 30), "down: timeout");
            assert_eq!(v, Verdict::Log { summary: None }, "transition {i}");
        }
    }
}
