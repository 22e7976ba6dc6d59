//! The GPIO logic on a fake pin: debounce, S0 pulses counted across a restart, a contact, an output
//! written within its limits, a line that fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocols::{Quality, Reason, TagId, TextPool, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::config::GpioChipConfig;
use super::logic::{Debouncer, Totals};
use super::pins::{Gpio, Pull};
use crate::context::{DriverContext, Publisher, Shutdown, SystemClock};
use crate::kind::BuildContext;
use crate::telemetry::DeviceStats;
use crate::testing::TestSink;
use crate::write::{WriteError, WriteRequest};
use crate::{Driver, DriverError};

/// Lines a test sets and reads, as a wire would; `broken` lines fail to read.
#[derive(Clone, Default)]
struct FakePins {
    levels: Arc<Mutex<HashMap<u8, bool>>>,
    broken: Arc<Mutex<Vec<u8>>>,
}

impl FakePins {
    fn set(&self, line: u8, high: bool) {
        self.levels.lock().unwrap().insert(line, high);
    }
    fn get(&self, line: u8) -> bool {
        self.levels.lock().unwrap().get(&line).copied().unwrap_or(false)
    }
}

impl Gpio for FakePins {
    fn setup_input(&mut self, line: u8, pull: Pull) -> Result<(), String> {
        self.levels.lock().unwrap().entry(line).or_insert(pull == Pull::Up);
        Ok(())
    }
    fn setup_output(&mut self, line: u8) -> Result<(), String> {
        self.set(line, false);
        Ok(())
    }
    fn read(&mut self, line: u8) -> Result<bool, String> {
        if self.broken.lock().unwrap().contains(&line) {
            return Err(format!("line {line} does not answer"));
        }
        Ok(self.get(line))
    }
    fn write(&mut self, line: u8, high: bool) -> Result<(), String> {
        self.set(line, high);
        Ok(())
    }
}

const CHIP: &str = r#"
name = "泵房树莓派"
scan = "100ms"
sample = "1ms"
pins = [
  { name = "泵房.门开关", line = 17, mode = "input", active_low = true, debounce = "5ms" },
  { name = "电表.电能", line = 27, mode = "pulse", per_pulse = 0.5, debounce = "5ms" },
  { name = "泵房.水泵", line = 22, mode = "output", writable = { min = 0.0, max = 1.0 } },
]
"#;

const TAGS: [&str; 3] = ["泵房.门开关", "电表.电能", "泵房.水泵"];

struct Running {
    sink: Arc<TestSink>,
    stats: Arc<DeviceStats>,
    writes: mpsc::Sender<WriteRequest>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), DriverError>>,
}

fn id(tag: &str) -> TagId {
    TagId(TAGS.iter().position(|t| *t == tag).unwrap() as u32)
}

fn build(pins: &FakePins, data_dir: &std::path::Path) -> Result<Box<dyn Driver>, String> {
    let config: GpioChipConfig = toml::from_str(CHIP).unwrap();
    let tag_id = |t: &str| TAGS.iter().position(|n| *n == t).map(|i| TagId(i as u32));
    config.build_on(Box::new(pins.clone()), &BuildContext { tag_id: &tag_id, data_dir })
}

fn start(pins: &FakePins, data_dir: &std::path::Path) -> Running {
    let driver = build(pins, data_dir).unwrap();
    let sink = Arc::new(TestSink::default());
    let stats = Arc::new(DeviceStats::new("泵房树莓派"));
    let (writes, rx) = mpsc::channel(4);
    let (stop, shutdown) = Shutdown::new();
    let cx = DriverContext {
        publisher: Publisher::new(sink.clone()),
        writes: rx.into(),
        shutdown,
        clock: Arc::new(SystemClock),
        devices: HashMap::from([("泵房树莓派".to_owned(), stats.clone())]),
        texts: Arc::new(TextPool::new()),
        tag_ids: Arc::new(HashMap::new()),
    };
    let task = tokio::spawn(driver.run(cx));
    Running { sink, stats, writes, stop, task }
}

impl Running {
    fn latest(&self, tag: &str) -> Option<protocols::Sample> {
        self.sink.of(id(tag)).last().copied()
    }

    async fn until(&self, what: &str, cond: impl Fn(&Running) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond(self) {
            assert!(Instant::now() < deadline, "not within 10 s: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn write(&self, tag: &str, value: f64) -> Result<(), WriteError> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(WriteRequest { tag: id(tag), value: Value::Float(value), reply }).await.unwrap();
        answer.await.unwrap()
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// A bouncy close (flickers shorter than the debounce), a held close, a held open.
async fn pulse(pins: &FakePins, line: u8) {
    for _ in 0..3 {
        pins.set(line, true);
        tokio::time::sleep(Duration::from_millis(1)).await;
        pins.set(line, false);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Held far longer than the 5 ms debounce: the sampler is a task on a shared runtime, and on a loaded
    // machine it may not look for tens of milliseconds.
    pins.set(line, true);
    tokio::time::sleep(Duration::from_millis(120)).await;
    pins.set(line, false);
    tokio::time::sleep(Duration::from_millis(120)).await;
}

fn energy(r: &Running) -> Option<f64> {
    r.latest("电表.电能").filter(|s| s.quality == Quality::Good).and_then(|s| s.value.as_f64())
}

#[test]
fn a_level_counts_only_once_it_has_held_for_the_debounce() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut d = Debouncer::new(ms(10), false, t0);
    assert_eq!(d.update(true, t0 + ms(1)), None);
    assert_eq!(d.update(false, t0 + ms(5)), None, "a bounce");
    assert_eq!(d.update(true, t0 + ms(6)), None);
    assert_eq!(d.update(true, t0 + ms(15)), None, "9 ms held");
    assert_eq!(d.update(true, t0 + ms(16)), Some(true));
    assert_eq!(d.update(true, t0 + ms(40)), None, "an edge once");
    assert!(d.level());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s0_pulses_are_counted_through_bounce_and_the_total_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pins = FakePins::default();
    pins.set(27, false);
    let run = start(&pins, dir.path());
    for _ in 0..5 {
        pulse(&pins, 27).await;
    }
    run.until("5 pulses × 0.5 kWh", |r| energy(r) == Some(2.5)).await;
    run.stop().await;
    let saved = Totals::load(Totals::path_for(dir.path(), "泵房树莓派")).unwrap();
    assert_eq!(saved.get("电表.电能"), 5);

    let run = start(&pins, dir.path());
    run.until("the total read back after the restart", |r| energy(r) == Some(2.5)).await;
    for _ in 0..3 {
        pulse(&pins, 27).await;
    }
    run.until("8 pulses", |r| energy(r) == Some(4.0)).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_reads_as_a_boolean_and_an_output_follows_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let pins = FakePins::default();
    pins.set(17, true); // active low: open
    let run = start(&pins, dir.path());
    run.until("door closed reads false", |r| {
        r.latest("泵房.门开关").is_some_and(|s| s.value == Value::Bool(false))
    })
    .await;
    pins.set(17, false);
    run.until("door open reads true", |r| {
        r.latest("泵房.门开关").is_some_and(|s| s.value == Value::Bool(true))
    })
    .await;

    run.write("泵房.水泵", 1.0).await.unwrap();
    assert!(pins.get(22), "the pump's line is driven high");
    run.until("the pump reads on", |r| r.latest("泵房.水泵").is_some_and(|s| s.value == Value::Bool(true)))
        .await;
    assert!(matches!(run.write("泵房.水泵", 5.0).await, Err(WriteError::OutOfLimits { .. })));
    assert!(matches!(run.write("泵房.门开关", 1.0).await, Err(WriteError::NotWritable { .. })));
    assert!(pins.get(22), "refused writes leave the line alone");
    run.write("泵房.水泵", 0.0).await.unwrap();
    assert!(!pins.get(22));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_that_fails_turns_its_tag_bad_and_the_chip_down() {
    let dir = tempfile::tempdir().unwrap();
    let pins = FakePins::default();
    let run = start(&pins, dir.path());
    run.until("up", |r| r.stats.is_up()).await;
    pins.broken.lock().unwrap().push(27);
    run.until("Bad and down", |r| {
        r.latest("电表.电能").is_some_and(|s| s.quality == Quality::Bad(Reason::SensorFault))
            && !r.stats.is_up()
    })
    .await;
    assert!(run.stats.last_error().is_some_and(|e| e.contains("电表.电能")));
    run.stop().await;
}

#[test]
fn unreadable_totals_are_an_error_naming_the_file_not_a_silent_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = Totals::path_for(dir.path(), "泵房树莓派");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{not json").unwrap();
    let err = build(&FakePins::default(), dir.path()).err().expect("refused");
    assert!(err.contains("泵房树莓派.json") && err.contains("fix or remove"), "{err}");
}

#[test]
fn pin_mistakes_are_reported() {
    let text = r#"
name = "板"
pins = [
  { name = "a", line = 30, mode = "input" },
  { name = "b", line = 4, mode = "output" },
  { name = "c", line = 4, mode = "pulse", per_pulse = 0.0, writable = { min = 0.0, max = 1.0 } },
]
"#;
    let config: GpioChipConfig = toml::from_str(text).unwrap();
    let problems: Vec<String> = config.pin_problems().into_iter().map(|(_, m)| m).collect();
    let want = [
        "pin a: line 30; the header's GPIO lines are 0 to 27 (BCM)",
        "pin b: an output is written: declare `writable = { min = 0, max = 1 }`",
        "pin c: line 4 is used by another pin of chip 板",
        "pin c: only outputs are writable",
        "pin c: per_pulse must be above 0, e.g. 0.001 (kWh)",
    ];
    assert_eq!(problems, want);
}
