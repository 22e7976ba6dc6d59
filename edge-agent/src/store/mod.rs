//! The durable store: an append-only log of segments on local disk that keeps every sample until every
//! uplink has acknowledged it.
//!
//! - [`record`]: the record format (length, CRC32, marker), sans-IO.
//! - [`log`]: the writer: one thread appends, group-commits with fsync, rotates, enforces `max_bytes`.
//! - [`reader`]: a streaming reader from any sequence number, one per uplink.
//! - [`cursor`]: an uplink's acknowledged position, persisted.
//! - [`persist`]: the ring's lossless reader that feeds the writer.
//!
//! Every sample gets a sequence number, dense and increasing across restarts. A segment file is named by
//! the sequence number of its first sample (`00000000000a2c00.seg`) and starts with a dictionary record, so
//! it can be read without the config that wrote it.

pub mod cursor;
pub mod log;
pub mod persist;
pub mod reader;
pub mod record;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use cursor::Cursor;
pub use log::Store;
pub use reader::{Batch, LogReader};
pub use record::Dictionary;

/// When appended data is made durable with fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After every append: one fsync covers everything the ring held (group commit).
    Always,
    /// At most this long after the first unsynced append: what a power cut can take.
    Every(Duration),
    /// Left to the operating system (tests, or a gateway with a UPS-backed disk).
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The store never holds more than this; at the cap the oldest samples are dropped.
    pub max_bytes: u64,
    pub segment_bytes: u64,
    pub sync: SyncPolicy,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_bytes: 1 << 30,
            segment_bytes: 64 << 20,
            sync: SyncPolicy::Every(Duration::from_millis(100)),
        }
    }
}

impl StoreConfig {
    /// Segments are the unit of deletion: keep at least eight under the cap, so dropping one at the cap
    /// takes an eighth of the data at most.
    pub fn effective_segment_bytes(&self) -> u64 {
        self.segment_bytes.min((self.max_bytes / 8).max(64 << 10))
    }
}

/// Counters of the store, read by /metrics.
#[derive(Debug, Default)]
pub struct StoreCounters {
    pub appended_samples: AtomicU64,
    pub appended_bytes: AtomicU64,
    pub syncs: AtomicU64,
    /// Unacknowledged samples dropped because the store reached `max_bytes`.
    pub dropped_max_bytes: AtomicU64,
    /// Unacknowledged samples dropped to make room on a full disk.
    pub dropped_disk_full: AtomicU64,
    /// Samples lost because the disk refused the write (full, or an I/O error) even after making room.
    pub dropped_write_failed: AtomicU64,
    /// Bytes cut from a segment's end at start-up: a write torn by a crash or power cut.
    pub torn_bytes: AtomicU64,
    pub disk_bytes: AtomicU64,
    pub segments: AtomicU64,
    /// Sequence number the next sample will get.
    pub head: AtomicU64,
    /// Samples appended but not yet fsynced.
    pub unsynced_samples: AtomicU64,
}

/// What the writer publishes to readers: which segments exist and how far each may be read.
#[derive(Debug, Default)]
pub(crate) struct LogState {
    /// First sequence numbers, ascending; the last one is the segment being written.
    pub segments: VecDeque<u64>,
    /// Sequence number the next sample will get.
    pub head: u64,
    /// Bytes of the active segment that hold whole records; `None` while no segment is being written.
    pub active_len: Option<u64>,
}

/// The part of the store that readers, cursors and /metrics share with the writer.
pub struct Shared {
    dir: PathBuf,
    pub(crate) state: Mutex<LogState>,
    pub counters: StoreCounters,
    /// Woken after every append, so an idle uplink sends a new sample without polling.
    pub(crate) appended: tokio::sync::Notify,
    cursors: Mutex<Vec<(String, Arc<AtomicU64>)>>,
    /// Readers that are not uplinks (lossless engines): they keep segments from deletion until they
    /// have read them, but never cause a deletion on their own.
    holds: Mutex<Vec<Arc<AtomicU64>>>,
}

/// A non-uplink reader's claim on the log: segments at or after `position` are not deleted for being
/// sent while it lives. Only `max_bytes` (counted) can take them.
pub struct Hold {
    shared: Arc<Shared>,
    position: Arc<AtomicU64>,
}

impl Hold {
    pub fn set(&self, position: u64) {
        self.position.store(position, Ordering::Release);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut holds = self.shared.holds.lock().unwrap_or_else(|e| e.into_inner());
        holds.retain(|h| !Arc::ptr_eq(h, &self.position));
    }
}

impl Shared {
    fn new(dir: PathBuf) -> Self {
        Shared {
            dir,
            state: Mutex::new(LogState::default()),
            counters: StoreCounters::default(),
            appended: tokio::sync::Notify::new(),
            cursors: Mutex::new(Vec::new()),
            holds: Mutex::new(Vec::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn head(&self) -> u64 {
        self.state().head
    }

    /// The oldest sequence number still on disk.
    pub fn oldest(&self) -> u64 {
        let s = self.state();
        s.segments.front().copied().unwrap_or(s.head)
    }

    /// The lowest position of the uplinks running now; `None` with no uplink, when nothing is deleted
    /// for being sent.
    pub fn min_cursor(&self) -> Option<u64> {
        let cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        cursors.iter().map(|(_, c)| c.load(Ordering::Acquire)).min()
    }

    /// Keeps what is at or after `position` from deletion until the [`Hold`] is dropped.
    pub fn hold(self: &Arc<Self>, position: u64) -> Hold {
        let position = Arc::new(AtomicU64::new(position));
        self.holds.lock().unwrap_or_else(|e| e.into_inner()).push(position.clone());
        Hold { shared: self.clone(), position }
    }

    /// The lowest position at which a segment may still be needed: the slowest uplink or hold. `None`
    /// with no uplink, when nothing is deleted for being sent.
    pub fn min_needed(&self) -> Option<u64> {
        let uplinks = self.min_cursor()?;
        let holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        Some(holds.iter().map(|h| h.load(Ordering::Acquire)).fold(uplinks, u64::min))
    }

    /// Each running uplink's name and acknowledged position.
    pub fn cursors(&self) -> Vec<(String, u64)> {
        let cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        cursors.iter().map(|(n, c)| (n.clone(), c.load(Ordering::Acquire))).collect()
    }

    pub(crate) fn segment_path(&self, first_seq: u64) -> PathBuf {
        segment_path(&self.dir, first_seq)
    }
}

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:016x}.seg"))
}

/// The segments in `dir`, by first sequence number.
pub(crate) fn list_segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(hex) = name.strip_suffix(".seg")
            && hex.len() == 16
            && let Ok(seq) = u64::from_str_radix(hex, 16)
        {
            found.push(seq);
        }
    }
    found.sort_unstable();
    Ok(found)
}
