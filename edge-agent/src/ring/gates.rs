//! Cursors of the lossless readers, which bound how far writers may run ahead.
//!
//! A fixed array of padded cursors plus a bitmap of live ones, so a writer finds the slowest lossless
//! reader with a handful of atomic loads and no lock.

use super::sync::{AtomicU64, Ordering, Padded};

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
    /// Writers compute their limit from a head loaded *before* the bitmap. A writer that missed this
    /// gate therefore loaded its head before our bitmap update, hence before our second head load
    /// below (all SeqCst), so its limit stays within one lap of the cursor we return.
    pub(crate) fn open(&self, g: usize, head: &AtomicU64, seq_of: impl Fn(u64) -> u64) -> u64 {
        let early = seq_of(head.load(Ordering::SeqCst));
        self.cursors[g].store(early, Ordering::SeqCst);
        self.live.fetch_or(1 << g, Ordering::SeqCst);
        let start = seq_of(head.load(Ordering::SeqCst));
        self.cursors[g].store(start, Ordering::SeqCst);
        start
    }

    pub(crate) fn close(&self, g: usize) {
        self.live.fetch_and(!(1u64 << g), Ordering::SeqCst);
    }

    /// Publishes a reader's progress; Release so its slot reads happen before a writer reuses them.
    pub(crate) fn advance(&self, g: usize, cursor: u64) {
        self.cursors[g].store(cursor, Ordering::Release);
    }

    pub(crate) fn cursor(&self, g: usize) -> u64 {
        self.cursors[g].load(Ordering::Acquire)
    }

    /// The slowest live cursor, capped at `head_before` (a head loaded before this call).
    pub(crate) fn slowest(&self, head_before: u64) -> u64 {
        let mut bits = self.live.load(Ordering::SeqCst);
        let mut min = head_before;
        while bits != 0 {
            let g = bits.trailing_zeros() as usize;
            min = min.min(self.cursors[g].load(Ordering::SeqCst));
            bits &= bits - 1;
        }
        min
    }

    /// Slowest live cursor, or `None` with no lossless reader (for stats).
    pub(crate) fn slowest_live(&self) -> Option<u64> {
        let mut bits = self.live.load(Ordering::SeqCst);
        let mut min = None;
        while bits != 0 {
            let g = bits.trailing_zeros() as usize;
            let c = self.cursors[g].load(Ordering::SeqCst);
            min = Some(min.map_or(c, |m: u64| m.min(c)));
            bits &= bits - 1;
        }
        min
    }
}
