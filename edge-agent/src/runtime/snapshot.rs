//! The last sample of every tag, for /tags and the status line. Fed by a lossy ring reader: it may skip
//! under load, and then simply shows a newer value.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use protocols::{Sample, TagId};

use crate::ring::RingReader;

/// How stale /tags may be under load, in exchange for one wake per interval instead of one per scan.
const LINGER: Duration = Duration::from_millis(100);

pub struct Snapshot {
    last: Mutex<Vec<Option<Sample>>>,
}

impl Snapshot {
    pub fn new(tags: usize) -> Self {
        Snapshot { last: Mutex::new(vec![None; tags]) }
    }

    pub fn get(&self, tag: TagId) -> Option<Sample> {
        self.lock().get(tag.0 as usize).copied().flatten()
    }

    /// Every tag's last sample, in tag id order.
    pub fn all(&self) -> Vec<Option<Sample>> {
        self.lock().clone()
    }

    fn record(&self, batch: &[Sample]) {
        let mut last = self.lock();
        for s in batch {
            if let Some(slot) = last.get_mut(s.tag.0 as usize) {
                *slot = Some(*s);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Sample>>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps the snapshot and the console's history current until the ring closes (one lossy reader feeds
/// both: a second cursor would only copy the same batches). Logs when the first sample arrives, which is the
/// "start to first sample" figure.
pub async fn run(
    snapshot: std::sync::Arc<Snapshot>,
    history: std::sync::Arc<super::history::History>,
    mut reader: RingReader,
    started: Instant,
) {
    let mut batch = Vec::with_capacity(1024);
    let mut first = true;
    loop {
        let r = reader.try_read(&mut batch, 1024);
        if r.closed {
            break;
        }
        if batch.is_empty() {
            // Idle: the next push wakes us. Busy (below): a lull between drains, so that one wake
            // carries many scans.
            reader.readable().await;
            continue;
        }
        if first {
            first = false;
            tracing::info!(elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "first sample acquired");
        }
        snapshot.record(&batch);
        history.record(&batch);
        let full = batch.len() == 1024;
        batch.clear();
        if !full {
            tokio::time::sleep(LINGER).await;
        }
    }
}
