//! The runtime as a whole: supervision of drivers, and engines that cannot deadlock the plant.

use super::*;

pub(in crate::runtime) mod supervision {
    use std::sync::atomic::AtomicU32;
    use std::sync::atomic::Ordering::Relaxed;

    use drivers::sections::Problem;
    use drivers::{BoxFuture, BuildContext, DeclaredDevice, DeclaredTag, Driver, DriverError, LinkConfig};
    use protocols::{Sample, TagId, Timestamp, Value};

    use super::*;
    use crate::config::TagInfo;
    use crate::engine::{DerivedTag, Emitter, Engine, EngineConfig, EngineInput, TagRef};
    use crate::store::{Store, StoreConfig, SyncPolicy};

    /// A link whose first driver publishes a few samples and then panics; later ones run fine.
    #[derive(Debug)]
    struct Flaky {
        device: toml::Spanned<String>,
        tag: toml::Spanned<String>,
        builds: Arc<AtomicU32>,
    }

    struct FlakyDriver {
        crash_after: Option<u32>,
        tag: TagId,
        device: String,
    }

    impl LinkConfig for Flaky {
        fn kind(&self) -> &'static str {
            "flaky"
        }
        fn name(&self) -> &str {
            self.device.get_ref()
        }
        fn devices(&self) -> Vec<DeclaredDevice<'_>> {
            vec![DeclaredDevice {
                name: &self.device,
                tags: vec![DeclaredTag { name: &self.tag, writable: None }],
            }]
        }
        fn problems(&self) -> Vec<Problem> {
            Vec::new()
        }
        fn summary(&self) -> String {
            "flaky".into()
        }
        fn build(&self, cx: &BuildContext<'_>) -> Result<Box<dyn Driver>, String> {
            let first = self.builds.fetch_add(1, Relaxed) == 0;
            Ok(Box::new(FlakyDriver {
                crash_after: first.then_some(3),
                tag: (cx.tag_id)(self.tag.get_ref()).ok_or("unregistered")?,
                device: self.device.get_ref().clone(),
            }))
        }
    }

    impl Driver for FlakyDriver {
        fn run(
            self: Box<Self>,
            mut cx: drivers::DriverContext,
        ) -> BoxFuture<'static, Result<(), DriverError>> {
            Box::pin(async move {
                let stats = cx.device(&self.device);
                let mut n = 0u32;
                loop {
                    tokio::select! {
                        _ = cx.shutdown.triggered() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    }
                    n += 1;
                    if self.crash_after.is_some_and(|c| n > c) {
                        panic!("register map out of bounds");
                    }
                    let s = Sample::good(self.tag, cx.clock.now(), Value::Int(n as i64));
                    stats.scan_ok(1, Duration::from_millis(1));
                    if !cx.publisher.publish(&[s]).await {
                        return Ok(());
                    }
                }
            })
        }
    }

    /// An engine whose first incarnation panics at its fifth sample.
    #[derive(Debug)]
    struct Brittle {
        input: EngineInput,
        tag: toml::Spanned<String>,
        builds: Arc<AtomicU32>,
        seen: Arc<AtomicU32>,
    }

    struct BrittleEngine {
        first: bool,
        n: u32,
        seen: Arc<AtomicU32>,
    }

    impl EngineConfig for Brittle {
        fn kind(&self) -> &'static str {
            "brittle"
        }
        fn name(&self) -> String {
            format!("brittle {}", self.input.label())
        }
        fn reads(&self) -> Vec<TagRef<'_>> {
            vec![TagRef { tag: &self.tag, role: "brittle on".into() }]
        }
        fn derives(&self) -> Vec<DerivedTag> {
            Vec::new()
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
            self.name()
        }
        fn build(&self, _: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
            let first = self.builds.fetch_add(1, Relaxed) == 0;
            Ok(Box::new(BrittleEngine { first, n: 0, seen: self.seen.clone() }))
        }
    }

    impl Engine for BrittleEngine {
        fn on_sample(&mut self, _: &Sample, _: &mut Emitter) {
            self.n += 1;
            if self.first && self.n == 5 {
                panic!("division by zero in the shift calendar");
            }
            self.seen.fetch_add(1, Relaxed);
        }
        fn on_tick(&mut self, _: Timestamp, _: &mut Emitter) {}
    }

    /// An uplink whose first task panics at once; later ones deliver into memory.
    #[derive(Debug)]
    struct Crashy {
        starts: Arc<AtomicU32>,
        delivered: Arc<AtomicU32>,
    }

    impl PartialEq for Crashy {
        fn eq(&self, other: &Self) -> bool {
            Arc::ptr_eq(&self.starts, &other.starts)
        }
    }

    /// A sink that counts what it was given and acknowledges it all.
    pub(in crate::runtime) struct Counting(pub(in crate::runtime) Arc<AtomicU32>);

    impl crate::uplink::Sink for Counting {
        type Item = ();
        const QUARANTINE_EXT: &'static str = "txt";
        fn encode(
            &self,
            batch: &crate::store::Batch,
            _: crate::uplink::Replay,
            out: &mut Vec<crate::uplink::Encoded<()>>,
        ) -> crate::uplink::Unencodable {
            out.extend(batch.samples.iter().map(|_| crate::uplink::Encoded { item: (), samples: 1 }));
            crate::uplink::Unencodable::default()
        }
        fn deliver<'a>(
            &'a self,
            items: &'a [crate::uplink::Encoded<()>],
        ) -> BoxFuture<'a, crate::uplink::Delivery> {
            self.0.fetch_add(items.len() as u32, Relaxed);
            Box::pin(std::future::ready(crate::uplink::Delivery::Acknowledged))
        }
        fn describe(&self, _: &()) -> String {
            String::new()
        }
        fn peer(&self) -> String {
            "memory".into()
        }
    }

    impl crate::uplink::registry::KindConfig for Crashy {
        fn kind(&self) -> &'static str {
            "crashy"
        }
        fn peer(&self) -> String {
            "memory".into()
        }
        fn start(&self, cx: crate::uplink::UplinkContext) -> JoinHandle<Result<(), String>> {
            if self.starts.fetch_add(1, Relaxed) == 0 {
                return tokio::spawn(async { panic!("encoder table out of bounds") });
            }
            crate::uplink::task::spawn(cx, Ok(Counting(self.delivered.clone())))
        }
    }

    fn component<'a>(g: &'a Generation, kind: &str, name: &str) -> &'a Arc<Component> {
        g.components
            .iter()
            .find(|c| c.kind == kind && c.name == name)
            .unwrap_or_else(|| panic!("no component {kind} {name}: {:?}", g.components))
    }

    async fn until(what: &str, within: Duration, f: impl Fn() -> bool) {
        let deadline = Instant::now() + within;
        while !f() {
            assert!(Instant::now() < deadline, "{what}: not within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A panic is injected into a driver, each engine host and an uplink: each is logged, counted and shown
    /// down with the reason while every other part keeps running, then restarted, and data flows again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_driver_engine_host_or_uplink_is_shown_down_restarted_and_flows_again() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[sim.device]]\nname = \"steady\"\nscan = \"20ms\"\ntags = [{ name = \"steady.c\", shape = \"counter\" }]\n";
        let mut config = crate::config::parse(text, "t.toml", &|_| None).unwrap();
        config.agent.data_dir = dir.path().to_owned();
        let builds = Arc::new(AtomicU32::new(0));
        let flaky = Flaky {
            device: toml::Spanned::new(0..0, "press-7".into()),
            tag: toml::Spanned::new(0..0, "press-7.strokes".into()),
            builds: builds.clone(),
        };
        config.tags.registry.intern("press-7.strokes");
        config.tags.info.push(TagInfo {
            name: "press-7.strokes".into(),
            device: "press-7".into(),
            writable: None,
        });
        config.links.push(Arc::new(flaky));
        let mut seen = Vec::new();
        for input in [EngineInput::Lossy, EngineInput::Lossless] {
            let n = Arc::new(AtomicU32::new(0));
            seen.push(n.clone());
            config.engines.push(Arc::new(Brittle {
                input,
                tag: toml::Spanned::new(0..0, "steady.c".into()),
                builds: Arc::new(AtomicU32::new(0)),
                seen: n,
            }));
        }
        let delivered = Arc::new(AtomicU32::new(0));
        let crashy = Crashy { starts: Arc::new(AtomicU32::new(0)), delivered: delivered.clone() };
        config.uplinks.push(crate::uplink::UplinkConfig::new(
            "crashy".into(),
            crate::uplink::Pacing { batch_age: Duration::from_millis(50), ..Default::default() },
            Arc::new(crashy),
        ));
        let store_cfg = StoreConfig { sync: SyncPolicy::Never, ..StoreConfig::default() };
        let store = Store::open(&dir.path().join("store"), &store_cfg).unwrap();
        let persist = Persist::start(store, tokio::runtime::Handle::current()).unwrap();
        let running = Running::start(config, Arc::new(drivers::SystemClock), Instant::now(), Some(&persist));
        let g = running.generation.clone();

        let press = g.devices.iter().find(|d| d.name == "press-7").unwrap().clone();
        let steady = g.devices.iter().find(|d| d.name == "steady").unwrap().clone();
        let link = component(&g, "driver", "press-7").clone();
        until("the press driver crashes", Duration::from_secs(5), || !link.is_up()).await;
        let why = link.last_error().unwrap();
        assert!(why.contains("driver press-7: it crashed: register map out of bounds"), "{why}");
        assert!(!press.is_up() && press.last_error().unwrap().contains("register map out of bounds"));
        assert!(steady.is_up(), "the other link keeps running");
        let before = press.samples.load(Relaxed);
        until("the press driver runs again", Duration::from_secs(5), || {
            link.is_up() && press.is_up() && press.samples.load(Relaxed) > before + 3
        })
        .await;
        assert_eq!(link.restarts.load(Relaxed), 1);
        assert_eq!(builds.load(Relaxed), 2, "built again from its config");

        for (host, n) in ["lossy", "lossless"].into_iter().zip(&seen) {
            let c = component(&g, "engines", host).clone();
            until(&format!("{host} engines restart"), Duration::from_secs(10), || {
                c.restarts.load(Relaxed) == 1
            })
            .await;
            let why = c.last_error().unwrap();
            assert!(why.contains(&format!("engine brittle {host}: division by zero")), "{why}");
            let before = n.load(Relaxed);
            until(&format!("{host} engines see samples again"), Duration::from_secs(5), || {
                n.load(Relaxed) > before + 5
            })
            .await;
            assert!(c.is_up());
        }
        let uplink = component(&g, "uplink", "crashy").clone();
        until("the uplink delivers after its restart", Duration::from_secs(10), || {
            uplink.restarts.load(Relaxed) == 1 && delivered.load(Relaxed) > 10
        })
        .await;
        let why = uplink.last_error().unwrap();
        assert!(why.contains("uplink crashy: it crashed: encoder table out of bounds"), "{why}");
        assert!(uplink.is_up() && g.uplinks[0].up.load(Relaxed), "up again once it delivers");

        running.stop(Duration::from_secs(5)).await;
        let _ = tokio::task::spawn_blocking(move || persist.stop()).await;
    }
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
        for (run, slow) in [(0, Duration::from_micros(500)), (1, Duration::ZERO)] {
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
