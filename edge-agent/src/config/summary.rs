//! The one-screen summary `edge-agent check` prints for a valid config.

use std::fmt::Write;

use drivers::units::Span;

use super::Config;

impl Config {
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let a = &self.agent;
        let _ = writeln!(s, "site {} · gateway {} · data in {}", a.site, a.gateway, a.data_dir.display());
        let auth = if self.api.token.is_some() { "token required" } else { "no token: read-only" };
        let _ = writeln!(
            s,
            "api on {} ({auth}) · ring of {} samples",
            self.api.listen,
            a.ring_capacity.get_ref()
        );
        let sync = match self.store.sync {
            crate::store::SyncPolicy::Always => "fsync every write".to_owned(),
            crate::store::SyncPolicy::Every(w) => format!("fsync within {}", Span(w)),
            crate::store::SyncPolicy::Never => "fsync left to the OS".to_owned(),
        };
        let _ = writeln!(s, "store: at most {} MiB · {sync}", self.store.max_bytes >> 20);
        if self.uplinks.is_empty() {
            let _ = writeln!(s, "uplinks: none (samples stay in the store, oldest dropped at max_bytes)");
        }
        for u in &self.uplinks {
            let _ = writeln!(s, "{}", u.summary());
        }
        let devices: usize = self.links.iter().map(|l| l.devices().len()).sum();
        let _ = writeln!(s, "devices: {devices} on {} links", self.links.len());
        for l in self.links.iter().take(20) {
            let _ = writeln!(s, "  {}", l.summary());
        }
        if self.links.len() > 20 {
            let _ = writeln!(s, "  ... and {} more", self.links.len() - 20);
        }
        let writable: Vec<&str> =
            self.tags.info.iter().filter(|t| t.writable.is_some()).map(|t| t.name.as_str()).collect();
        let _ = writeln!(
            s,
            "tags: {} ({} writable{})",
            self.tags.registry.len(),
            writable.len(),
            list(&writable)
        );
        let _ = writeln!(s, "engines: {}", self.engines.len());
        for e in self.engines.iter().take(20) {
            let _ =
                writeln!(s, "  {} · {} · ticked every {}", e.summary(), e.input().label(), Span(e.tick()));
        }
        if self.engines.len() > 20 {
            let _ = writeln!(s, "  ... and {} more", self.engines.len() - 20);
        }
        s
    }
}

/// `: a, b, c` for a few names, with a count of the rest.
fn list(names: &[&str]) -> String {
    match names.len() {
        0 => String::new(),
        n if n <= 6 => format!(": {}", names.join(", ")),
        n => format!(": {}, ... and {} more", names[..5].join(", "), n - 5),
    }
}
