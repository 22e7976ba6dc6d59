//! Cursors of the lossless readers, which bound how far writers may run ahead.
//!
//! A fixed array of padded cursors plus a bitmap of live ones, so a writer finds the slowest lossless
//! reader with a handful of atomic loads and no lock.

use super::sync::{AtomicU64, Ordering, Padded, fence};

/// Lossless readers per ring. Engines, store and uplinks are a handful; dashboards should read lossy.
#[cfg(not(loom))]
pub const MAX_LOSSLESS_READERS: usize = 64;
#[cfg(loom)]
pub const MAX_LOSSLESS_READERS: usize = 4;

pub(crate) struct Gates {
    live: AtomicU64,
    cursors: Box<[Padded<AtomicU64>]>,
}

impl Gates {
    pub(crate) fn new() -> Self {
        Gates {
            live: AtomicU64::new(0),
            cursors: (0..MAX_LOSSLESS_READERS).map(|_| Padded(AtomicU64::new(0))).collect(),
        }
    }

    /// Makes gate `g` live at a cursor no later than `head` can be read afterwards; returns that cursor.
    ///
    /// Writers load the head, then (after a SeqCst fence) the bitmap. A writer whose bitmap load misses
    /// this gate has its fence ordered before ours, so its head load cannot see more than our second
    /// head load below: its claim limit stays within one lap of the cursor we return. Fences rather
    /// than SeqCst accesses, because the argument needs fence ordering (and loom models only fences).
    pub(crate) fn open(&self, g: usize, head: &AtomicU64, seq_of: impl Fn(u64) -> u64) -> u64 {
        let early = seq_of(head.load(Ordering::Acquire));
        self.cursors[g].store(early, Ordering::Relaxed);
        // Release: a writer that sees the bit also sees at least `early`.
        self.live.fetch_or(1 << g, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        let start = seq_of(head.load(Ordering::Acquire));
        self.cursors[g].store(start, Ordering::Release);
        start
    }

    pub(crate) fn close(&self, g: usize) {
        self.live.fetch_and(!(1u64 << g), Ordering::AcqRel);
    }

    /// Publishes a reader's progress; Release so its slot reads happen before a writer reuses them.
    pub(crate) fn advance(&self, g: usize, cursor: u64) {
        self.cursors[g].store(cursor, Ordering::Release);
    }

    pub(crate) fn cursor(&self, g: usize) -> u64 {
        self.cursors[g].load(Ordering::Acquire)
    }

    /// The slowest live cursor, capped at `head_before` (a head loaded before this call), and whether
    /// any gate was live.
    pub(crate) fn slowest(&self, head_before: u64) -> (u64, bool) {
        fence(Ordering::SeqCst);
        let mut bits = self.live.load(Ordering::Acquire);
        let live = bits != 0;
        let mut min = head_before;
        while bits != 0 {
            let g = bits.trailing_zeros() as usize;
            // Acquire pairs with `advance`: the reader's copies are done before we reuse its slots.
            min = min.min(self.cursors[g].load(Ordering::Acquire));
            bits &= bits - 1;
        }
        (min, live)
    }

    /// Slowest live cursor, or `None` with no lossless reader (for stats).
    pub(crate) fn slowest_live(&self) -> Option<u64> {
        let mut bits = self.live.load(Ordering::Acquire);
        let mut min = None;
        while bits != 0 {
            let g = bits.trailing_zeros() as usize;
            let c = self.cursors[g].load(Ordering::Acquire);
            min = Some(min.map_or(c, |m: u64| m.min(c)));
            bits &= bits - 1;
        }
        min
    }
}
