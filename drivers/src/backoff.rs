//! Retry pacing: exponential backoff, with or without full jitter, sans-IO.
//!
//! [`Backoff`] gives the delays; [`Retry`] remembers until when a failed link, unit or peer is left alone.
//! The caller passes the randomness and the time in, so a test replays any schedule. Full jitter (a delay
//! drawn from `0..=ceiling`) keeps a fleet of gateways that lost a peer together from retrying together;
//! without jitter the delay is the ceiling itself, for a pace an engineer can predict ("1 s doubling to
//! 30 s").

use std::time::Duration;

use tokio::time::Instant;

/// Whether a delay is drawn at random below its ceiling or is the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Uniform in `0..=ceiling`.
    Full,
    /// Exactly the ceiling; the random input is ignored.
    None,
}

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: Jitter,
    /// Failures since the last success; the ceiling is `initial * 2^attempt`, capped at `max`.
    attempt: u32,
}

impl Backoff {
    /// Full jitter; `max` below `initial` is taken as `initial`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max: max.max(initial), jitter: Jitter::Full, attempt: 0 }
    }

    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before the next attempt; `random` is any uniformly drawn `u64`.
    pub fn next_delay(&mut self, random: u64) -> Duration {
        let ceiling = self.ceiling();
        self.advance();
        if self.jitter == Jitter::None {
            return ceiling;
        }
        // 32 bits of randomness are plenty, and keep the product inside u128 even for `Duration::MAX`.
        let nanos = ceiling.as_nanos() * u128::from(random >> 32) / u128::from(u32::MAX);
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (nanos % 1_000_000_000) as u32).min(ceiling)
    }

    /// The peer said when to come back (HTTP Retry-After, say): that wins over the computed delay, up to
    /// the same `max` (a proxy answering "Retry-After: 86400" must not silence a gateway for a day). It
    /// still counts as a failure, so a later attempt without a hint backs off further.
    pub fn after_server_hint(&mut self, hint: Duration) -> Duration {
        self.advance();
        hint.min(self.max)
    }

    /// After a success: the next failure starts again from `initial`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The upper bound of the next delay.
    pub fn ceiling(&self) -> Duration {
        2u32.checked_pow(self.attempt)
            .and_then(|factor| self.initial.checked_mul(factor))
            .map_or(self.max, |d| d.min(self.max))
    }

    fn advance(&mut self) {
        // Stop counting once the ceiling is pinned at `max`, so the exponent never overflows.
        if self.ceiling() < self.max {
            self.attempt += 1;
        }
    }
}

/// A link, unit or peer that failed, left alone until its backoff delay has passed.
#[derive(Debug, Clone)]
pub struct Retry {
    backoff: Backoff,
    until: Option<Instant>,
}

impl Retry {
    pub fn new(backoff: Backoff) -> Self {
        Retry { backoff, until: None }
    }

    /// A failure at `now`: returns how long it is left alone.
    pub fn failed(&mut self, now: Instant, random: u64) -> Duration {
        let wait = self.backoff.next_delay(random);
        self.until = Some(now + wait);
        wait
    }

    /// A success: no longer failing, and the next failure waits `initial` again.
    pub fn succeeded(&mut self) {
        self.backoff.reset();
        self.until = None;
    }

    /// Whether it is still to be left alone at `now`.
    pub fn holds(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }

    /// Whether it failed and has not succeeded since (its wait may be over).
    pub fn is_failing(&self) -> bool {
        self.until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn ceilings_double_from_initial_up_to_max() {
        let mut b = Backoff::new(S, 30 * S);
        let ceilings: Vec<_> = (0..8).map(|_| b.next_delay(u64::MAX)).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 30, 30, 30].map(|s| s * S));
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let table = [
            (0, Duration::ZERO),
            (u64::MAX / 4, Duration::from_millis(2000)),
            (u64::MAX / 2, Duration::from_millis(4000)),
            (u64::MAX, 8 * S),
        ];
        for (random, want) in table {
            let mut b = Backoff::new(S, 60 * S);
            for _ in 0..3 {
                b.next_delay(u64::MAX);
            }
            let got = b.next_delay(random);
            let diff = got.abs_diff(want);
            assert!(diff < Duration::from_micros(1), "random {random:#x}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn without_jitter_the_delay_is_the_ceiling_whatever_the_random_input() {
        let mut b = Backoff::new(S, 30 * S).with_jitter(Jitter::None);
        let delays: Vec<_> = [0, 1, u64::MAX / 3, 0, u64::MAX, 7, 0].map(|r| b.next_delay(r)).to_vec();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30].map(|s| s * S));
    }

    #[test]
    fn reset_starts_again_from_initial() {
        let mut b = Backoff::new(Duration::from_millis(500), 60 * S);
        for _ in 0..5 {
            b.next_delay(1);
        }
        assert_eq!(b.ceiling(), 16 * S);
        b.reset();
        assert_eq!(b.next_delay(u64::MAX), Duration::from_millis(500));
    }

    #[test]
    fn server_hint_overrides_within_the_cap_and_counts_as_a_failure() {
        let mut b = Backoff::new(S, 60 * S);
        assert_eq!(b.after_server_hint(7 * S), 7 * S);
        assert_eq!(b.after_server_hint(Duration::ZERO), Duration::ZERO);
        assert_eq!(b.after_server_hint(24 * 3600 * S), 60 * S);
        assert_eq!(b.next_delay(u64::MAX), 8 * S);
        // One maximum for both: computed delays and hints never exceed it.
        for _ in 0..20 {
            assert!(b.next_delay(u64::MAX) <= 60 * S);
        }
    }

    #[test]
    fn never_overflows_after_many_failures() {
        let mut b = Backoff::new(Duration::MAX / 2, Duration::MAX);
        for _ in 0..200 {
            assert!(b.next_delay(u64::MAX) <= Duration::MAX);
        }
        let mut b = Backoff::new(S, 60 * S);
        for _ in 0..10_000 {
            b.next_delay(u64::MAX);
        }
        assert_eq!(b.next_delay(u64::MAX), 60 * S);
    }

    #[test]
    fn max_below_initial_is_initial() {
        let mut b = Backoff::new(5 * S, S);
        assert_eq!(b.next_delay(u64::MAX), 5 * S);
        assert_eq!(b.next_delay(u64::MAX), 5 * S);
    }

    #[test]
    fn a_failed_unit_is_left_alone_for_its_delay_then_tried_and_forgiven_on_success() {
        let t0 = Instant::now();
        let mut unit = Retry::new(Backoff::new(S, 30 * S).with_jitter(Jitter::None));
        assert!(!unit.is_failing() && !unit.holds(t0));
        assert_eq!(unit.failed(t0, 0), S);
        assert!(unit.holds(t0 + S / 2));
        assert!(!unit.holds(t0 + S), "tried again once its second is up");
        assert!(unit.is_failing(), "still failing until it answers");
        assert_eq!(unit.failed(t0 + S, 0), 2 * S);
        assert!(unit.holds(t0 + 2 * S) && !unit.holds(t0 + 3 * S));
        unit.succeeded();
        assert!(!unit.is_failing() && !unit.holds(t0 + S));
        assert_eq!(unit.failed(t0 + 4 * S, 0), S, "a new outage starts from the first delay again");
    }
}
