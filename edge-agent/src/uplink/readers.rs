//! An uplink's readers of the store: one from its cursor, and after an outage a second one for live data.
//!
//! When the uplink is more than [`SPLIT_BATCHES`] batches behind, a live reader starts at the head, and
//! the backlog reader follows at `backlog_rate` until it reaches where live began; then the live reader
//! becomes the only one again. The saved cursor is the backlog's.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::UplinkStats;
use crate::store::reader::ReaderLosses;
use crate::store::{Batch, LogReader, Shared};

/// Behind by more than this many batches, live data gets its own reader.
pub const SPLIT_BATCHES: u64 = 10;

/// At most this far behind the head, a read is served from the page cache on the uplink's own task:
/// about a store record's worth (200 KiB), well under a millisecond to read and check.
const INLINE_SAMPLES: u64 = 8192;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Live,
    Backlog,
}

pub struct Readers {
    store: Arc<Shared>,
    /// Reads from the cursor; after an outage, up to where `live` began.
    pub backlog: LogReader,
    /// Live data during catch-up: the reader and the sequence number it started at.
    pub live: Option<(LogReader, u64)>,
    /// Losses of readers no longer in use.
    retired: ReaderLosses,
}

impl Readers {
    pub fn new(store: Arc<Shared>, from: u64) -> Self {
        Readers {
            backlog: LogReader::new(store.clone(), from),
            live: None,
            retired: ReaderLosses::default(),
            store,
        }
    }

    /// Where live data began, while the backlog is sent beside it.
    pub fn live_start(&self) -> Option<u64> {
        self.live.as_ref().map(|&(_, start)| start)
    }

    pub fn position(&self, which: Which) -> Option<u64> {
        match which {
            Which::Live => self.live.as_ref().map(|(r, _)| r.position()),
            Which::Backlog => Some(self.backlog.position()),
        }
    }

    /// Far behind: live data gets its own reader at the head. True when it did.
    pub fn maybe_split(&mut self, batch_size: usize) -> bool {
        let head = self.store.head();
        let threshold = SPLIT_BATCHES * batch_size as u64;
        let live_lag = self.live.as_ref().map_or(0, |(r, _)| head.saturating_sub(r.position()));
        let far = head.saturating_sub(self.backlog.position()) > threshold
            && (self.live.is_none() || live_lag > threshold);
        if far && let Some((old, _)) = self.live.replace((LogReader::new(self.store.clone(), head), head)) {
            self.retire(old.losses);
        }
        far
    }

    /// The backlog has reached where live began: one reader again. True when it did.
    pub fn maybe_merge(&mut self) -> bool {
        if self.live_start().is_none_or(|start| self.backlog.position() < start) {
            return false;
        }
        let (reader, _) = self.live.take().expect("checked");
        let old = std::mem::replace(&mut self.backlog, reader);
        self.retire(old.losses);
        true
    }

    fn retire(&mut self, l: ReaderLosses) {
        self.retired.dropped += l.dropped;
        self.retired.corrupt_records += l.corrupt_records;
        self.retired.corrupt_samples += l.corrupt_samples;
    }

    /// Up to `max` samples from one reader; `None` when it caught up, or when there is no live reader.
    /// A reader at the head returns at once, and one close behind it reads on this task (what the store
    /// thread just wrote is in the page cache); a backlog reads on the blocking pool (disk I/O), so the
    /// live path costs no thread hop.
    pub async fn read(
        &mut self,
        which: Which,
        max: u64,
        stats: &UplinkStats,
    ) -> Option<std::io::Result<Batch>> {
        let reader = match which {
            Which::Live => &mut self.live.as_mut()?.0,
            Which::Backlog => &mut self.backlog,
        };
        let behind = self.store.head().saturating_sub(reader.position());
        if behind == 0 {
            return None;
        }
        if behind <= INLINE_SAMPLES {
            let read = reader.read(max as usize);
            self.account_losses(stats);
            return read.transpose();
        }
        let mut taken = std::mem::replace(reader, LogReader::new(self.store.clone(), 0));
        let (back, read) = tokio::task::spawn_blocking(move || {
            let r = taken.read(max as usize);
            (taken, r)
        })
        .await
        .expect("the store reader does not panic");
        *reader = back;
        self.account_losses(stats);
        read.transpose()
    }

    fn account_losses(&self, s: &UplinkStats) {
        let live = self.live.as_ref().map(|(r, _)| r.losses).unwrap_or_default();
        let (b, r) = (self.backlog.losses, self.retired);
        s.dropped_samples.store(r.dropped + b.dropped + live.dropped, Relaxed);
        s.corrupt_records.store(r.corrupt_records + b.corrupt_records + live.corrupt_records, Relaxed);
        s.corrupt_samples.store(r.corrupt_samples + b.corrupt_samples + live.corrupt_samples, Relaxed);
    }
}
