//! The consumer side: each reader walks the ring with its own cursor.

use std::sync::Arc;

use protocols::Sample;

use super::sync::{Ordering, fence};
use super::{CLOSED, ReadPolicy, ReaderShared, Ring};

/// What one non-blocking read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadResult {
    /// Samples appended to `out`.
    pub read: usize,
    /// Samples this (lossy) reader jumped over during the call.
    pub skipped: u64,
    /// The ring is closed and this reader has taken everything that was accepted.
    pub closed: bool,
}

/// One reader's cursor. Dropping it unregisters the reader (and releases writers it held back).
pub struct RingReader {
    ring: Arc<Ring>,
    shared: Arc<ReaderShared>,
    cursor: u64,
    /// Lossless readers: end of the runs found published so far (a run boundary, at or past the
    /// cursor), so a run read in parts is checked once.
    published: u64,
    skipped: u64,
}

impl RingReader {
    pub(super) fn new(ring: Arc<Ring>, shared: Arc<ReaderShared>, start: u64) -> Self {
        RingReader { ring, shared, cursor: start, published: start, skipped: 0 }
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn policy(&self) -> ReadPolicy {
        self.shared.policy
    }

    /// Total samples skipped since creation (lossy readers only).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Samples written but not yet read by this reader.
    pub fn lag(&self) -> u64 {
        (self.ring.head.load(Ordering::Acquire) & !CLOSED).saturating_sub(self.cursor)
    }

    /// Appends up to `max` samples to `out` without waiting.
    pub fn try_read(&mut self, out: &mut Vec<Sample>, max: usize) -> ReadResult {
        let ring = &*self.ring;
        let cap = ring.lap();
        let lossy = self.shared.gate.is_none();
        let before = out.len();
        let mut skipped = 0;
        // A second pass only follows a jump, so a lapped reader still returns data in the same call.
        for _ in 0..2 {
            let room = (max - (out.len() - before)) as u64;
            let first = self.cursor;
            let pass_start = out.len();
            if !lossy {
                (self.cursor, self.published) = self.copy_owned(out, first, room);
                break;
            }
            let seq = self.copy_lossy(out, first, room);
            self.cursor = seq;
            // Validate the copy: any sample whose slot a writer has claimed again since may be torn.
            // The word loads were Acquire and the writer fences after its claim, so a copied word from
            // a later lap implies this head load sees that lap's claim.
            let safe_from = (ring.head.load(Ordering::Acquire) & !CLOSED).saturating_sub(cap);
            if safe_from <= first {
                break;
            }
            let torn = safe_from.min(seq) - first;
            out.drain(pass_start..pass_start + torn as usize);
            skipped += safe_from - first;
            self.cursor = seq.max(safe_from);
            if out.len() - before == max {
                break;
            }
        }
        let read = out.len() - before;
        match self.shared.gate {
            Some(g) => {
                if read > 0 {
                    ring.gates.advance(g, self.cursor);
                    ring.space.wake();
                }
            }
            None => {
                self.skipped += skipped;
                self.shared.cursor.store(self.cursor, Ordering::Relaxed);
                self.shared.skipped.store(self.skipped, Ordering::Relaxed);
            }
        }
        let closed = read == 0 && ring.closed.load(Ordering::Acquire) && {
            let head = ring.head.load(Ordering::Acquire);
            head & CLOSED != 0 && self.cursor >= head & !CLOSED
        };
        ReadResult { read, skipped, closed }
    }

    /// The lossy copy: published samples from `first` on, stopping at an unpublished slot; returns
    /// the next seq. `try_read` then validates it against the head.
    fn copy_lossy(&self, out: &mut Vec<Sample>, first: u64, room: u64) -> u64 {
        let ring = &*self.ring;
        let cap = ring.lap();
        // Stamps first, then words in a tight loop: the word loads of a run then overlap in flight
        // instead of each waiting behind its stamp check. Walked as (at most) two slices, so the
        // scan has no bounds checks and keeps its count in a register.
        let mut ready = 0;
        'scan: for span in ring.spans(first, room.min(cap)) {
            for stamp in &ring.stamps[span] {
                let seq = first + ready;
                let stamp = stamp.load(Ordering::Acquire);
                if stamp != seq + cap {
                    break 'scan;
                }
                ready += 1;
            }
        }
        out.reserve(ready as usize);
        // A lossy reader may race a writer of a later lap, so its word loads are Acquire (see the
        // validation in `try_read`).
        let mut seq = first;
        'copy: for span in ring.spans(first, ready) {
            for w in &ring.words[span] {
                let words = [
                    w[0].load(Ordering::Acquire),
                    w[1].load(Ordering::Acquire),
                    w[2].load(Ordering::Acquire),
                ];
                match Sample::from_words(words) {
                    Some(sample) => out.push(sample),
                    // Only a torn copy decodes to nothing; validation discards the slot.
                    None => break 'copy,
                }
                seq += 1;
            }
        }
        // Orders the word loads above before the head load that validates them.
        fence(Ordering::Acquire);
        seq
    }

    /// The lossless copy: finds published runs by their ends, then copies without checks,
    /// since no writer may claim these slots again until this reader's cursor moves past them.
    /// Returns the next seq and the new end of the runs found published.
    fn copy_owned(&self, out: &mut Vec<Sample>, first: u64, room: u64) -> (u64, u64) {
        let ring = &*self.ring;
        let cap = ring.lap();
        // Runs tile the sequence numbers from this reader's start (a head value, so a boundary) on,
        // so `end` is always the first slot of a run.
        let mut end = self.published;
        while end - first < room {
            let Some(run_end) = ring.published_run_end(end) else { break };
            assert!(
                run_end <= end + cap,
                "sample ring: lossless reader `{}` was overwritten at sample {end}; this is a bug in \
                 the ring's back-pressure, please report it",
                self.shared.name
            );
            end = run_end;
        }
        let ready = (end - first).min(room);
        out.reserve(ready as usize);
        // Relaxed: the run-end loads above were Acquire. Each ordering is a constant: one chosen at
        // run time costs a branch per load.
        let name = &self.shared.name;
        for span in ring.spans(first, ready) {
            out.extend(ring.words[span].iter().map(|w| {
                let words = [
                    w[0].load(Ordering::Relaxed),
                    w[1].load(Ordering::Relaxed),
                    w[2].load(Ordering::Relaxed),
                ];
                Sample::from_words(words)
                    .unwrap_or_else(|| panic!("sample ring: undecodable slot for lossless reader `{name}`"))
            }));
        }
        (first + ready, end)
    }

    /// Resolves once there is something to read (or the ring closed), without taking it.
    pub async fn readable(&self) {
        let ring = &*self.ring;
        let (seq, published) = (self.cursor, self.published);
        let cap = ring.lap();
        // A lossless reader learns of runs from their ends alone (see `copy_owned`); a lossy one
        // from each slot's stamp.
        let ready = || match self.shared.gate {
            Some(_) => seq < published || ring.published_run_end(published).is_some(),
            None => ring.stamp(seq).load(Ordering::Acquire) >= seq + cap,
        };
        ring.data.wait_until(|| ready() || ring.is_closed()).await
    }

    /// Resolves once a writer has found the ring full (or it closed): a lossless reader that drains in
    /// batches waits on this between drains, instead of being woken by every push.
    pub async fn held_back(&self) {
        let ring = &*self.ring;
        let full = || {
            let head = ring.head.load(Ordering::SeqCst);
            head & CLOSED != 0 || (head & !CLOSED) >= self.cursor + ring.lap()
        };
        ring.pressure.wait_until(full).await
    }

    /// Waits for at least one sample and appends up to `max`. `None` once the ring is closed and this
    /// reader has drained it. `max == 0` returns `Some(0)` at once.
    pub async fn read(&mut self, out: &mut Vec<Sample>, max: usize) -> Option<usize> {
        if max == 0 {
            return Some(0);
        }
        loop {
            let r = self.try_read(out, max);
            if r.read > 0 {
                return Some(r.read);
            }
            if r.closed {
                return None;
            }
            let ring = self.ring.clone();
            let parked = ring.data.prepare();
            let r = self.try_read(out, max);
            if r.read > 0 {
                return Some(r.read);
            }
            if r.closed {
                return None;
            }
            parked.notified.await;
        }
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        self.ring.unregister(&self.shared);
    }
}

impl std::fmt::Debug for RingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingReader")
            .field("name", &self.shared.name)
            .field("policy", &self.shared.policy)
            .field("cursor", &self.cursor)
            .field("skipped", &self.skipped)
            .finish()
    }
}
