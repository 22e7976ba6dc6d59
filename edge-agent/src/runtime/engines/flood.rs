//! An alarm flood is summarised, not logged line by line: more than `limit` engine events within ten
//! minutes (ISA-18.2 §16.5 takes 10 per 10 minutes per operator as a flood) and the journal gets one
//! line a minute saying how many there were and from where. Every event still reaches the store and
//! the uplinks as its text sample, and /alarms lists the standing ones.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use protocols::Timestamp;

use crate::engine::Event;

const WINDOW: Duration = Duration::from_secs(600);
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

struct Flood {
    since: Timestamp,
    last_summary: Timestamp,
    unlogged: u64,
    by_source: BTreeMap<String, u64>,
}

pub struct FloodGate {
    limit: usize,
    /// The times of the last `limit + 1` events: enough to tell whether more than `limit` fell in a window.
    recent: VecDeque<Timestamp>,
    flood: Option<Flood>,
}

impl FloodGate {
    pub fn new(limit: usize) -> FloodGate {
        FloodGate { limit: limit.max(1), recent: VecDeque::new(), flood: None }
    }

    /// Whether `e` is logged on its own line; returns false while a flood is being summarised.
    pub fn admit(&mut self, e: &Event) -> bool {
        self.recent.push_back(e.ts);
        if self.recent.len() > self.limit + 1 {
            self.recent.pop_front();
        }
        let flooding = self.recent.len() > self.limit
            && self.recent.front().is_some_and(|&first| e.ts.since(first) < WINDOW);
        if !flooding {
            if let Some(f) = self.flood.take() {
                tracing::warn!(
                    "alarm flood over (since {} s before): {} event(s) were summarised, not logged one by one",
                    e.ts.since(f.since).as_secs(),
                    f.unlogged
                );
            }
            return true;
        }
        let f = self.flood.get_or_insert_with(|| {
            tracing::warn!(
                "alarm flood: more than {} events in 10 minutes; logging a summary once a minute until it ends (every event is in <tag>.alarm.event and /alarms)",
                self.limit
            );
            Flood { since: e.ts, last_summary: e.ts, unlogged: 0, by_source: BTreeMap::new() }
        });
        f.unlogged += 1;
        *f.by_source.entry(e.source.clone()).or_default() += 1;
        if e.ts.since(f.last_summary) >= SUMMARY_EVERY {
            let mut top: Vec<(&String, &u64)> = f.by_source.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1));
            let top: Vec<String> = top.iter().take(5).map(|(s, n)| format!("{s}: {n}")).collect();
            tracing::warn!(
                "alarm flood goes on: {} event(s) in the last minute; most from {}",
                f.by_source.values().sum::<u64>(),
                top.join(", ")
            );
            f.by_source.clear();
            f.last_summary = e.ts;
        }
        false
    }

    #[cfg(test)]
    pub fn flooding(&self) -> bool {
        self.flood.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(s: i64) -> Event {
        Event {
            ts: Timestamp::from_secs(1_700_000_000 + s),
            source: "alarm 锅炉一号.温度".into(),
            message: String::new(),
        }
    }

    #[test]
    fn the_eleventh_event_within_ten_minutes_starts_a_flood_and_a_quiet_spell_ends_it() {
        let mut gate = FloodGate::new(10);
        let logged: Vec<bool> = (0..15).map(|i| gate.admit(&event(i * 10))).collect();
        assert_eq!(logged.iter().filter(|l| **l).count(), 10, "{logged:?}");
        assert!(!logged[10] && gate.flooding());
        // 15 events 10 s apart, then quiet: the next event, 20 minutes on, is logged and ends the flood.
        assert!(gate.admit(&event(1_350)));
        assert!(!gate.flooding());
        // Ten events spread over more than ten minutes are no flood.
        let mut slow = FloodGate::new(10);
        assert!((0..30).all(|i| slow.admit(&event(i * 61))));
    }
}
