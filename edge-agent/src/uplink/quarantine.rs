//! Items a peer refused as malformed: kept in `quarantine/` beside the store, with the peer's reason, for an
//! engineer to read, instead of being resent forever or silently dropped.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Appends `items` (one line each) under a comment with `why` to the file `<uplink>.<ext>`; returns its
/// path.
pub fn save(store_dir: &Path, uplink: &str, ext: &str, items: &[String], why: &str) -> io::Result<PathBuf> {
    let dir = store_dir.join("quarantine");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{uplink}.{ext}"));
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // Line protocol treats `#` lines as comments, so a line-protocol file can be replayed once fixed.
    let mut text = format!("# refused at unix {}s: {}\n", now.as_secs(), why.replace('\n', " "));
    for item in items {
        text.push_str(item.trim_end_matches('\n'));
        text.push('\n');
    }
    f.write_all(text.as_bytes())?;
    f.sync_data()?;
    Ok(path)
}
