//! The store thread: the ring's lossless reader, appending every sample to the log. When the disk falls
//! behind, the ring fills and drivers are held back; nothing is dropped on the way to disk.
//!
//! The thread outlives config reloads: each generation hands it a feed (its ring reader, names and texts);
//! the thread drains one feed to its end before it takes the next, so samples keep their order.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use protocols::{Sample, TextPool};

use super::{Dictionary, Shared, Store};
use crate::ring::RingReader;

/// Between drains under load the thread sleeps this long rather than wake for every scan: one append
/// (one write call, one wake of each uplink) then carries every scan of the interval. A writer that
/// finds the ring full cuts the sleep short.
const LINGER: Duration = Duration::from_millis(50);
/// While no sample arrives and nothing waits for a sync, the store is still ticked this often (it
/// deletes segments every uplink has passed).
const IDLE_TICK: Duration = Duration::from_secs(1);
/// Samples per record: large enough to amortise the checksum and the write call (192 KiB).
const BATCH: usize = 8192;

/// One generation's samples.
pub struct Feed {
    pub reader: RingReader,
    pub dict: Dictionary,
    pub texts: Arc<TextPool>,
}

/// The running store thread. Dropping the handle without [`Persist::stop`] also stops it, after the
/// last feed drains.
pub struct Persist {
    feeds: Option<SyncSender<Feed>>,
    thread: Option<JoinHandle<()>>,
    pub shared: Arc<Shared>,
}

impl Persist {
    pub fn start(store: Store, runtime: tokio::runtime::Handle) -> std::io::Result<Persist> {
        let shared = store.shared();
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        let thread =
            std::thread::Builder::new().name("edge-store".into()).spawn(move || run(store, rx, runtime))?;
        Ok(Persist { feeds: Some(tx), thread: Some(thread), shared })
    }

    /// Hands the thread a generation's ring. Samples of an earlier feed are all appended first.
    pub fn feed(&self, feed: Feed) {
        if let Some(tx) = &self.feeds {
            let _ = tx.send(feed);
        }
    }

    /// Waits until every feed has drained (their rings must be closed) and the log is synced.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.feeds = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Persist {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run(mut store: Store, feeds: Receiver<Feed>, runtime: tokio::runtime::Handle) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut failing = false;
    loop {
        let Feed { mut reader, dict, texts } = match feeds.recv_timeout(IDLE_TICK) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout) => {
                tick(&mut store);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Err(e) = store.set_dictionary(dict) {
            tracing::error!("{e}");
        }
        loop {
            let (drained, closed) = drain(&mut reader, &texts, &mut batch, &mut store, &mut failing);
            tick(&mut store);
            if closed {
                break;
            }
            // Under load: linger, then drain what the interval brought. Idle: sleep until a sample comes
            // or a sync falls due.
            let now = Instant::now();
            let due = store.sync_due().map_or(IDLE_TICK, |at| at.saturating_duration_since(now));
            runtime.block_on(async {
                if drained > 0 {
                    let _ = tokio::time::timeout(LINGER.min(due), reader.held_back()).await;
                } else {
                    let _ = tokio::time::timeout(due.min(IDLE_TICK), reader.readable()).await;
                }
            });
        }
    }
    if let Err(e) = store.sync() {
        tracing::error!("store: the last sync failed: {e}");
    }
}

/// Appends everything the ring holds for this feed; returns how many samples, and whether the ring is
/// closed and drained.
fn drain(
    reader: &mut RingReader,
    texts: &TextPool,
    batch: &mut Vec<Sample>,
    store: &mut Store,
    failing: &mut bool,
) -> (usize, bool) {
    let mut drained = 0;
    loop {
        let r = reader.try_read(batch, BATCH);
        if batch.is_empty() {
            return (drained, r.closed);
        }
        drained += batch.len();
        match store.append(batch, texts, Instant::now()) {
            Ok(()) if *failing => {
                tracing::info!("store: appending again");
                *failing = false;
            }
            Ok(()) => {}
            // What could be dropped to make room was; the disk still refuses. Say it once per
            // episode and keep acquiring: the ring must not hold drivers back for a dead disk.
            Err(e) if !*failing => {
                *failing = true;
                tracing::error!(
                    "{e}; samples are lost until the disk takes writes again (free space, check the disk)"
                );
            }
            Err(_) => {}
        }
        batch.clear();
    }
}

fn tick(store: &mut Store) {
    if let Err(e) = store.tick(Instant::now()) {
        tracing::error!("{e}");
    }
}
