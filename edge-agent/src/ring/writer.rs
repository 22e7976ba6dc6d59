//! The driver side: claim a run of sequence numbers with one CAS, fill the slots, publish their stamps.

use std::sync::Arc;

use drivers::{BoxFuture, PushOutcome, SampleSink};
use protocols::Sample;

use super::sync::{AtomicU64, Ordering, backoff, fence};
use super::{CLOSED, GATED, Ring};

/// A driver task's handle on the ring. Cheap to clone; each clone keeps its own cached claim limit.
pub struct RingWriter {
    ring: Arc<Ring>,
    /// Last computed claim limit. Any limit once computed stays a safe bound (lossless cursors only
    /// grow, and a new reader starts at or past every limit computed before it), so most pushes need
    /// not look at reader cursors at all.
    limit: AtomicU64,
}

impl RingWriter {
    pub(super) fn new(ring: Arc<Ring>) -> Self {
        RingWriter { ring, limit: AtomicU64::new(0) }
    }

    pub fn ring(&self) -> &Arc<Ring> {
        &self.ring
    }

    /// Pushes the longest prefix of `batch` that fits without overwriting what a lossless reader has
    /// not taken yet. Never blocks; `Accepted(0)` means the ring is full for now.
    pub fn try_push(&self, batch: &[Sample]) -> PushOutcome {
        let ring = &*self.ring;
        let cap = ring.lap();
        // Acquire pairs with the Release below: a limit computed by another thread sharing this handle
        // brings along the reader progress it was computed from.
        let mut limit = self.limit.load(Ordering::Acquire);
        let mut head = ring.head.load(Ordering::Relaxed);
        let mut refreshed = false;
        let (first, n) = loop {
            if head & CLOSED != 0 {
                return PushOutcome::Closed;
            }
            if batch.is_empty() {
                return PushOutcome::Accepted(0);
            }
            // Refresh a cached limit that cannot take the whole batch: readers may have moved on.
            if head + batch.len() as u64 > (limit & !GATED) && !refreshed {
                limit = ring.claim_limit();
                self.limit.store(limit, Ordering::Release);
                refreshed = true;
                head = ring.head.load(Ordering::Relaxed);
                continue;
            }
            if head >= (limit & !GATED) {
                return PushOutcome::Accepted(0);
            }
            let n = ((limit & !GATED) - head).min(batch.len() as u64);
            match ring.head.compare_exchange_weak(head, head + n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break (head, n),
                Err(now) => head = now,
            }
        };
        // A lossy reader that copies a word we store below also sees our claim when it re-reads the
        // head afterwards, which is how it detects having been lapped.
        fence(Ordering::Release);
        // A run wraps at most once: walking it as (at most) two slices keeps bounds checks off the
        // per-sample path.
        let spans = ring.spans(first, n);
        // The previous lap of each slot must be published first, or two writers would share it.
        // Only possible without a lossless reader: a gate already implies it.
        let mut seq = first;
        for span in spans.clone().into_iter().filter(|_| (limit & GATED) == 0) {
            for stamp in &ring.stamps[span] {
                let mut spins = 0;
                while stamp.load(Ordering::Acquire) != seq {
                    backoff(&mut spins);
                }
                seq += 1;
            }
        }
        let mut samples = batch.iter();
        for span in spans.clone() {
            for (slot, sample) in ring.words[span].iter().zip(&mut samples) {
                let [w0, w1, w2] = sample.to_words();
                slot[0].store(w0, Ordering::Relaxed);
                slot[1].store(w1, Ordering::Relaxed);
                slot[2].store(w2, Ordering::Relaxed);
            }
        }
        // Every stamp first (lossy readers and writers of the next lap check them slot by slot),
        // then the run's end at its first slot: a lossless reader that sees it (Acquire) finds every
        // slot of the run written.
        let mut seq = first;
        for span in spans {
            for stamp in &ring.stamps[span] {
                stamp.store(seq + cap, Ordering::Release);
                seq += 1;
            }
        }
        ring.run(first).store(first + n + cap, Ordering::Release);
        ring.data.wake();
        PushOutcome::Accepted(n as usize)
    }

    /// Resolves once a lossless reader has made room for at least one sample, or the ring closed.
    pub async fn wait_for_space(&self) {
        let ring = &*self.ring;
        ring.space
            .wait_until(|| {
                let head = ring.head.load(Ordering::SeqCst);
                if head & CLOSED != 0 {
                    return true;
                }
                let limit = ring.claim_limit();
                self.limit.store(limit, Ordering::Release);
                let room = (limit & !GATED) > head;
                if !room {
                    // A lossless reader lingering between drains must drain now.
                    ring.pressure.wake();
                }
                room
            })
            .await
    }

    /// Counts one episode of a driver held back by a full ring.
    pub fn note_back_pressure(&self) {
        self.ring.back_pressure.fetch_add(1, Ordering::Relaxed);
    }
}

impl Clone for RingWriter {
    fn clone(&self) -> Self {
        RingWriter { ring: self.ring.clone(), limit: AtomicU64::new(self.limit.load(Ordering::Acquire)) }
    }
}

impl std::fmt::Debug for RingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingWriter").field("ring", &self.ring).finish()
    }
}

impl SampleSink for RingWriter {
    fn try_push(&self, batch: &[Sample]) -> PushOutcome {
        RingWriter::try_push(self, batch)
    }
    fn wait_for_space(&self) -> BoxFuture<'_, ()> {
        Box::pin(RingWriter::wait_for_space(self))
    }
    fn note_back_pressure(&self) {
        RingWriter::note_back_pressure(self)
    }
}
