//! The loop host: control loops (engines that read [`EngineInput::Loop`]) on threads of their own, one per
//! period, woken at fixed deadlines by the OS (not the async runtime, whose timer has 1 ms grain and whose
//! workers are busy acquiring). Each wake-up's lateness is measured into `edge_loop_jitter_seconds`; a tick
//! later than a whole period is counted as missed and the schedule moves on instead of bursting. Samples
//! come from a lossy ring reader; writes go through the write router on the runtime and their outcomes
//! come back on the next tick; every write and command is written to the audit log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use drivers::{Clock, Histogram, PushOutcome};
use protocols::TagId;
use serde_json::Value as Json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::audit::Audit;
use super::{EngineSet, EngineStats, WriteOutcome, log_event};
use crate::config::Config;
use crate::engine::{Command, Emitter, EngineInput};
use crate::ring::{ReadPolicy, Ring, RingWriter};
use crate::runtime::supervise::{Component, panic_text, supervise};
use crate::runtime::writes::WriteRouter;

/// Lateness buckets, seconds: a 10 ms loop wants to know 50 µs from 1 ms.
pub const JITTER_BUCKETS: &[f64] =
    &[25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3, 0.25, 1.0];

/// Timing of one period's thread, for /metrics.
pub struct GroupStats {
    pub period: Duration,
    pub ticks: AtomicU64,
    pub missed: AtomicU64,
    pub jitter: Histogram,
    /// Time from wake-up to the end of the tick's work.
    pub busy: Histogram,
    pub max_late_ns: AtomicU64,
    /// Derived samples not published because the ring was full (a loop never waits for the ring).
    pub dropped_samples: AtomicU64,
}

type Reply = oneshot::Sender<Result<String, String>>;
type Request = (String, Command, Reply);

/// One loop as the API and /metrics see it.
pub struct LoopHandle {
    /// The engine's name (`control.pid kiln-temp`).
    pub engine: String,
    /// The loop's own name (`kiln-temp`).
    pub name: String,
    pub kind: &'static str,
    pub group: Arc<GroupStats>,
    pub writes_ok: AtomicU64,
    pub writes_failed: AtomicU64,
    status: Mutex<Option<Json>>,
    commands: Mutex<Option<mpsc::Sender<Request>>>,
}

impl LoopHandle {
    pub fn status(&self) -> Option<Json> {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Hands `command` to the loop; it is applied at the loop's next tick.
    pub async fn command(&self, command: Command) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        let sender = self.commands.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let sent = sender.is_some_and(|s| s.send((self.engine.clone(), command, reply)).is_ok());
        if !sent {
            return Err("the loop is not running (restarting?); try again".into());
        }
        let wait = (self.group.period * 3).max(Duration::from_secs(2));
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(outcome)) => outcome,
            _ => Err("the loop did not take the command in time".into()),
        }
    }
}

/// Every loop of a generation.
#[derive(Default)]
pub struct Loops {
    pub list: Vec<Arc<LoopHandle>>,
}

impl Loops {
    pub fn find(&self, name: &str) -> Option<&Arc<LoopHandle>> {
        self.list.iter().find(|l| l.name == name || l.engine == name)
    }
}

/// What a group's thread needs, cloned into each incarnation.
#[derive(Clone)]
struct GroupPlan {
    config: Arc<Config>,
    ring: Arc<Ring>,
    router: WriteRouter,
    stats: Arc<EngineStats>,
    clock: Arc<dyn Clock>,
    audit: Arc<Audit>,
    runtime: tokio::runtime::Handle,
    group: Arc<GroupStats>,
    handles: Vec<Arc<LoopHandle>>,
}

/// Starts one supervised thread per loop period. Must be called inside the tokio runtime.
pub(crate) fn start(
    config: &Arc<Config>,
    ring: &Arc<Ring>,
    router: &WriteRouter,
    stats: &Arc<EngineStats>,
    clock: &Arc<dyn Clock>,
    readers: &mut Vec<JoinHandle<()>>,
    components: &mut Vec<Arc<Component>>,
) -> Arc<Loops> {
    let mut periods: Vec<Duration> =
        config.engines.iter().filter(|e| e.input() == EngineInput::Loop).map(|e| e.tick()).collect();
    periods.sort();
    periods.dedup();
    let audit = Arc::new(Audit::new(&config.agent.data_dir));
    let mut loops = Loops::default();
    for period in periods {
        let group = Arc::new(GroupStats {
            period,
            ticks: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            jitter: Histogram::new(JITTER_BUCKETS),
            busy: Histogram::new(JITTER_BUCKETS),
            max_late_ns: AtomicU64::new(0),
            dropped_samples: AtomicU64::new(0),
        });
        let handles: Vec<Arc<LoopHandle>> = config
            .engines
            .iter()
            .filter(|e| e.input() == EngineInput::Loop && e.tick() == period)
            .map(|e| {
                let engine = e.name();
                let name = engine.strip_prefix(e.kind()).unwrap_or(&engine).trim().to_owned();
                Arc::new(LoopHandle {
                    engine,
                    name,
                    kind: e.kind(),
                    group: group.clone(),
                    writes_ok: AtomicU64::new(0),
                    writes_failed: AtomicU64::new(0),
                    status: Mutex::new(None),
                    commands: Mutex::new(None),
                })
            })
            .collect();
        stats.engines.fetch_add(handles.len() as u64, Ordering::Relaxed);
        loops.list.extend(handles.iter().cloned());
        let plan = GroupPlan {
            config: config.clone(),
            ring: ring.clone(),
            router: router.clone(),
            stats: stats.clone(),
            clock: clock.clone(),
            audit: audit.clone(),
            runtime: tokio::runtime::Handle::current(),
            group,
            handles,
        };
        let component = Component::new("engines", format!("loops every {}", drivers::units::Span(period)));
        components.push(component.clone());
        let start = move || {
            let plan = plan.clone();
            let (done, finished) = oneshot::channel::<Result<(), String>>();
            let spawned = std::thread::Builder::new().name(format!("loops-{}ms", period.as_millis())).spawn(
                move || {
                    realtime(period);
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(plan)))
                        .map_err(|p| format!("it crashed: {}", panic_text(&*p)));
                    let _ = done.send(outcome);
                },
            );
            async move {
                spawned.map_err(|e| format!("cannot start a loop thread: {e}"))?;
                finished.await.unwrap_or_else(|_| Err("the loop thread ended without a word".into()))
            }
        };
        let closed = ring.clone();
        readers.push(supervise(component, start, move || closed.is_closed(), |_| {}));
    }
    Arc::new(loops)
}

/// SCHED_FIFO priority of loop threads: above every ordinary thread (acquisition, a compiler, a backup),
/// low among real-time ones, so the kernel's own stay above.
const LOOP_PRIORITY: u8 = 10;

/// Puts this thread on real-time scheduling when the agent may (root, or `CAP_SYS_NICE`, as the systemd
/// unit grants): a loop then wakes on time however busy the gateway is. Otherwise it runs at normal
/// priority, and says so once.
fn realtime(period: Duration) {
    use thread_priority::unix::{
        RealtimeThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
    };
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    let outcome = ThreadPriorityValue::try_from(LOOP_PRIORITY).map_err(|e| e.to_string()).and_then(|p| {
        let policy = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo);
        set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Crossplatform(p), policy)
            .map_err(|e| format!("{e:?}"))
    });
    let period = drivers::units::Span(period);
    match outcome {
        Ok(()) => tracing::info!(%period, "loop thread on real-time scheduling (SCHED_FIFO {LOOP_PRIORITY})"),
        Err(e) => tracing::warn!(
            %period,
            "loop thread at normal priority ({e}); grant CAP_SYS_NICE for loops that keep time under load"
        ),
    }
}

/// One incarnation of a period's thread: runs until the ring closes.
fn run(plan: GroupPlan) {
    let names: Vec<&str> = plan.handles.iter().map(|h| h.engine.as_str()).collect();
    let mut set = EngineSet::build_where(&plan.config, |e| names.contains(&e.name().as_str()));
    let (requests, inbox) = mpsc::channel::<Request>();
    for h in &plan.handles {
        *h.commands.lock().unwrap_or_else(|e| e.into_inner()) = Some(requests.clone());
    }
    let (results_tx, results) = mpsc::channel::<WriteOutcome>();
    let mut reader = plan.ring.reader("loops", ReadPolicy::Lossy);
    let writer = plan.ring.writer();
    let period = plan.group.period;
    let mut batch = Vec::with_capacity(4096);
    let mut out = Emitter::default();
    // The last value of each written tag, read back or written: the audit log's "old".
    let mut known: HashMap<TagId, f64> = plan
        .config
        .engines
        .iter()
        .filter(|e| names.contains(&e.name().as_str()))
        .flat_map(|e| {
            e.writes()
                .into_iter()
                .filter_map(|w| plan.config.tags.registry.id(w.tag.get_ref()))
                .collect::<Vec<_>>()
        })
        .map(|id| (id, f64::NAN))
        .collect();
    let mut next = Instant::now();
    loop {
        next += period;
        // A slow loop still takes the ring's samples often, so none it needs is lapped before its tick.
        loop {
            let now = Instant::now();
            if now >= next {
                break;
            }
            std::thread::sleep((next - now).min(DRAIN_EVERY));
            if Instant::now() < next && !drain(&mut reader, &mut batch, &mut set, &mut known, &mut out) {
                return;
            }
        }
        let woke = Instant::now();
        let late = woke.saturating_duration_since(next);
        let g = &plan.group;
        g.ticks.fetch_add(1, Ordering::Relaxed);
        g.jitter.observe(late);
        g.max_late_ns.fetch_max(u64::try_from(late.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        if late > period {
            g.missed.fetch_add(1, Ordering::Relaxed);
            next = woke;
        }
        if !drain(&mut reader, &mut batch, &mut set, &mut known, &mut out) {
            return;
        }
        while let Ok((engine, intent, result)) = results.try_recv() {
            set.on_write_result(engine, intent, result, &mut out);
        }
        while let Ok((engine, command, reply)) = inbox.try_recv() {
            let answer = set.command(&engine, plan.clock.now(), &command, &mut out);
            let outcome = crate::engine::control::outcome_text(answer);
            plan.audit.command(&engine, &command, &outcome);
            let _ = reply.send(outcome);
        }
        set.tick_all(plan.clock.now(), &mut out);
        if !flush(&plan, &mut set, &mut out, &writer, &mut known, &results_tx) {
            return;
        }
        for (h, status) in plan.handles.iter().zip(set.statuses(&names)) {
            *h.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
        }
        g.busy.observe(woke.elapsed());
    }
}

/// Longest a loop's thread goes without taking the ring's samples.
const DRAIN_EVERY: Duration = Duration::from_millis(50);

/// Hands every sample waiting in the ring to the loops. False once the ring is closed and empty.
fn drain(
    reader: &mut crate::ring::RingReader,
    batch: &mut Vec<protocols::Sample>,
    set: &mut EngineSet,
    known: &mut HashMap<TagId, f64>,
    out: &mut Emitter,
) -> bool {
    loop {
        let r = reader.try_read(batch, 4096);
        if r.closed {
            return false;
        }
        for s in batch.iter() {
            if let (Some(v), true) = (s.value.as_f64(), known.contains_key(&s.tag)) {
                known.insert(s.tag, v);
            }
        }
        set.on_samples(batch, out);
        batch.clear();
        if r.read < 4096 {
            return true;
        }
    }
}

/// Events logged and counted, writes started on the runtime, derived samples into the ring without
/// waiting. False once the ring is closed.
fn flush(
    plan: &GroupPlan,
    set: &mut EngineSet,
    out: &mut Emitter,
    writer: &RingWriter,
    known: &mut HashMap<TagId, f64>,
    results: &mpsc::Sender<WriteOutcome>,
) -> bool {
    for e in out.events.drain(..) {
        plan.stats.events.fetch_add(1, Ordering::Relaxed);
        log_event(&e);
    }
    out.writes.clear();
    for (engine, intent) in set.take_writes() {
        plan.stats.writes.fetch_add(1, Ordering::Relaxed);
        let tag = set.tag_name(intent.tag).to_owned();
        let source = set.engine_name(engine).to_owned();
        let old = known.get(&intent.tag).copied().filter(|v| v.is_finite());
        if let Some(v) = intent.value.as_f64() {
            known.insert(intent.tag, v);
        }
        let handle = plan.handles.iter().find(|h| h.engine == source).cloned();
        let (router, audit, stats, results) =
            (plan.router.clone(), plan.audit.clone(), plan.stats.clone(), results.clone());
        plan.runtime.spawn(async move {
            let result = router.write(&tag, intent.value).await.map_err(|e| e.to_string());
            let counter = match (&result, &handle) {
                (Ok(()), Some(h)) => Some(&h.writes_ok),
                (Err(_), Some(h)) => Some(&h.writes_failed),
                _ => None,
            };
            if let Some(c) = counter {
                c.fetch_add(1, Ordering::Relaxed);
            }
            if result.is_err() {
                stats.writes_failed.fetch_add(1, Ordering::Relaxed);
            }
            audit.write(&source, &tag, old, intent.value.as_f64(), intent.reason, &result);
            let _ = results.send((engine, intent, result));
        });
    }
    if out.samples.is_empty() {
        return true;
    }
    plan.stats.derived_samples.fetch_add(out.samples.len() as u64, Ordering::Relaxed);
    let open = match writer.try_push(&out.samples) {
        PushOutcome::Accepted(n) => {
            plan.group.dropped_samples.fetch_add((out.samples.len() - n) as u64, Ordering::Relaxed);
            true
        }
        PushOutcome::Closed => false,
    };
    out.samples.clear();
    open
}
