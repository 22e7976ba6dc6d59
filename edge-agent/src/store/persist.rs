//! The store thread: the ring's lossless reader, appending every sample to the log. When the disk falls
//! behind, the ring fills and drivers are held back; nothing is dropped on the way to disk.
//!
//! The thread outlives config reloads: each generation hands it a feed (its ring reader, names and texts);
//! the thread drains one feed to its end before it takes the next, so samples keep their order.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use protocols::TextPool;

use super::{Dictionary, Shared, Store};
use crate::ring::RingReader;

/// How often the store is ticked while no sample arrives, so a group commit is never late by more.
const IDLE_TICK: Duration = Duration::from_millis(10);
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
        let mut feed = match feeds.recv_timeout(IDLE_TICK) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout) => {
                tick(&mut store);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Err(e) = store.set_dictionary(feed.dict) {
            tracing::error!("{e}");
        }
        loop {
            let read = runtime.block_on(async {
                tokio::time::timeout(IDLE_TICK, feed.reader.read(&mut batch, BATCH)).await
            });
            if !batch.is_empty() {
                match store.append(&batch, &feed.texts, Instant::now()) {
                    Ok(()) if failing => {
                        tracing::info!("store: appending again");
                        failing = false;
                    }
                    Ok(()) => {}
                    // What could be dropped to make room was; the disk still refuses. Say it once per
                    // episode and keep acquiring: the ring must not hold drivers back for a dead disk.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(
                            "{e}; samples are lost until the disk takes writes again (free space, check the disk)"
                        );
                    }
                    Err(_) => {}
                }
                batch.clear();
            }
            tick(&mut store);
            if matches!(read, Ok(None)) {
                break;
            }
        }
    }
    if let Err(e) = store.sync() {
        tracing::error!("store: the last sync failed: {e}");
    }
}

fn tick(store: &mut Store) {
    if let Err(e) = store.tick(Instant::now()) {
        tracing::error!("{e}");
    }
}
