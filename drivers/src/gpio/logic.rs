//! Debounce and pulse totals, sans-IO: levels and instants in, edges out; totals to and from a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

/// A contact's level, accepted only once it has held for the debounce time (contacts bounce for a few
/// ms; IEC 62053-31 S0 pulses last at least 30 ms).
#[derive(Debug, Clone)]
pub struct Debouncer {
    hold: Duration,
    stable: bool,
    candidate: bool,
    since: Instant,
}

impl Debouncer {
    pub fn new(hold: Duration, level: bool, now: Instant) -> Self {
        Debouncer { hold, stable: level, candidate: level, since: now }
    }

    pub fn level(&self) -> bool {
        self.stable
    }

    /// A raw reading at `now`; the new level when it has just been accepted.
    pub fn update(&mut self, raw: bool, now: Instant) -> Option<bool> {
        if raw != self.candidate {
            self.candidate = raw;
            self.since = now;
        }
        if self.candidate != self.stable && now.duration_since(self.since) >= self.hold {
            self.stable = self.candidate;
            return Some(self.stable);
        }
        None
    }
}

/// Pulse totals by tag, kept in `<data_dir>/gpio/<chip>.json` so a restart counts on from where it was.
/// Written whole to a temporary file and renamed over the old one, so a power cut leaves one or the other.
#[derive(Debug)]
pub struct Totals {
    path: PathBuf,
    pub counts: BTreeMap<String, u64>,
    dirty: bool,
}

impl Totals {
    pub fn path_for(data_dir: &Path, chip: &str) -> PathBuf {
        data_dir.join("gpio").join(format!("{chip}.json"))
    }

    /// The totals saved before, or none. A file that cannot be read is an error, not zeros: counting from
    /// zero would silently lose the meter's reading.
    pub fn load(path: PathBuf) -> Result<Totals, String> {
        let counts = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                format!(
                    "pulse totals {}: {e}; fix or remove the file (the counts start from 0 then)",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("pulse totals {}: {e}", path.display())),
        };
        Ok(Totals { path, counts, dirty: false })
    }

    pub fn add(&mut self, tag: &str) -> u64 {
        self.dirty = true;
        let c = self.counts.entry(tag.to_owned()).or_insert(0);
        *c += 1;
        *c
    }

    pub fn get(&self, tag: &str) -> u64 {
        self.counts.get(tag).copied().unwrap_or(0)
    }

    /// Saves when a count changed since the last save.
    pub fn save(&mut self) -> Result<(), String> {
        if !self.dirty {
            return Ok(());
        }
        let fail = |e: std::io::Error| format!("pulse totals {}: {e}", self.path.display());
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string(&self.counts).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)?;
        self.dirty = false;
        Ok(())
    }
}
