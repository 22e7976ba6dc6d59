//! The last sample of every tag, for /tags and the status line. Fed by a lossy ring reader: it may skip
//! under load, and then simply shows a newer value.

use std::sync::Mutex;
use std::time::Instant;

use protocols::{Sample, TagId};

use crate::ring::RingReader;

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
    while reader.read(&mut batch, 1024).await.is_some() {
        if first && !batch.is_empty() {
            first = false;
            tracing::info!(elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "first sample acquired");
        }
        snapshot.record(&batch);
        history.record(&batch);
        batch.clear();
    }
}
