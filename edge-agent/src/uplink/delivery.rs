//! One batch's way to the peer: resent until the peer takes it, halved when the peer refuses items (or
//! the write is too large) so the good items still arrive and the refused ones are quarantined. Halving
//! cuts the list of items, never an item. Several batches may be on their way at once; the sender
//! acknowledges them in order.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::sink::{Delivery, Encoded, Sink};
use super::{UplinkStats, quarantine};
use drivers::backoff::Backoff;

/// The first retry comes this soon; later ones back off up to `max_retry_wait`.
const FIRST_RETRY: Duration = Duration::from_millis(200);

/// What every batch of one uplink shares.
pub struct Courier<S: Sink> {
    pub name: String,
    pub sink: S,
    pub stats: Arc<UplinkStats>,
    pub store_dir: std::path::PathBuf,
    pub max_retry_wait: Duration,
}

impl<S: Sink> Courier<S> {
    /// Sends `items` until each is acknowledged or quarantined. False if told to stop first.
    pub async fn send(
        self: Arc<Self>,
        items: Vec<Encoded<S::Item>>,
        mut stop: watch::Receiver<bool>,
    ) -> bool {
        let mut backoff = Backoff::new(FIRST_RETRY, self.max_retry_wait);
        let mut seed = seed();
        // Runs of `items` still to deliver, the next on top.
        let mut parts: Vec<Range<usize>> = Vec::new();
        parts.push(0..items.len());
        while let Some(part) = parts.pop() {
            let run = &items[part.clone()];
            if run.is_empty() {
                continue;
            }
            loop {
                if stopping(&stop) {
                    return false;
                }
                let t = Instant::now();
                let answer = match self.sink.deliver(run).await {
                    Delivery::Partly { delivered: 0, reason, after } => Delivery::Retry { reason, after },
                    Delivery::Partly { delivered, .. } if delivered >= run.len() => Delivery::Acknowledged,
                    answer => answer,
                };
                self.stats.write_latency.observe(t.elapsed());
                match answer {
                    Delivery::Acknowledged => {
                        backoff.reset();
                        self.acknowledged(run);
                        break;
                    }
                    Delivery::Retry { reason, after } => {
                        self.failed(&reason);
                        pause(&mut backoff, &mut seed, after, &mut stop).await;
                    }
                    Delivery::Partly { delivered, reason, after } => {
                        // What got through is not sent again; the link worked, so the wait starts short.
                        self.acknowledged(&run[..delivered]);
                        self.failed(&reason);
                        backoff.reset();
                        parts.push(part.start + delivered..part.end);
                        pause(&mut backoff, &mut seed, after, &mut stop).await;
                        break;
                    }
                    Delivery::Refused { .. } | Delivery::TooLarge { .. } if run.len() > 1 => {
                        // Halve until the bad items are alone: the good ones still reach the peer, in order.
                        let mid = part.start + run.len() / 2;
                        parts.push(mid..part.end);
                        parts.push(part.start..mid);
                        break;
                    }
                    Delivery::Refused { reason } => {
                        self.quarantine(run, "refused it as malformed", &reason);
                        break;
                    }
                    Delivery::TooLarge { reason } => {
                        self.quarantine(run, "refused it as too large, even alone", &reason);
                        break;
                    }
                }
            }
        }
        true
    }

    fn acknowledged(&self, run: &[Encoded<S::Item>]) {
        self.stats.writes_accepted.fetch_add(1, Relaxed);
        self.stats.sent_samples.fetch_add(samples(run), Relaxed);
        if !self.stats.up.swap(true, Relaxed) {
            match self.stats.down_since.lock().unwrap_or_else(|e| e.into_inner()).take() {
                Some(since) => tracing::info!(
                    uplink = %self.name,
                    "uplink: {} takes writes again after {:.0?}",
                    self.sink.peer(),
                    since.elapsed()
                ),
                None => tracing::info!(uplink = %self.name, url = %self.sink.peer(), "uplink: connected"),
            }
            self.stats.set_error(None);
        }
    }

    /// Logs once per outage; /healthz and /metrics carry the latest reason.
    fn failed(&self, reason: &str) {
        self.stats.writes_failed.fetch_add(1, Relaxed);
        let was_up = self.stats.up.swap(false, Relaxed);
        let mut since = self.stats.down_since.lock().unwrap_or_else(|e| e.into_inner());
        if was_up || since.is_none() {
            since.get_or_insert_with(Instant::now);
            tracing::warn!(
                uplink = %self.name,
                "uplink: {reason}; samples stay in the store and are sent when the peer takes them"
            );
        }
        drop(since);
        self.stats.set_error(Some(reason.to_owned()));
    }

    fn quarantine(&self, run: &[Encoded<S::Item>], what: &str, reason: &str) {
        let (items, samples) = (run.len(), samples(run));
        self.stats.writes_rejected.fetch_add(1, Relaxed);
        self.stats.quarantined_lines.fetch_add(items as u64, Relaxed);
        self.stats.refused_samples.fetch_add(samples, Relaxed);
        let text: Vec<String> = run.iter().map(|e| self.sink.describe(&e.item)).collect();
        let peer = self.sink.peer();
        match quarantine::save(&self.store_dir, &self.name, S::QUARANTINE_EXT, &text, reason) {
            Ok(path) => tracing::error!(
                uplink = %self.name,
                "uplink: {peer} {what} ({reason}): {items} item(s), {samples} sample(s) kept in {} instead of resending",
                path.display()
            ),
            Err(e) => tracing::error!(
                uplink = %self.name,
                "uplink: {peer} {what} ({reason}): {items} item(s), {samples} sample(s) cannot be kept in {}: {e}",
                self.store_dir.join("quarantine").display()
            ),
        }
    }
}

/// Waits before the next try: the peer's hint when it gave one, else the next backoff step with jitter;
/// cut short when told to stop.
async fn pause(
    backoff: &mut Backoff,
    seed: &mut u64,
    hint: Option<Duration>,
    stop: &mut watch::Receiver<bool>,
) {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let delay = match hint {
        Some(hint) => backoff.after_server_hint(hint),
        None => backoff.next_delay(*seed),
    };
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = stop.changed() => {}
    }
}

fn samples<I>(run: &[Encoded<I>]) -> u64 {
    run.iter().map(|e| u64::from(e.samples)).sum()
}

/// Told to stop, or nobody is left who could tell it (the generation is gone).
pub(super) fn stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

fn seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
}
