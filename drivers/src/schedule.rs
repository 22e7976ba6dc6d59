//! One scan scheduler for every polling driver, sans-IO: slots and their periods in, the next scan out.
//!
//! A slot is whatever one scan reads: a (device, poll group) on a Modbus link, an instrument on a serial
//! bus, a polled OPC UA read. The caller passes `now` and sleeps until [`Schedule::next_due`] itself.
//! - First scans are staggered over each slot's period, so a hundred devices do not all fire at once.
//! - [`Schedule::next`] gives the most overdue slot, so slots share a busy link in turn.
//! - A late scan keeps its slot's phase and drops the scans it missed instead of bursting to catch up;
//!   it says how many it dropped ([`Scan::skipped`]), so a link too slow for its scans shows in /metrics.

use std::time::Duration;

use tokio::time::Instant;

/// A period of zero would spin the link; none is shorter than this.
pub const MIN_PERIOD: Duration = Duration::from_millis(1);

#[derive(Debug, Clone)]
pub struct Schedule<K> {
    slots: Vec<Slot<K>>,
}

#[derive(Debug, Clone)]
struct Slot<K> {
    key: K,
    period: Duration,
    due: Instant,
}

/// A scan to start now.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan<'a, K> {
    pub key: &'a K,
    /// When it was due; `now` minus this is how late it starts.
    pub due: Instant,
    /// Scans of this slot that fell due before this one started and will not happen: a scan that
    /// starts more than a whole period late skipped `floor(lateness / period)` of them.
    pub skipped: u64,
}

impl<K> Schedule<K> {
    /// Slot `k` of `n` is first due `k / n` of its period after `start`.
    pub fn new(start: Instant, slots: impl IntoIterator<Item = (K, Duration)>) -> Self {
        let slots: Vec<(K, Duration)> = slots.into_iter().collect();
        let n = slots.len().max(1) as u128;
        let slots = slots
            .into_iter()
            .enumerate()
            .map(|(k, (key, period))| {
                let period = period.max(MIN_PERIOD);
                let offset = period.as_nanos() * k as u128 / n;
                let due = start + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
                Slot { key, period, due }
            })
            .collect();
        Schedule { slots }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.slots.iter().map(|s| &s.key)
    }

    /// When the next scan falls due (sleep until then); `None` with no slots.
    pub fn next_due(&self) -> Option<Instant> {
        self.slots.iter().map(|s| s.due).min()
    }

    /// The most overdue slot at `now`, if any is due, moved on to its next due time: the first of its
    /// phase that lies after `now`.
    pub fn next(&mut self, now: Instant) -> Option<Scan<'_, K>> {
        // Earliest due first; among equals the slot listed first, so ties do not reorder from scan to scan.
        let slot = self.slots.iter_mut().filter(|s| s.due <= now).min_by_key(|s| s.due)?;
        let due = slot.due;
        let late = now.duration_since(due).as_nanos();
        let skipped = u64::try_from(late / slot.period.as_nanos()).unwrap_or(u64::MAX);
        let periods = u32::try_from(skipped.saturating_add(1)).unwrap_or(u32::MAX);
        slot.due = due.checked_add(slot.period.saturating_mul(periods)).unwrap_or(now + slot.period);
        Some(Scan { key: &slot.key, due, skipped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Every scan `sched` starts before `until`, each taking `busy`: (when after t0, key, skipped).
    fn run<K: Copy>(
        sched: &mut Schedule<K>,
        t0: Instant,
        until: Duration,
        busy: Duration,
    ) -> Vec<(Duration, K, u64)> {
        let mut now = t0;
        let mut out = Vec::new();
        while now < t0 + until {
            match sched.next(now) {
                Some(s) => {
                    out.push((now - t0, *s.key, s.skipped));
                    now += busy;
                }
                None => now = sched.next_due().unwrap().max(now),
            }
        }
        out
    }

    fn millis<K: PartialEq>(scans: &[(Duration, K, u64)], key: K) -> Vec<u128> {
        scans.iter().filter(|s| s.1 == key).map(|s| s.0.as_millis()).collect()
    }

    #[test]
    fn first_scans_are_spread_over_the_period_then_keep_their_phase() {
        let t0 = Instant::now();
        let mut s = Schedule::new(
            t0,
            [("meter-1", 1000 * MS), ("meter-2", 1000 * MS), ("meter-3", 1000 * MS), ("meter-4", 1000 * MS)],
        );
        let scans: Vec<(u128, &str, u64)> =
            run(&mut s, t0, 2000 * MS, 3 * MS).into_iter().map(|(t, k, n)| (t.as_millis(), k, n)).collect();
        let want = [
            (0, "meter-1", 0),
            (250, "meter-2", 0),
            (500, "meter-3", 0),
            (750, "meter-4", 0),
            (1000, "meter-1", 0),
            (1250, "meter-2", 0),
            (1500, "meter-3", 0),
            (1750, "meter-4", 0),
        ];
        assert_eq!(scans, want);
    }

    #[test]
    fn each_slot_keeps_its_own_period() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, [("slow", 1000 * MS), ("fast", 100 * MS)]);
        let scans = run(&mut s, t0, 1000 * MS, MS);
        assert_eq!(millis(&scans, "slow"), [0]);
        let fast: Vec<u128> = (0..10).map(|i| 50 + i * 100).collect();
        assert_eq!(millis(&scans, "fast"), fast, "the second of two slots starts half its period in");
    }

    #[test]
    fn the_most_overdue_slot_goes_first() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, [("a", 100 * MS), ("b", 100 * MS), ("c", 100 * MS)]);
        // Due at 0, 33 and 66 ms; the link was busy until 80 ms.
        let order: Vec<&str> = std::iter::from_fn(|| s.next(t0 + 80 * MS).map(|s| *s.key)).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(s.next(t0 + 80 * MS), None, "each due slot once, then nothing until the next is due");
        assert_eq!(s.next_due(), Some(t0 + 100 * MS));
    }

    #[test]
    fn a_link_slower_than_its_scans_serves_every_slot_in_turn_and_counts_what_it_skips() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, [("a", 100 * MS), ("b", 100 * MS), ("c", 100 * MS)]);
        // Each scan takes 70 ms: three slots want 210 ms of every 100.
        let scans = run(&mut s, t0, 2100 * MS, 70 * MS);
        let keys: Vec<&str> = scans.iter().map(|s| s.1).collect();
        assert_eq!(keys.len(), 30);
        assert!(keys.chunks(3).all(|c| c == ["a", "b", "c"]), "round robin, nobody starves: {keys:?}");
        for (k, key) in ["a", "b", "c"].into_iter().enumerate() {
            let mine: Vec<&(Duration, &str, u64)> = scans.iter().filter(|s| s.1 == key).collect();
            assert_eq!(mine[0].2, 0, "{key}: its first scan is on time");
            assert!(mine[1..].iter().all(|s| s.2 >= 1), "{key}: scanned every 210 ms, it misses some");
            // Every due instant of the slot up to its last start was either scanned or counted skipped.
            let phase = 100 * MS * k as u32 / 3;
            let due = ((mine.last().unwrap().0 - phase).as_nanos() / (100 * MS).as_nanos()) as u64 + 1;
            let skipped: u64 = mine.iter().map(|s| s.2).sum();
            assert_eq!(mine.len() as u64 + skipped, due, "{key}");
        }
    }

    #[test]
    fn a_late_scan_skips_whole_periods_and_never_bursts() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, [("kiln", 1000 * MS)]);
        let table = [
            // (starts at, skipped, next due): late by less than a period catches the phase up once.
            (0, 0, 1000),
            (1900, 0, 2000),
            (2000, 0, 3000),
            // 2.5 periods late: scans due at 4 s and 5 s are skipped, the phase is kept.
            (5500, 2, 6000),
            (6000, 0, 7000),
            // Exactly one period late: one skipped.
            (8000, 1, 9000),
        ];
        for (at, skipped, next) in table {
            let now = t0 + at * MS;
            let scan = s.next(now).unwrap_or_else(|| panic!("due at {at} ms"));
            assert_eq!(scan.skipped, skipped, "at {at} ms");
            assert_eq!(s.next_due(), Some(t0 + next * MS), "at {at} ms");
            assert!(s.next(now).is_none(), "at {at} ms: no second scan at once");
        }
    }

    #[test]
    fn no_slots_no_scans_and_zero_periods_do_not_spin() {
        let t0 = Instant::now();
        let mut s: Schedule<()> = Schedule::new(t0, []);
        assert!(s.is_empty() && s.next_due().is_none() && s.next(t0).is_none());
        let mut s = Schedule::new(t0, [((), Duration::ZERO)]);
        assert!(s.next(t0).is_some());
        assert!(s.next(t0).is_none());
        assert_eq!(s.next_due(), Some(t0 + MIN_PERIOD));
    }
}
