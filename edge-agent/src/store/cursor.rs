//! An uplink's position in the log: every sample before it was acknowledged by that uplink's server.
//! Kept in `cursors/<uplink>` as text, replaced atomically, at most once a second: after a crash the
//! uplink resends at most a second of data, which the historian stores once (same series, same time).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Shared;

const PERSIST_EVERY: Duration = Duration::from_secs(1);

pub struct Cursor {
    name: String,
    path: PathBuf,
    shared: Arc<Shared>,
    position: Arc<AtomicU64>,
    persisted: u64,
    persisted_at: Instant,
}

impl Cursor {
    /// Registers uplink `name`: its saved position, or the oldest sample kept for an uplink never seen.
    /// While registered, segments are deleted only once it has passed them.
    pub fn register(shared: &Arc<Shared>, name: &str) -> io::Result<Cursor> {
        let dir = shared.dir().join("cursors");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(name);
        let saved = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<u64>().ok(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        // A cursor past the head means the log lost its unsynced tail in a crash, after the uplink had
        // sent it: new samples will reuse those numbers and must not be skipped.
        let position = saved.unwrap_or_else(|| shared.oldest()).min(shared.head());
        let position = Arc::new(AtomicU64::new(position));
        {
            let mut cursors = shared.cursors.lock().unwrap_or_else(|e| e.into_inner());
            cursors.retain(|(n, _)| n != name);
            cursors.push((name.to_owned(), position.clone()));
        }
        let mut cursor = Cursor {
            name: name.to_owned(),
            path,
            shared: shared.clone(),
            position,
            persisted: saved.unwrap_or(u64::MAX),
            // The first acknowledgement after a start is saved at once: in a crash loop shorter than
            // PERSIST_EVERY each restart would otherwise resend everything since the first run's save.
            persisted_at: Instant::now().checked_sub(PERSIST_EVERY).unwrap_or_else(Instant::now),
        };
        // A new uplink, or one clamped to the head, starts from a saved position at once.
        let _ = cursor.flush();
        Ok(cursor)
    }

    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// Everything before `seq` is delivered. Saved at the first call after a start, then when a second
    /// has passed since the last save.
    pub fn advance(&mut self, seq: u64, now: Instant) -> io::Result<()> {
        self.position.fetch_max(seq, Ordering::AcqRel);
        if now.duration_since(self.persisted_at) >= PERSIST_EVERY {
            self.persisted_at = now;
            self.save(self.position())?;
        }
        Ok(())
    }

    /// Saves now (on shutdown).
    pub fn flush(&mut self) -> io::Result<()> {
        let p = self.position();
        if p != self.persisted { self.save(p) } else { Ok(()) }
    }

    fn save(&mut self, p: u64) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{p}")?;
        f.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        self.persisted = p;
        Ok(())
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(uplink = %self.name, "cannot save the uplink's position: {e}; it will resend from the last saved one");
        }
        let mut cursors = self.shared.cursors.lock().unwrap_or_else(|e| e.into_inner());
        cursors.retain(|(_, c)| !Arc::ptr_eq(c, &self.position));
    }
}
