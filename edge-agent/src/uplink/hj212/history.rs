//! History for the platform's re-send requests (2051/2061/2031 with `BeginTime`/`EndTime`, HJ 212-2017
//! §6.6): the records stay in the durable store for `history` after they were sent, held from
//! deletion like a lossless engine's position (only the store's `max_bytes` can take them, counted),
//! and are read back from it in order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::store::Hold;
use crate::store::{Batch, LogReader, Shared};

/// A platform's request: the records of `cn` for `mn` with `DataTime` in `begin..=end` (unix ms).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRequest {
    pub qn: String,
    pub mn: String,
    pub cn: u16,
    pub begin_ms: i64,
    pub end_ms: i64,
}

/// Keeps the last `keep_ns` of records from deletion.
pub struct Retention {
    pub shared: Arc<Shared>,
    hold: Hold,
    keep_ns: i64,
    /// (first sequence number of a batch, its newest sample's time), oldest first.
    marks: Mutex<VecDeque<(u64, i64)>>,
}

impl Retention {
    pub fn new(shared: Arc<Shared>, keep_ns: i64) -> Retention {
        let hold = shared.hold(shared.oldest());
        Retention { shared, hold, keep_ns, marks: Mutex::new(VecDeque::new()) }
    }

    /// A batch was encoded: note where it starts and how new it is, and let go of what is older than
    /// `keep_ns` before the newest sample seen.
    pub fn note(&self, batch: &Batch) {
        let Some(newest) = batch.samples.iter().map(|s| s.ts.as_nanos()).max() else { return };
        let mut marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        marks.push_back((batch.first_seq, newest));
        let horizon = newest.saturating_sub(self.keep_ns);
        while marks.len() > 1 && marks.get(1).is_some_and(|m| m.1 < horizon) {
            marks.pop_front();
        }
        if let Some((seq, _)) = marks.front() {
            self.hold.set(*seq);
        }
    }

    /// Where a history read starts: the oldest kept batch (or the oldest on disk).
    pub fn start(&self) -> u64 {
        let marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        marks.front().map_or(self.shared.oldest(), |m| m.0).max(self.shared.oldest())
    }
}

/// Every batch from `from` to the head (blocking file reads: call on the blocking pool).
pub fn read_all(shared: Arc<Shared>, from: u64, mut each: impl FnMut(&Batch)) -> std::io::Result<()> {
    let mut reader = LogReader::new(shared, from);
    while let Some(batch) = reader.read(4096)? {
        each(&batch);
    }
    Ok(())
}
