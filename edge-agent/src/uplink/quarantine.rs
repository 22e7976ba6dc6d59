//! Lines a historian refused as malformed: kept in `quarantine/` beside the store, with the server's
//! reason, for an engineer to read, instead of being resent forever or silently dropped.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Appends `body` under a comment with `why` to today's file for `uplink`; returns its path.
pub fn save(store_dir: &Path, uplink: &str, body: &str, why: &str) -> io::Result<PathBuf> {
    let dir = store_dir.join("quarantine");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{uplink}.lp"));
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // Line protocol treats `#` lines as comments, so the file can be replayed as it is once fixed.
    let mut text = format!("# refused at unix {}s: {}\n", now.as_secs(), why.replace('\n', " "));
    text.push_str(body);
    if !body.ends_with('\n') {
        text.push('\n');
    }
    f.write_all(text.as_bytes())?;
    f.sync_data()?;
    Ok(path)
}
