//! A reload, device by device, counted in the store: an unchanged device's counter goes on without a
//! missing scan or a reset, a changed one starts again, a removed one stops, a new one starts. Uplinks
//! likewise: an unchanged one keeps its connection through the reload.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

use super::*;
use crate::store::reader::LogReader;
use crate::store::{Store, StoreConfig, SyncPolicy};

const BEFORE: &str = r#"
[[sim.device]]
name = "锅炉一号"
scan = "20ms"
tags = [
  { name = "锅炉一号.计数", shape = "counter" },
  { name = "锅炉一号.阀位", shape = "constant", offset = 10.0, writable = { min = 0.0, max = 100.0 } },
]

[[sim.device]]
name = "meter"
scan = "20ms"
tags = [{ name = "meter.kwh", shape = "counter" }]

[[sim.device]]
name = "old-pump"
scan = "20ms"
tags = [{ name = "old-pump.runs", shape = "counter" }]
"#;

/// A new device first (every tag id moves), the boiler as it was, the meter scanning slower, the pump gone.
const AFTER: &str = r#"
[[sim.device]]
name = "new-fan"
scan = "20ms"
tags = [{ name = "new-fan.runs", shape = "counter" }]

[[sim.device]]
name = "锅炉一号"
scan = "20ms"
tags = [
  { name = "锅炉一号.计数", shape = "counter" },
  { name = "锅炉一号.阀位", shape = "constant", offset = 10.0, writable = { min = 0.0, max = 100.0 } },
]

[[sim.device]]
name = "meter"
scan = "30ms"
tags = [{ name = "meter.kwh", shape = "counter" }]
"#;

fn config(text: &str, dir: &std::path::Path) -> Config {
    let mut config = crate::config::parse(text, "agent.toml", &|_| None).unwrap();
    config.agent.data_dir = dir.to_owned();
    config
}

async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A data dir, its store's thread, the clock and the process start a generation is built with.
fn plant_parts() -> (tempfile::TempDir, Persist, Arc<dyn Clock>, Instant) {
    let dir = tempfile::tempdir().unwrap();
    let store_cfg = StoreConfig { sync: SyncPolicy::Never, ..StoreConfig::default() };
    let store = Store::open(&dir.path().join("store"), &store_cfg).unwrap();
    let persist = Persist::start(store, tokio::runtime::Handle::current()).unwrap();
    (dir, persist, Arc::new(drivers::SystemClock), Instant::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_devices_keep_acquiring_through_a_reload_changed_restart_removed_stop() {
    let (dir, persist, clock, process_start) = plant_parts();
    let running = Running::start(config(BEFORE, dir.path()), clock.clone(), process_start, Some(&persist));
    let boiler = running.generation.devices[0].clone();
    until("the boiler has scanned", || boiler.samples.load(Relaxed) >= 50).await;

    let (running, report) = running
        .reload(config(AFTER, dir.path()), clock, process_start, Some(&persist), Duration::from_secs(4))
        .await;
    assert_eq!(report.links.kept, ["锅炉一号"]);
    assert_eq!(report.links.restarted, ["meter"]);
    assert_eq!(report.links.started, ["new-fan"]);
    assert_eq!(report.links.stopped, ["old-pump"]);
    let g = running.generation.clone();
    let names: Vec<&str> = g.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["new-fan", "锅炉一号", "meter"]);
    assert!(Arc::ptr_eq(&g.devices[1], &boiler), "the kept device keeps its stats");
    let at_reload = boiler.samples.load(Relaxed);
    until("the boiler goes on in the new generation", || boiler.samples.load(Relaxed) > at_reload + 50).await;
    until("the new fan acquires", || g.devices[0].samples.load(Relaxed) > 5).await;
    // Writes reach the kept driver in the tag ids it was built with, though every id moved.
    g.writes.write("锅炉一号.阀位", protocols::Value::Float(42.5)).await.unwrap();
    let valve = g.config.tags.registry.id("锅炉一号.阀位").unwrap();
    until("the valve reads what was written", || {
        g.snapshot.get(valve).is_some_and(|s| s.value.as_f64() == Some(42.5))
    })
    .await;
    running.stop(Duration::from_secs(4)).await;
    let shared = persist.shared.clone();
    let _ = tokio::task::spawn_blocking(move || persist.stop()).await;

    // Every stored sample, by tag name, in store order.
    let mut by_tag: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    let mut reader = LogReader::new(shared, 0);
    while let Some(batch) = reader.read(4096).unwrap() {
        for s in &batch.samples {
            let name = batch.dict.tags[s.tag.0 as usize].1.clone();
            let v = s.value.as_f64().unwrap_or_else(|| panic!("{name}: a counter reads {:?}", s.value));
            by_tag.entry(name).or_default().push((s.ts.0, v as i64));
        }
    }
    let boiler = &by_tag["锅炉一号.计数"];
    let values: Vec<i64> = boiler.iter().map(|&(_, v)| v).collect();
    let first = values[0];
    let expected: Vec<i64> = (first..first + values.len() as i64).collect();
    assert_eq!(values, expected, "the boiler's counter has no missing scan and no restart");
    let mut intervals: Vec<i64> = boiler.windows(2).map(|w| w[1].0 - w[0].0).collect();
    intervals.sort_unstable();
    println!(
        "boiler: {} samples across the reload, none missing; interval between samples median {:.1} ms, \
         largest {:.1} ms (scan 20 ms)",
        values.len(),
        intervals[intervals.len() / 2] as f64 / 1e6,
        intervals[intervals.len() - 1] as f64 / 1e6
    );
    // The meter restarted: its counter began again after the reload.
    let meter: Vec<i64> = by_tag["meter.kwh"].iter().map(|&(_, v)| v).collect();
    assert!(meter.windows(2).any(|w| w[1] < w[0]), "the changed meter starts counting again: {meter:?}");
    assert!(by_tag["new-fan.runs"].len() > 5);
    let pump_last = by_tag["old-pump.runs"].last().unwrap().0;
    let boiler_last = boiler.last().unwrap().0;
    assert!(boiler_last - pump_last > 100_000_000, "the removed pump stopped at the reload");
}

/// An uplink into memory that counts its connections (task starts) and what it was given, and keeps the
/// routes it was started with, as a peer's commands would use them.
#[derive(Clone)]
struct Memory {
    /// The one setting: a config that changes it is a changed uplink.
    setting: u32,
    starts: Arc<AtomicU32>,
    delivered: Arc<AtomicU32>,
    routes: Arc<Mutex<Option<super::writes::Routes>>>,
}

impl Memory {
    fn new(setting: u32) -> Memory {
        Memory {
            setting,
            starts: Default::default(),
            delivered: Default::default(),
            routes: Default::default(),
        }
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory").field("setting", &self.setting).finish_non_exhaustive()
    }
}

impl PartialEq for Memory {
    fn eq(&self, other: &Self) -> bool {
        self.setting == other.setting
    }
}

impl crate::uplink::registry::KindConfig for Memory {
    fn kind(&self) -> &'static str {
        "memory"
    }
    fn peer(&self) -> String {
        "memory".into()
    }
    fn start(&self, cx: crate::uplink::UplinkContext) -> tokio::task::JoinHandle<Result<(), String>> {
        self.starts.fetch_add(1, Relaxed);
        *self.routes.lock().unwrap() = Some(cx.writes.clone());
        crate::uplink::task::spawn(cx, Ok(super::tests::supervision::Counting(self.delivered.clone())))
    }
}

fn with_uplinks(mut config: Config, uplinks: &[(&str, &Memory)]) -> Config {
    for (name, memory) in uplinks {
        config.uplinks.push(crate::uplink::UplinkConfig::new(
            (*name).into(),
            crate::uplink::Pacing { batch_age: Duration::from_millis(20), ..Default::default() },
            Arc::new((*memory).clone()),
        ));
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_uplink_keeps_its_connection_through_a_reload_and_writes_through_the_new_links() {
    let (dir, persist, clock, process_start) = plant_parts();
    let (historian, platform, old) = (Memory::new(1), Memory::new(1), Memory::new(1));
    let before = with_uplinks(
        config(BEFORE, dir.path()),
        &[("云端历史库", &historian), ("环保平台", &platform), ("old", &old)],
    );
    let running = Running::start(before, clock.clone(), process_start, Some(&persist));
    let kept_stats = running.generation.uplinks[0].clone();
    let kept_component = running
        .generation
        .components
        .iter()
        .find(|c| c.kind == "uplink" && c.name == "云端历史库")
        .unwrap()
        .clone();
    until("every uplink delivers", || {
        [&historian, &platform, &old].iter().all(|m| m.delivered.load(Relaxed) > 20)
    })
    .await;

    // The historian as it was, the platform with a changed setting, `old` gone, `new` added.
    let new = Memory::new(1);
    let after = with_uplinks(
        config(AFTER, dir.path()),
        &[("new", &new), ("云端历史库", &Memory::new(1)), ("环保平台", &Memory::new(2))],
    );
    let (running, report) =
        running.reload(after, clock, process_start, Some(&persist), Duration::from_secs(4)).await;
    assert_eq!(report.uplinks.kept, ["云端历史库"]);
    assert_eq!(report.uplinks.restarted, ["环保平台"]);
    assert_eq!(report.uplinks.started, ["new"]);
    assert_eq!(report.uplinks.stopped, ["old"]);
    assert!(report.to_string().contains("uplinks kept running: 云端历史库; restarted: 环保平台"), "{report}");
    let g = running.generation.clone();
    let names: Vec<&str> = g.uplinks.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["new", "云端历史库", "环保平台"]);
    assert!(Arc::ptr_eq(&g.uplinks[1], &kept_stats), "the kept uplink keeps its counters");
    assert!(g.components.iter().any(|c| Arc::ptr_eq(c, &kept_component)), "and its health entry");

    // The kept uplink goes on delivering what the new generation acquires, on its first connection.
    let at_reload = historian.delivered.load(Relaxed);
    until("the kept uplink delivers after the reload", || historian.delivered.load(Relaxed) > at_reload + 50)
        .await;
    until("the new uplink delivers", || new.delivered.load(Relaxed) > 20).await;
    assert_eq!(historian.starts.load(Relaxed), 1, "the kept uplink was not reconnected");
    assert_eq!(kept_component.restarts.load(Relaxed), 0);
    assert_eq!(old.starts.load(Relaxed), 1);
    let old_total = old.delivered.load(Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(old.delivered.load(Relaxed), old_total, "the removed uplink stopped");

    // A command from the kept uplink's peer reaches the kept boiler through the new generation's router,
    // in the tag ids the new config gave (every id moved).
    let routes = historian.routes.lock().unwrap().clone().expect("the uplink was started with routes");
    routes.write("锅炉一号.阀位", protocols::Value::Float(37.5)).await.unwrap();
    let valve = g.config.tags.registry.id("锅炉一号.阀位").unwrap();
    until("the valve reads what the peer wrote", || {
        g.snapshot.get(valve).is_some_and(|s| s.value.as_f64() == Some(37.5))
    })
    .await;
    assert!(
        matches!(
            routes.write("old-pump.runs", protocols::Value::Float(1.0)).await,
            Err(drivers::WriteError::NotWritable { .. })
        ),
        "the removed pump's tags are routed nowhere"
    );
    running.stop(Duration::from_secs(4)).await;
    let _ = tokio::task::spawn_blocking(move || persist.stop()).await;
}
