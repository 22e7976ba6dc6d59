//! What a platform may change on the agent (HJ 212-2017 §6.5: 1062 RtdInterval, 1064 MinInterval,
//! 1072 NewPW), per platform, kept in `<store>/hj212/<uplink>` so a restart keeps it. A file written
//! while the config had another `password` is the platform's change of an old password: the config,
//! edited since, wins.

use std::path::{Path, PathBuf};

/// The platform's settings for one uplink.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub password: String,
    /// Seconds between real-time (2011) uploads.
    pub rtd_interval: u32,
    /// Minutes between minute (2051) uploads.
    pub min_interval: u32,
    /// The config's `password` when the platform set `password`.
    from: String,
    path: PathBuf,
}

/// HJ 212-2017 table 6 ranges: RtdInterval 30..3600 s, MinInterval 1..60 min.
pub const RTD_RANGE: std::ops::RangeInclusive<u32> = 30..=3600;
pub const MIN_RANGE: std::ops::RangeInclusive<u32> = 1..=60;

impl Settings {
    /// The saved settings of uplink `name`, or the config's (`password`, real-time every 30 s, minute
    /// data every minute) when none are saved or the file is unreadable (logged with what to do).
    pub fn load(store_dir: &Path, name: &str, password: &str) -> Settings {
        let path = store_dir.join("hj212").join(name);
        let mut s = Settings {
            password: password.to_owned(),
            rtd_interval: 30,
            min_interval: 1,
            from: password.to_owned(),
            path,
        };
        let text = match std::fs::read_to_string(&s.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return s,
            Err(e) => {
                tracing::warn!("hj212: {} unreadable ({e}); using the config's settings", s.path.display());
                return s;
            }
        };
        let mut saved = s.clone();
        for line in text.lines() {
            let num = |v: &str, r: &std::ops::RangeInclusive<u32>| v.parse().ok().filter(|v| r.contains(v));
            let ok = match line.split_once('=') {
                Some(("password", v)) => {
                    saved.password = v.to_owned();
                    true
                }
                Some(("from", v)) => {
                    saved.from = v.to_owned();
                    true
                }
                Some(("rtd_interval", v)) => num(v, &RTD_RANGE).map(|v| saved.rtd_interval = v).is_some(),
                Some(("min_interval", v)) => num(v, &MIN_RANGE).map(|v| saved.min_interval = v).is_some(),
                _ => false,
            };
            if !ok {
                tracing::warn!(
                    "hj212: {}: line {line:?} is not password=, from=, rtd_interval= (30..3600) or min_interval= (1..60); ignored",
                    s.path.display()
                );
            }
        }
        if saved.from == password {
            s = saved;
        }
        s
    }

    /// Writes the settings (a temporary file renamed over the old one: never half a file).
    pub fn save(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        let text = format!(
            "password={}\nfrom={}\nrtd_interval={}\nmin_interval={}\n",
            self.password, self.from, self.rtd_interval, self.min_interval
        );
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Which records are due, per stack: one real-time record per `rtd_interval` and one minute record per
/// `min_interval`, aligned to the platform's clock (RtdInterval 60 sends :00 of each minute). Records
/// in between stay in the store for the platform's history requests.
#[derive(Debug, Default)]
pub struct Pace {
    /// (stack, CN) → the platform-clock time of the last record sent (not its slot: the interval may
    /// have changed since).
    last: std::collections::HashMap<(String, u16), i64>,
}

impl Pace {
    /// Whether the record of `stack`, `cn`, at `local_ms` (platform clock) is due.
    pub fn due(&self, s: &Settings, stack: &str, cn: u16, local_ms: i64) -> bool {
        let every_ms = match cn {
            protocols::hj212::cn::REALTIME => i64::from(s.rtd_interval) * 1000,
            protocols::hj212::cn::MINUTE => i64::from(s.min_interval) * 60_000,
            _ => return true,
        };
        let slot = |ms: i64| ms.div_euclid(every_ms.max(1));
        self.last.get(&(stack.to_owned(), cn)).is_none_or(|last| slot(*last) != slot(local_ms))
    }

    /// The platform acknowledged the record at `local_ms`.
    pub fn sent(&mut self, stack: &str, cn: u16, local_ms: i64) {
        self.last.insert((stack.to_owned(), cn), local_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::hj212::cn;

    #[test]
    fn rtd_60_sends_the_top_of_each_minute_and_minute_5_every_fifth() {
        let mut s = Settings::load(Path::new("/nonexistent"), "p", "123456");
        s.rtd_interval = 60;
        s.min_interval = 5;
        let mut pace = Pace::default();
        let mut send = |stack: &str, cn: u16, ms: i64| {
            let due = pace.due(&s, stack, cn, ms);
            if due {
                pace.sent(stack, cn, ms);
            }
            due
        };
        let rtd: Vec<bool> = (0..6).map(|k| send("锅炉一号", cn::REALTIME, k * 30_000)).collect();
        assert_eq!(rtd, [true, false, true, false, true, false]);
        let min: Vec<bool> = (0..11).map(|m| send("锅炉一号", cn::MINUTE, m * 60_000)).collect();
        assert_eq!(min, [true, false, false, false, false, true, false, false, false, false, true]);
        // Each stack has its own pace; hours are never held back.
        assert!(send("锅炉二号", cn::REALTIME, 30_000));
        assert!(send("锅炉一号", cn::HOUR, 0) && send("锅炉一号", cn::HOUR, 0));
        // Not acknowledged, not noted: a record sent again after an outage is still due.
        assert!(pace.due(&s, "锅炉一号", cn::REALTIME, 180_000));
        assert!(pace.due(&s, "锅炉一号", cn::REALTIME, 180_000));
        // Sent at 30 s with 30 s; the platform sets 60: 30 s and 60 s are in different minutes.
        s.rtd_interval = 30;
        let mut pace = Pace::default();
        pace.sent("锅炉一号", cn::REALTIME, 0);
        s.rtd_interval = 60;
        assert!(!pace.due(&s, "锅炉一号", cn::REALTIME, 30_000));
        assert!(pace.due(&s, "锅炉一号", cn::REALTIME, 60_000));
    }

    #[test]
    fn saved_password_survives_unless_the_config_changed_since() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::load(dir.path(), "平台", "123456");
        s.password = "654321".into();
        s.rtd_interval = 120;
        s.save().unwrap();
        let again = Settings::load(dir.path(), "平台", "123456");
        assert_eq!((again.password.as_str(), again.rtd_interval), ("654321", 120));
        let edited = Settings::load(dir.path(), "平台", "999999");
        assert_eq!((edited.password.as_str(), edited.rtd_interval), ("999999", 30));
    }
}
