//! The control audit log: every write a loop asks for (loop, tag, old and new value, reason, outcome) and
//! every operator command, one JSON object a line in `<data_dir>/audit/control.jsonl`, also logged.
//! Kept to 16 MiB: the full file moves to `control.jsonl.1` and a new one starts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::json;

use crate::engine::Command;

const MAX_BYTES: u64 = 16 << 20;

pub struct Audit {
    path: PathBuf,
    /// False after the first failure to write, so a read-only disk is reported once, not per write.
    working: Mutex<bool>,
}

fn now_ns() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Audit {
    pub fn new(data_dir: &Path) -> Audit {
        Audit { path: data_dir.join("audit").join("control.jsonl"), working: Mutex::new(true) }
    }

    pub fn write(
        &self,
        engine: &str,
        tag: &str,
        old: Option<f64>,
        new: Option<f64>,
        reason: &str,
        result: &Result<(), String>,
    ) {
        let outcome = match result {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("failed: {e}"),
        };
        tracing::info!(engine, tag, ?old, ?new, reason, outcome, "control write");
        self.append(json!({
            "ts_ns": now_ns(), "event": "write", "loop": engine, "tag": tag,
            "old": old, "new": new, "reason": reason, "result": outcome,
        }));
    }

    pub fn command(&self, engine: &str, command: &Command, result: &Result<String, String>) {
        let outcome = match result {
            Ok(done) => format!("ok: {done}"),
            Err(e) => format!("refused: {e}"),
        };
        let (by, fields) = match command {
            Command::Loop { fields, by } => (by.as_str(), json!(fields)),
            other => ("", json!(other.action())),
        };
        tracing::info!(engine, by, outcome, "control command");
        self.append(json!({
            "ts_ns": now_ns(), "event": "command", "loop": engine, "by": by,
            "fields": fields, "result": outcome,
        }));
    }

    fn append(&self, record: serde_json::Value) {
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        if !*working {
            return;
        }
        if let Err(e) = self.try_append(&record) {
            *working = false;
            tracing::warn!(
                "control audit log {} cannot be written ({e}); writes are still logged here",
                self.path.display()
            );
        }
    }

    fn try_append(&self, record: &serde_json::Value) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= MAX_BYTES) {
            std::fs::rename(&self.path, self.path.with_extension("jsonl.1"))?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        writeln!(f, "{record}")
    }
}
