//! The runtime as a whole: supervision of drivers, and engines that cannot deadlock the plant.

use super::*;

#[tokio::test]
async fn a_crashing_driver_takes_only_its_own_devices_down() {
    let device = Arc::new(DeviceStats::new("press-7"));
    device.scan_ok(1, Duration::from_millis(1));
    let crashing = tokio::spawn(async { panic!("register map out of bounds") });
    let link = supervise("rs485-2".into(), crashing, vec![device.clone()]);
    link.monitor.await.unwrap();
    assert!(!device.is_up());
    let why = device.last_error().unwrap();
    assert!(why.contains("driver crashed: register map out of bounds"), "{why}");

    let failing = tokio::spawn(async {
        Err(drivers::DriverError::Setup { link: "rs485-3".into(), message: "port busy".into() })
    });
    let other = Arc::new(DeviceStats::new("press-8"));
    supervise("rs485-3".into(), failing, vec![other.clone()]).monitor.await.unwrap();
    assert!(other.last_error().unwrap().contains("link rs485-3: port busy"));
}

mod no_deadlock {
    use std::sync::Mutex;
    use std::sync::atomic::Ordering::Relaxed;

    use drivers::SystemClock;
    use drivers::sections::Problem;
    use protocols::{Sample, TagId, Timestamp, Value};

    use super::*;
    use crate::config::TagInfo;
    use crate::engine::{DerivedTag, Emitter, Engine, EngineConfig, EngineInput, TagRef};
    use crate::store::{Store, StoreConfig, SyncPolicy};

    /// What a test engine saw: per tag, the last counter value and the gaps it found.
    #[derive(Debug, Default)]
    struct Seen {
        samples: u64,
        last: Vec<Option<i64>>,
        gaps: u64,
        derived_seen: u64,
    }

    /// A test engine reading every counter tag. The lossless one is slow on purpose and derives one
    /// sample per input sample, so it is both a lossless reader and a publisher that can find the ring full.
    #[derive(Debug)]
    struct Probe {
        name: &'static str,
        input: EngineInput,
        reads: Vec<toml::Spanned<String>>,
        derive: Option<String>,
        seen: Arc<Mutex<Seen>>,
        slow: Duration,
    }

    struct ProbeEngine {
        counters: Vec<TagId>,
        derived: Option<TagId>,
        seen: Arc<Mutex<Seen>>,
        slow: Duration,
    }

    impl EngineConfig for Probe {
        fn kind(&self) -> &'static str {
            "probe"
        }
        fn name(&self) -> String {
            self.name.into()
        }
        fn reads(&self) -> Vec<TagRef<'_>> {
            self.reads.iter().map(|t| TagRef { tag: t, role: "probe on".into() }).collect()
        }
        fn derives(&self) -> Vec<DerivedTag> {
            self.derive.iter().map(|n| DerivedTag { name: n.clone(), at: 0..0 }).collect()
        }
        fn problems(&self) -> Vec<Problem> {
            Vec::new()
        }
        fn input(&self) -> EngineInput {
            self.input
        }
        fn tick(&self) -> Duration {
            Duration::from_millis(100)
        }
        fn summary(&self) -> String {
            self.name.into()
        }
        fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
            let counters = self.reads.iter().filter_map(|t| tag_id(t.get_ref())).collect();
            Ok(Box::new(ProbeEngine {
                counters,
                derived: self.derive.as_deref().and_then(tag_id),
                seen: self.seen.clone(),
                slow: self.slow,
            }))
        }
    }

    impl Engine for ProbeEngine {
        fn on_sample(&mut self, s: &Sample, out: &mut Emitter) {
            let mut seen = self.seen.lock().unwrap();
            seen.samples += 1;
            if !self.counters.contains(&s.tag) {
                seen.derived_seen += 1;
                return;
            }
            let v = match s.value {
                Value::UInt(v) => v as i64,
                Value::Int(v) => v,
                other => panic!("a counter reads {other:?}"),
            };
            let i = s.tag.0 as usize;
            if seen.last.len() <= i {
                seen.last.resize(i + 1, None);
            }
            if let Some(prev) = seen.last[i]
                && v != prev + 1
            {
                seen.gaps += 1;
            }
            seen.last[i] = Some(v);
            drop(seen);
            if let Some(tag) = self.derived {
                out.sample(Sample::good(tag, s.ts, Value::Int(v)));
            }
            if !self.slow.is_zero() {
                std::thread::sleep(self.slow);
            }
        }
        fn on_tick(&mut self, _now: Timestamp, _out: &mut Emitter) {}
    }

    fn plant(devices: usize, tags: usize) -> String {
        let mut text = String::from("[agent]\nring_capacity = 1024\n");
        for d in 0..devices {
            text.push_str(&format!("[[sim.device]]\nname = \"burst-{d}\"\nscan = \"10ms\"\ntags = [\n"));
            for t in 0..tags {
                text.push_str(&format!("  {{ name = \"burst-{d}.c{t}\", shape = \"counter\" }},\n"));
            }
            text.push_str("]\n");
        }
        text
    }

    fn add(config: &mut Config, probe: Probe) {
        if let Some(d) = &probe.derive {
            config.tags.registry.intern(d);
            config.tags.info.push(TagInfo { name: d.clone(), device: "probe".into(), writable: None });
        }
        config.engines.push(Arc::new(probe));
    }

    /// A 1024-sample ring, ten devices bursting 100 samples every 10 ms, a lossless engine that takes
    /// 200 µs a sample and publishes one derived sample for each: acquisition never waits on the engine,
    /// the engine sees every counter value in order, and a lossy engine that is lapped counts exactly what it skipped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_slow_lossless_engine_that_publishes_cannot_deadlock_the_plant() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::parse(&plant(10, 10), "t.toml", &|_| None).unwrap();
        config.agent.data_dir = dir.path().to_owned();
        let counters: Vec<toml::Spanned<String>> =
            config.tags.info.iter().map(|t| toml::Spanned::new(0..0, t.name.clone())).collect();
        let exact = Arc::new(Mutex::new(Seen::default()));
        let lossy = Arc::new(Mutex::new(Seen::default()));
        add(
            &mut config,
            Probe {
                name: "slow-exact",
                input: EngineInput::Lossless,
                reads: counters.clone(),
                derive: Some("probe.copy".into()),
                seen: exact.clone(),
                slow: Duration::from_micros(200),
            },
        );
        let mut every = counters.clone();
        every.push(toml::Spanned::new(0..0, "probe.copy".into()));
        add(
            &mut config,
            Probe {
                name: "display",
                input: EngineInput::Lossy,
                reads: every,
                derive: None,
                seen: lossy.clone(),
                slow: Duration::from_micros(100),
            },
        );

        let store_cfg = StoreConfig { sync: SyncPolicy::Never, ..StoreConfig::default() };
        let store = Store::open(&dir.path().join("store"), &store_cfg).unwrap();
        let persist = Persist::start(store, tokio::runtime::Handle::current()).unwrap();
        let running = Running::start(config, Arc::new(SystemClock), Instant::now(), Some(&persist));
        let generation = running.generation.clone();

        tokio::time::sleep(Duration::from_secs(3)).await;
        let acquired: u64 = generation.devices.iter().map(|d| d.samples.load(Relaxed)).sum();
        let read_by_exact = exact.lock().unwrap().samples;
        // 10 devices x 10 tags x 100 scans/s: the drivers did not wait for the slow engine.
        assert!(acquired > 20_000, "acquired {acquired}");
        assert!(
            read_by_exact < acquired,
            "the engine is slower than the plant: {read_by_exact} of {acquired}"
        );

        tokio::time::timeout(Duration::from_secs(20), running.stop(Duration::from_secs(10)))
            .await
            .expect("stopping must not hang");
        let ring = generation.ring.stats();
        let display = ring.readers.iter().find(|r| r.name == "engines");
        {
            let exact = exact.lock().unwrap();
            assert_eq!(exact.gaps, 0, "the lossless engine lost samples");
            assert!(exact.samples > 1000, "{exact:?}");
            let lossy = lossy.lock().unwrap();
            // The lossy reader is gone after the stop; what it read and skipped is all that was written.
            assert!(display.is_none(), "{ring:?}");
            let skipped = generation.engines.lossy_skipped.load(Relaxed);
            assert_eq!(lossy.samples + skipped, ring.written, "read {} + skipped {skipped}", lossy.samples);
            assert!(skipped > 0, "the display engine is slow enough to be lapped: {lossy:?}");
        }
        let shared = persist.shared.clone();
        let _ = tokio::task::spawn_blocking(move || persist.stop()).await;
        assert_eq!(shared.counters.appended_samples.load(Relaxed), ring.written, "the store has it all");
    }

    /// Stopped while behind, a lossless engine resumes at its saved position: across the restart every
    /// counter goes on by exactly one (the only breaks are the counters starting again at 0 in the new
    /// run), and it has seen every counter sample the store holds, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_lossless_engine_resumes_at_its_saved_position_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store_cfg = StoreConfig { sync: SyncPolicy::Never, ..StoreConfig::default() };
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut stored = 0;
        for (run, slow) in [(0, Duration::from_micros(200)), (1, Duration::ZERO)] {
            let mut config = crate::config::parse(&plant(4, 10), "t.toml", &|_| None).unwrap();
            config.agent.data_dir = dir.path().to_owned();
            let counters: Vec<toml::Spanned<String>> =
                config.tags.info.iter().map(|t| toml::Spanned::new(0..0, t.name.clone())).collect();
            let probe = Probe {
                name: "exact",
                input: EngineInput::Lossless,
                reads: counters,
                derive: None,
                seen: seen.clone(),
                slow,
            };
            add(&mut config, probe);
            let store = Store::open(&dir.path().join("store"), &store_cfg).unwrap();
            let persist = Persist::start(store, tokio::runtime::Handle::current()).unwrap();
            let running = Running::start(config, Arc::new(SystemClock), Instant::now(), Some(&persist));
            let generation = running.generation.clone();
            tokio::time::sleep(Duration::from_secs(2)).await;
            if run == 1 {
                // Fast now: let it catch up with the backlog of the first run and this one's samples.
                let deadline = Instant::now() + Duration::from_secs(20);
                while seen.lock().unwrap().samples < stored + 4_000 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            running.stop(Duration::from_secs(10)).await;
            stored += generation.ring.stats().written;
            let _ = tokio::task::spawn_blocking(move || persist.stop()).await;
            if run == 0 {
                assert!(seen.lock().unwrap().samples < stored, "the first run must stop behind");
            }
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.gaps, 40, "one break per counter, where the second run starts again at 0");
        assert!(seen.samples <= stored && seen.samples > stored - 400, "seen {} of {stored}", seen.samples);
    }
}
