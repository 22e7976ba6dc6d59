//! The sample ring: bounded, lock-free, many writers, independent readers each with its own cursor.
//!
//! # Guarantees
//! - **Bounded.** `capacity` slots (a power of two), allocated once; pushing and reading never allocate
//!   in the ring itself.
//! - **Lock-free hot path, no `unsafe`.** A writer claims a run of sequence numbers with one CAS on the
//!   head and publishes each slot with a per-slot stamp (a seqlock made of atomics only), then the
//!   run's end at its first slot; a lossless reader checks one run end per run, a lossy one each
//!   slot's stamp. A reader copies three words per sample. No lock is taken by [`RingWriter::try_push`] or
//!   [`RingReader::try_read`].
//! - **Lossless readers never lose a sample.** A [`ReadPolicy::Lossless`] reader (the durable store's
//!   thread; `edge-agent test`'s tap) sees every sample written after it was created, in order, exactly once. When it falls a
//!   full ring behind, writers are held back ([`RingWriter::try_push`] accepts fewer samples, possibly
//!   none), never overwritten; a driver then waits through [`drivers::Publisher::publish`], and each
//!   episode is counted in [`RingStats::back_pressure_events`].
//! - **Lossy readers never slow anyone.** A [`ReadPolicy::Lossy`] reader (the tag snapshot behind /tags,
//!   the host of lossy engines) that is lapped jumps forward; it sees an in-order subsequence and counts exactly what it missed, so
//!   `read + skipped` equals what was written since it started.
//! - **Per-writer order.** Samples of one `try_push` call, and of successive calls from one task, are
//!   read in the order pushed. Samples of different writers interleave.
//! - **Close.** After [`Ring::close`] writers get [`drivers::PushOutcome::Closed`]; readers first drain what was
//!   accepted, then see `closed`.
//!
//! Waiting (a reader for data, a writer for space) is layered on top with `tokio::sync::Notify`, touched
//! only when someone is parked.

mod gates;
mod reader;
mod sync;
mod wait;
mod writer;

#[cfg(all(test, not(loom)))]
mod tests;
#[cfg(all(test, loom))]
mod tests_loom;
#[cfg(all(test, not(loom)))]
mod tests_threads;

use std::sync::{Arc, Mutex};

use serde::Serialize;

pub use drivers::PushOutcome;
pub use gates::MAX_LOSSLESS_READERS;
pub use reader::{ReadResult, RingReader};
pub use writer::RingWriter;

use gates::Gates;
use sync::{AtomicBool, AtomicU64, Ordering, Padded};
use wait::Waiters;

/// Set in the head word once the ring is closed: freezes the head so no claim can slip past a close.
const CLOSED: u64 = 1 << 63;
/// Set in a claim limit a lossless reader computed (see [`Ring::claim_limit`]); sequence numbers stay
/// far below it.
const GATED: u64 = 1 << 62;

/// What a reader does when it falls a full ring behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadPolicy {
    /// Hold writers back: nothing is ever lost (the durable store). A lossless reader must never wait on
    /// a writer of the same ring, or the two wait in a circle.
    Lossless,
    /// Skip ahead and count what was skipped (the tag snapshot, lossy engines).
    Lossy,
}

impl ReadPolicy {
    pub fn label(self) -> &'static str {
        match self {
            ReadPolicy::Lossless => "lossless",
            ReadPolicy::Lossy => "lossy",
        }
    }
}

/// A point-in-time view of the ring for /metrics and the health page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RingStats {
    pub capacity: usize,
    /// Samples accepted since the ring was created.
    pub written: u64,
    /// Samples not yet taken by the slowest lossless reader (0 without one).
    pub depth: u64,
    /// Episodes of a driver being held back by a full ring.
    pub back_pressure_events: u64,
    pub readers: Vec<ReaderStats>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReaderStats {
    pub name: String,
    pub policy: ReadPolicy,
    /// Samples written but not yet read by this reader.
    pub lag: u64,
    /// Samples this (lossy) reader jumped over; always 0 for a lossless one.
    pub skipped: u64,
}

/// The three words of [`protocols::Sample::to_words`] for one slot.
type Words = [AtomicU64; 3];

/// Reader bookkeeping visible to [`Ring::stats`].
struct ReaderShared {
    name: String,
    policy: ReadPolicy,
    /// Gate index of a lossless reader (its cursor lives there), `None` for a lossy one.
    gate: Option<usize>,
    /// Cursor of a lossy reader.
    cursor: AtomicU64,
    skipped: AtomicU64,
}

#[derive(Default)]
struct Registry {
    readers: Vec<Arc<ReaderShared>>,
    gates_taken: u64,
}

/// The bounded multi-writer, multi-reader sample ring. See the module docs for its guarantees.
pub struct Ring {
    /// Next sequence number to claim, with [`CLOSED`] in the top bit.
    head: Padded<AtomicU64>,
    /// Mirrors [`CLOSED`] on a line of its own: an idle reader checks it without pulling in the head
    /// that writers claim on.
    closed: Padded<AtomicBool>,
    /// Per slot: `seq + capacity` once sample `seq` is fully written, so a fresh slot `i` reads as
    /// "sample `i - capacity` published" and the first lap needs no special case. Kept apart from
    /// the words so a reader polling for the next sample does not pull in lines a writer is filling.
    stamps: Box<[AtomicU64]>,
    /// At the first slot of each claimed run: the run's end plus a lap, stored after every stamp of
    /// the run. A lossless reader polls only these, one store per run, so it never pulls in the stamp
    /// lines a writer is filling, and takes a whole run on one check. A fresh entry (0) and one left
    /// from an earlier lap are both at most `seq + capacity`, so need no special case.
    runs: Box<[AtomicU64]>,
    words: Box<[Words]>,
    mask: u64,
    gates: Gates,
    back_pressure: Padded<AtomicU64>,
    /// Readers parked for data.
    data: Waiters,
    /// Writers parked for space.
    space: Waiters,
    /// Lossless readers lingering between drains, woken when a writer finds the ring full.
    pressure: Waiters,
    registry: Mutex<Registry>,
}

impl Ring {
    /// A ring of `capacity` slots, rounded up to a power of two and at least 2.
    pub fn new(capacity: usize) -> Arc<Ring> {
        let capacity = capacity.max(2).next_power_of_two();
        let stamps = (0..capacity as u64).map(AtomicU64::new).collect();
        let runs = (0..capacity).map(|_| AtomicU64::new(0)).collect();
        let words =
            (0..capacity).map(|_| [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]).collect();
        Arc::new(Ring {
            head: Padded(AtomicU64::new(0)),
            closed: Padded(AtomicBool::new(false)),
            stamps,
            runs,
            words,
            mask: capacity as u64 - 1,
            gates: Gates::new(),
            back_pressure: Padded(AtomicU64::new(0)),
            data: Waiters::new(),
            space: Waiters::new(),
            pressure: Waiters::new(),
            registry: Mutex::new(Registry::default()),
        })
    }

    pub fn capacity(&self) -> usize {
        self.stamps.len()
    }

    /// A writer handle for one driver task; clone it for more.
    pub fn writer(self: &Arc<Self>) -> RingWriter {
        RingWriter::new(self.clone())
    }

    /// A driver-facing publisher over a fresh writer.
    pub fn publisher(self: &Arc<Self>) -> drivers::Publisher {
        drivers::Publisher::new(Arc::new(self.writer()))
    }

    /// A reader starting at the current head: it sees what is written from now on.
    ///
    /// # Panics
    /// When a ring already has [`MAX_LOSSLESS_READERS`] lossless readers: read dashboards lossy.
    pub fn reader(self: &Arc<Self>, name: &str, policy: ReadPolicy) -> RingReader {
        let gate = match policy {
            ReadPolicy::Lossy => None,
            ReadPolicy::Lossless => {
                let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
                let free = (!reg.gates_taken).trailing_zeros() as usize;
                assert!(
                    free < MAX_LOSSLESS_READERS,
                    "sample ring: reader `{name}` would be lossless reader number {}, the limit is \
                     {MAX_LOSSLESS_READERS}; make monitoring and dashboard readers ReadPolicy::Lossy",
                    MAX_LOSSLESS_READERS + 1
                );
                reg.gates_taken |= 1 << free;
                Some(free)
            }
        };
        // Gate atomics are touched outside the registry lock (loom must not switch threads inside it).
        let start = match gate {
            Some(g) => self.gates.open(g, &self.head, |h| h & !CLOSED),
            None => self.head_seq(Ordering::SeqCst),
        };
        let shared = Arc::new(ReaderShared {
            name: name.to_owned(),
            policy,
            gate,
            cursor: AtomicU64::new(start),
            skipped: AtomicU64::new(0),
        });
        self.registry.lock().unwrap_or_else(|e| e.into_inner()).readers.push(shared.clone());
        RingReader::new(self.clone(), shared, start)
    }

    /// Stops the ring: writers get [`drivers::PushOutcome::Closed`], readers drain what is left, then see closed.
    pub fn close(&self) {
        self.head.fetch_or(CLOSED, Ordering::SeqCst);
        self.closed.store(true, Ordering::SeqCst);
        self.data.wake_all();
        self.space.wake_all();
        self.pressure.wake_all();
    }

    pub fn is_closed(&self) -> bool {
        self.head.load(Ordering::Acquire) & CLOSED != 0
    }

    pub fn stats(&self) -> RingStats {
        let readers = self.registry.lock().unwrap_or_else(|e| e.into_inner()).readers.clone();
        let written = self.head_seq(Ordering::Acquire);
        let readers = readers
            .iter()
            .map(|r| {
                let cursor = match r.gate {
                    Some(g) => self.gates.cursor(g),
                    None => r.cursor.load(Ordering::Relaxed),
                };
                ReaderStats {
                    name: r.name.clone(),
                    policy: r.policy,
                    lag: written.saturating_sub(cursor),
                    skipped: r.skipped.load(Ordering::Relaxed),
                }
            })
            .collect();
        RingStats {
            capacity: self.capacity(),
            written,
            depth: self.gates.slowest_live().map_or(0, |c| written.saturating_sub(c)),
            back_pressure_events: self.back_pressure.load(Ordering::Relaxed),
            readers,
        }
    }

    fn head_seq(&self, order: Ordering) -> u64 {
        self.head.load(order) & !CLOSED
    }

    fn stamp(&self, seq: u64) -> &AtomicU64 {
        &self.stamps[(seq & self.mask) as usize]
    }

    fn run(&self, seq: u64) -> &AtomicU64 {
        &self.runs[(seq & self.mask) as usize]
    }

    /// The end of the run starting at `start` once it is published (every slot of it visible, by the
    /// Acquire), `None` while its entry is fresh or left from an earlier lap.
    fn published_run_end(&self, start: u64) -> Option<u64> {
        let entry = self.run(start).load(Ordering::Acquire);
        (entry > start + self.lap()).then(|| entry - self.lap())
    }

    /// Slot index ranges of the `n` samples from `first`: the run up to the end of the array, then
    /// the part that wrapped to its start (empty unless it wraps).
    fn spans(&self, first: u64, n: u64) -> [std::ops::Range<usize>; 2] {
        let start = (first & self.mask) as usize;
        let n = n as usize;
        let head_part = n.min(self.stamps.len() - start);
        [start..start + head_part, 0..n - head_part]
    }

    fn lap(&self) -> u64 {
        self.stamps.len() as u64
    }

    /// Highest sequence number (exclusive) a writer may claim, as of now. Head is loaded before the
    /// gates: see [`Gates::open`] for why that order keeps a newly created lossless reader safe.
    ///
    /// [`GATED`] is set when a lossless reader bounded the limit: every slot below it was then read,
    /// so published, on its previous lap, and a writer need not wait for that lap's stamp.
    fn claim_limit(&self) -> u64 {
        let head = self.head_seq(Ordering::Acquire);
        let (slowest, gated) = self.gates.slowest(head);
        (slowest + self.lap()) | if gated { GATED } else { 0 }
    }

    fn unregister(&self, shared: &Arc<ReaderShared>) {
        if let Some(g) = shared.gate {
            self.gates.close(g);
        }
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        reg.readers.retain(|r| !Arc::ptr_eq(r, shared));
        if let Some(g) = shared.gate {
            reg.gates_taken &= !(1 << g);
        }
        drop(reg);
        // A writer held back by this reader may go on now.
        self.space.wake_all();
    }
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("written", &self.head_seq(Ordering::Relaxed))
            .field("closed", &self.is_closed())
            .finish()
    }
}
