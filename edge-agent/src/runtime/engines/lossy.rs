//! The host of engines that read the ring lossily: it never slows acquisition, and when it falls a full
//! ring behind it skips ahead, counted in `edge_ring_reader_skipped_total{reader="engines"}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use drivers::Clock;
use tokio::sync::mpsc;

use super::{EngineSet, Outlet, WriteOutcome};
use crate::engine::Emitter;
use crate::ring::RingReader;

/// Samples taken from the ring per step.
const BATCH: usize = 1024;

pub(crate) async fn run(
    mut set: EngineSet,
    mut reader: RingReader,
    outlet: Outlet,
    mut results: mpsc::UnboundedReceiver<WriteOutcome>,
    clock: Arc<dyn Clock>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut out = Emitter::default();
    loop {
        let wait = until(set.next_tick(), clock.now());
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
            _ = tokio::time::sleep(wait) => set.tick_due(clock.now(), &mut out),
        }
        outlet.stats.lossy_skipped.store(reader.skipped(), Ordering::Relaxed);
        if !outlet.flush(&mut set, &mut out).await {
            break;
        }
    }
    outlet.stats.lossy_skipped.store(reader.skipped(), Ordering::Relaxed);
}

/// How long until `next` (a tick time) on the agent's clock.
pub(crate) fn until(next: Option<protocols::Timestamp>, now: protocols::Timestamp) -> Duration {
    match next {
        Some(t) => Duration::from_nanos(u64::try_from(t.0.saturating_sub(now.0)).unwrap_or(0)),
        None => Duration::from_secs(3600),
    }
}
