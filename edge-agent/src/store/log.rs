//! The writer: appends records to the active segment with one `write` each, fsyncs by policy, rotates,
//! deletes what every uplink has passed, and drops the oldest data at `max_bytes` or when the disk is full.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use protocols::{Sample, TextPool, Value};

use super::record::{self, Body, Decoded, Dictionary};
use super::{Shared, StoreConfig, SyncPolicy, list_segments, segment_path};

/// The writer. Owned by one thread; readers see its progress through [`Shared`].
pub struct Store {
    shared: Arc<Shared>,
    cfg: StoreConfig,
    /// (first sequence number, bytes), oldest first; the last is the active segment.
    segments: VecDeque<(u64, u64)>,
    total_bytes: u64,
    active: Option<File>,
    dict: Option<Arc<Dictionary>>,
    texts_written: HashSet<u32>,
    head: u64,
    buf: Vec<u8>,
    unsynced_since: Option<Instant>,
    /// Samples dropped at the cap or on a full disk since the episode began, if one is going on.
    dropping: Option<u64>,
    last_drop: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
#[error("store {dir}: {what}: {source}")]
pub struct StoreError {
    pub dir: String,
    pub what: String,
    #[source]
    pub source: io::Error,
}

impl Store {
    /// Opens (or creates) the store in `dir`: cuts a torn tail off the newest segment and finds the head.
    pub fn open(dir: &Path, cfg: &StoreConfig) -> Result<Store, StoreError> {
        let fail = |what: &str| {
            let dir = dir.display().to_string();
            let what = what.to_owned();
            move |source| StoreError { dir, what, source }
        };
        std::fs::create_dir_all(dir).map_err(fail("cannot create the directory"))?;
        let shared = Arc::new(Shared::new(dir.to_owned()));
        let mut firsts = list_segments(dir).map_err(fail("cannot list segments"))?;
        let mut head = 0;
        if let Some(&last) = firsts.last() {
            let path = segment_path(dir, last);
            let (valid_len, next) =
                recover_tail(&path, last).map_err(fail("cannot read the newest segment"))?;
            let len = std::fs::metadata(&path).map_err(fail("cannot read the newest segment"))?.len();
            if valid_len < len {
                tracing::warn!(
                    segment = %path.display(),
                    "store: cut {} bytes of a record torn by a crash or power cut",
                    len - valid_len
                );
                shared.counters.torn_bytes.fetch_add(len - valid_len, Ordering::Relaxed);
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(fail("cannot repair the newest segment"))?;
                f.set_len(valid_len).map_err(fail("cannot repair the newest segment"))?;
                f.sync_all().map_err(fail("cannot repair the newest segment"))?;
            }
            head = next;
            // A segment without samples holds nothing to send; the next one takes its name.
            if next == last {
                std::fs::remove_file(&path).map_err(fail("cannot remove an empty segment"))?;
                firsts.pop();
            }
        }
        let mut segments = VecDeque::new();
        let mut total_bytes = 0;
        for first in firsts {
            let bytes = std::fs::metadata(segment_path(dir, first)).map(|m| m.len()).unwrap_or(0);
            total_bytes += bytes;
            segments.push_back((first, bytes));
        }
        let store = Store {
            shared,
            cfg: cfg.clone(),
            segments,
            total_bytes,
            active: None,
            dict: None,
            texts_written: HashSet::new(),
            head,
            buf: Vec::with_capacity(256 << 10),
            unsynced_since: None,
            dropping: None,
            last_drop: None,
        };
        store.publish();
        Ok(store)
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    pub fn head(&self) -> u64 {
        self.head
    }

    /// Names the tag ids of what follows. A new dictionary starts a new segment, so each segment is read
    /// with the names it was written with, whatever the config says by then.
    pub fn set_dictionary(&mut self, dict: Dictionary) -> Result<(), StoreError> {
        self.dict = Some(Arc::new(dict));
        self.close_active()
    }

    /// Appends `samples` (their text values from `texts`) as one record, in one write.
    pub fn append(&mut self, samples: &[Sample], texts: &TextPool, now: Instant) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        let rotate = self.active.is_none()
            || self.segments.back().is_some_and(|&(_, b)| b >= self.cfg.effective_segment_bytes());
        if rotate {
            self.with_room(|s| s.open_segment().map_err(|e| e.source))
                .map_err(|e| self.error("cannot start a segment", e))?;
        }
        self.buf.clear();
        for s in samples {
            if let Value::Text(id) = s.value
                && self.texts_written.insert(id.0)
            {
                let text = texts.get(id).unwrap_or_default();
                record::encode_text(&mut self.buf, id.0, &text);
            }
        }
        record::encode_samples(&mut self.buf, self.head, samples);
        self.make_room(self.buf.len() as u64);
        if let Err(e) = self.with_room(Store::write_buf) {
            self.shared.counters.dropped_write_failed.fetch_add(samples.len() as u64, Ordering::Relaxed);
            // The text records may not have reached the disk: write them again with the next batch.
            self.texts_written.clear();
            return Err(self.error("cannot append", e));
        }
        self.head += samples.len() as u64;
        let c = &self.shared.counters;
        c.appended_samples.fetch_add(samples.len() as u64, Ordering::Relaxed);
        c.appended_bytes.fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        c.unsynced_samples.fetch_add(samples.len() as u64, Ordering::Relaxed);
        self.unsynced_since.get_or_insert(now);
        if self.cfg.sync == SyncPolicy::Always {
            self.sync()?;
        }
        self.publish();
        self.shared.appended.notify_waiters();
        Ok(())
    }

    /// Writes the buffer at the end of the active segment; on failure nothing of it stays there.
    fn write_buf(&mut self) -> io::Result<()> {
        let Some(file) = self.active.as_mut() else { return Err(io::Error::other("no active segment")) };
        let &(_, before) = self.segments.back().expect("an active segment is listed");
        if let Err(e) = file.write_all(&self.buf) {
            // A partial record would read as a torn tail; cut it so the next record follows a whole one.
            let _ = file.set_len(before);
            return Err(e);
        }
        let n = self.buf.len() as u64;
        if let Some(last) = self.segments.back_mut() {
            last.1 += n;
        }
        self.total_bytes += n;
        Ok(())
    }

    /// Syncs when the policy says it is due, and deletes segments every uplink has passed.
    pub fn tick(&mut self, now: Instant) -> Result<(), StoreError> {
        if let (SyncPolicy::Every(window), Some(since)) = (self.cfg.sync, self.unsynced_since)
            && now.duration_since(since) >= window
        {
            self.sync()?;
        }
        self.delete_sent();
        // An episode ends once the store is well below its cap and nothing was dropped for a minute (a
        // full disk can go on below the cap).
        if let Some(dropped) = self.dropping
            && self.total_bytes < self.cfg.max_bytes / 10 * 9
            && self.last_drop.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            tracing::info!("store: room again; {dropped} unsent samples were dropped in this episode");
            self.dropping = None;
        }
        Ok(())
    }

    /// When [`Store::tick`] must next run to keep the sync promise: `None` while nothing is unsynced.
    pub fn sync_due(&self) -> Option<Instant> {
        match (self.cfg.sync, self.unsynced_since) {
            (SyncPolicy::Every(window), Some(since)) => Some(since + window),
            _ => None,
        }
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if self.unsynced_since.is_none() {
            return Ok(());
        }
        if let Some(f) = &self.active {
            f.sync_data().map_err(|e| self.error("cannot sync", e))?;
        }
        self.unsynced_since = None;
        self.shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
        self.shared.counters.unsynced_samples.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn open_segment(&mut self) -> Result<(), StoreError> {
        self.close_active()?;
        let dir = self.shared.dir().to_owned();
        let path = segment_path(&dir, self.head);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| self.error("cannot create a segment", e))?;
        // The new name must survive a power cut too, or a synced segment could vanish with its directory entry.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        self.active = Some(file);
        self.segments.push_back((self.head, 0));
        self.texts_written.clear();
        let dict = self.dict.clone().unwrap_or_default();
        self.buf.clear();
        record::encode_dictionary(&mut self.buf, &dict);
        if let Err(e) = self.write_buf() {
            self.active = None;
            self.segments.pop_back();
            let _ = std::fs::remove_file(&path);
            return Err(self.error("cannot start a segment", e));
        }
        self.publish();
        Ok(())
    }

    fn close_active(&mut self) -> Result<(), StoreError> {
        let Some(file) = self.active.take() else { return Ok(()) };
        if self.cfg.sync != SyncPolicy::Never {
            file.sync_data().map_err(|e| self.error("cannot sync a finished segment", e))?;
        }
        self.unsynced_since = None;
        self.shared.counters.unsynced_samples.store(0, Ordering::Relaxed);
        // A segment that never got a sample is only its dictionary: nothing to keep.
        if let Some(&(first, _)) = self.segments.back()
            && first == self.head
        {
            let (_, bytes) = self.segments.pop_back().expect("just seen");
            self.total_bytes -= bytes;
            let _ = std::fs::remove_file(self.shared.segment_path(first));
        }
        self.publish();
        Ok(())
    }

    /// At the cap, drops the oldest segments until `incoming` more bytes fit.
    fn make_room(&mut self, incoming: u64) {
        while self.total_bytes + incoming > self.cfg.max_bytes && self.drop_oldest(Full::MaxBytes) {}
    }

    /// Runs `write`; while the disk is full, drops the oldest segment and tries again, so acquisition
    /// goes on with the newest data, as at `max_bytes`.
    fn with_room<T>(&mut self, mut write: impl FnMut(&mut Self) -> io::Result<T>) -> io::Result<T> {
        loop {
            match write(self) {
                Err(e) if e.kind() == io::ErrorKind::StorageFull && self.drop_oldest(Full::Disk) => {}
                other => return other,
            }
        }
    }

    /// Deletes the oldest finished segment, counting what uplinks had not yet sent. False if there is none.
    fn drop_oldest(&mut self, why: Full) -> bool {
        if self.segments.len() < 2 {
            return false;
        }
        let (first, bytes) = self.segments.pop_front().expect("two segments");
        let next = self.segments.front().expect("one left").0;
        let sent = self.shared.min_cursor().unwrap_or(0).clamp(first, next);
        let unsent = next - sent;
        self.remove(first, bytes);
        let c = &self.shared.counters;
        match why {
            Full::MaxBytes => c.dropped_max_bytes.fetch_add(unsent, Ordering::Relaxed),
            Full::Disk => c.dropped_disk_full.fetch_add(unsent, Ordering::Relaxed),
        };
        if unsent > 0 {
            self.last_drop = Some(Instant::now());
            match &mut self.dropping {
                Some(n) => *n += unsent,
                None => {
                    match why {
                        Full::MaxBytes => tracing::warn!(
                            "store: reached max_bytes ({} bytes); dropping the oldest unsent samples to keep \
                             acquiring: the uplink is down or too slow; raise [store] max_bytes if the disk allows",
                            self.cfg.max_bytes
                        ),
                        Full::Disk => tracing::error!(
                            "store {}: the disk is full; dropping the oldest unsent samples to keep acquiring: \
                             free space on it, or lower [store] max_bytes below what it can hold",
                            self.shared.dir().display()
                        ),
                    }
                    self.dropping = Some(unsent);
                }
            }
        }
        true
    }

    /// Deletes finished segments every running uplink has acknowledged and every hold has read.
    fn delete_sent(&mut self) {
        let Some(min) = self.shared.min_needed() else { return };
        while self.segments.len() >= 2 && self.segments[1].0 <= min {
            let (first, bytes) = self.segments.pop_front().expect("two segments");
            self.remove(first, bytes);
        }
    }

    fn remove(&mut self, first: u64, bytes: u64) {
        self.total_bytes -= bytes;
        let path = self.shared.segment_path(first);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(segment = %path.display(), "store: cannot delete a segment: {e}");
        }
        self.publish();
    }

    /// Tells readers and /metrics where the log stands.
    fn publish(&self) {
        let mut state = self.shared.state();
        // Segments come and go only at the ends: rebuild the list only when an end moved, not per append.
        let published =
            (state.segments.front().copied(), state.segments.back().copied(), state.segments.len());
        let now =
            (self.segments.front().map(|s| s.0), self.segments.back().map(|s| s.0), self.segments.len());
        if published != now {
            state.segments = self.segments.iter().map(|&(f, _)| f).collect();
        }
        state.head = self.head;
        state.active_len = match (&self.active, self.segments.back()) {
            (Some(_), Some(&(_, b))) => Some(b),
            _ => None,
        };
        drop(state);
        let c = &self.shared.counters;
        c.head.store(self.head, Ordering::Relaxed);
        c.disk_bytes.store(self.total_bytes, Ordering::Relaxed);
        c.segments.store(self.segments.len() as u64, Ordering::Relaxed);
    }

    fn error(&self, what: &str, source: io::Error) -> StoreError {
        StoreError { dir: self.shared.dir().display().to_string(), what: what.to_owned(), source }
    }
}

/// Why the oldest data had to go.
#[derive(Clone, Copy)]
enum Full {
    MaxBytes,
    Disk,
}

/// Reads a segment to its end: the length of its whole records and the sequence number after its last
/// sample. Corrupt records in the middle are left for readers to skip and count.
fn recover_tail(path: &Path, first_seq: u64) -> io::Result<(u64, u64)> {
    let bytes = std::fs::read(path)?;
    let (mut at, mut valid_len, mut next) = (0, 0, first_seq);
    while at < bytes.len() {
        match record::decode(&bytes[at..]) {
            Decoded::Record { body, len } => {
                at += len;
                valid_len = at;
                if let Body::Samples { first_seq, count, .. } = body {
                    next = next.max(first_seq + count as u64);
                }
            }
            Decoded::Corrupt { skip, .. } => at += skip,
            Decoded::Incomplete => break,
        }
    }
    Ok((valid_len as u64, next))
}
