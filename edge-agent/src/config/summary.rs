//! The one-screen summary `edge-agent check` prints for a valid config.

use std::fmt::Write;

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
            crate::store::SyncPolicy::Every(w) => format!("fsync within {}", drivers::units::Span(w)),
            crate::store::SyncPolicy::Never => "fsync left to the OS".to_owned(),
        };
        let _ = writeln!(s, "store: at most {} MiB · {sync}", self.store.max_bytes >> 20);
        if self.uplinks.is_empty() {
            let _ = writeln!(s, "uplinks: none (samples stay in the store, oldest dropped at max_bytes)");
        }
        for u in &self.uplinks {
            let _ = writeln!(s, "{}", u.summary());
        }
        let modbus_devices: usize = self.modbus_links.iter().map(|l| l.devices.len()).sum();
        let _ = writeln!(s, "devices: {}", self.sim_devices.len() + modbus_devices);
        for l in &self.modbus_links {
            let tags: usize = l.devices.iter().map(|d| d.tags.len()).sum();
            let _ = writeln!(
                s,
                "  modbus link {} ({:?} {}): {} devices, {tags} tags",
                l.name.get_ref(),
                l.transport,
                l.endpoint(),
                l.devices.len()
            );
        }
        for d in self.sim_devices.iter().take(20) {
            let fault =
                d.fault.map(|f| format!(" · faults every {} for {}", f.every, f.lasting)).unwrap_or_default();
            let _ = writeln!(
                s,
                "  sim {:<24} {:>5} tags every {}{fault}",
                d.name.get_ref(),
                d.tags.len(),
                d.scan
            );
        }
        if self.sim_devices.len() > 20 {
            let _ = writeln!(s, "  ... and {} more", self.sim_devices.len() - 20);
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
        let watched: Vec<&str> = self.alarms.iter().map(|a| a.tag.get_ref().as_str()).collect();
        let _ = writeln!(
            s,
            "engines: {} alarm{}{}",
            watched.len(),
            if watched.len() == 1 { "" } else { "s" },
            list(&watched)
        );
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
