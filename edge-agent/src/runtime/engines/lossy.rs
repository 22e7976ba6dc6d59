//! The host of engines that read the ring lossily: it never slows acquisition, and when it falls a full
//! ring behind it skips ahead, counted in `edge_ring_reader_skipped_total{reader="engines"}`. It also
//! serves operators' commands, and keeps the state of engines that have some (acknowledgements,
//! shelving) in a file, so a restart does not bring back alarms the operator has dealt with.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use drivers::Clock;
use tokio::sync::mpsc;

use super::control::{self, Requests, StateFile};
use super::{EngineSet, Outlet, WriteOutcome};
use crate::ring::RingReader;

/// Samples taken from the ring per step.
const BATCH: usize = 1024;
/// How often the engines' figures are read for /metrics and their state saved if it changed.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct LossyHost {
    pub set: EngineSet,
    pub reader: RingReader,
    pub outlet: Outlet,
    pub results: mpsc::UnboundedReceiver<WriteOutcome>,
    pub requests: Option<Requests>,
    pub clock: Arc<dyn Clock>,
    /// Where the engines' state is kept; none in runs without a store.
    pub state: Option<PathBuf>,
}

impl LossyHost {
    pub async fn run(self) {
        let LossyHost { mut set, mut reader, outlet, mut results, requests, clock, state } = self;
        let mut state = state.map(StateFile::new);
        if let Some(file) = &mut state {
            file.restore(&mut set);
        }
        let mut requests = control::take(&requests).await;
        let mut batch = Vec::with_capacity(BATCH);
        let mut out = outlet.emitter();
        let mut refreshed = Instant::now();
        outlet.stats.publish_gauges("lossy", set.gauges());
        loop {
            let wait = until(set.next_tick(), clock.now()).min(REFRESH_EVERY);
            tokio::select! {
                read = reader.read(&mut batch, BATCH) => {
                    if read.is_none() {
                        break;
                    }
                    set.on_samples(&batch, &mut out);
                    batch.clear();
                }
                Some((engine, intent, result)) = results.recv() => {
                    set.on_write_result(engine, intent, result, &mut out);
                }
                request = control::next(&mut requests) => {
                    control::serve(&mut set, request, clock.now(), &mut out, |set| {
                        if let Some(file) = &mut state {
                            file.save(set);
                        }
                    });
                }
                _ = tokio::time::sleep(wait) => set.tick_due(clock.now(), &mut out),
            }
            outlet.stats.lossy_skipped.store(reader.skipped(), Ordering::Relaxed);
            if !outlet.flush(&mut set, &mut out).await {
                break;
            }
            if refreshed.elapsed() >= REFRESH_EVERY {
                refreshed = Instant::now();
                outlet.stats.publish_gauges("lossy", set.gauges());
                if let Some(file) = &mut state {
                    file.save(&set);
                }
            }
        }
        outlet.stats.lossy_skipped.store(reader.skipped(), Ordering::Relaxed);
        if let Some(file) = &mut state {
            file.save(&set);
        }
    }
}

/// How long until `next` (a tick time) on the agent's clock.
pub(crate) fn until(next: Option<protocols::Timestamp>, now: protocols::Timestamp) -> Duration {
    match next {
        Some(t) => Duration::from_nanos(u64::try_from(t.0.saturating_sub(now.0)).unwrap_or(0)),
        None => Duration::from_secs(3600),
    }
}
