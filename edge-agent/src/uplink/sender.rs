//! One uplink's task, for any [`Sink`]: reads the store from its cursor, encodes batches into the sink's
//! items, hands them to a [`Courier`], and advances the cursor as they are acknowledged, in order.
//! At-least-once: a batch is resent until the peer takes it, and a resent sample is identical (same
//! series, same timestamp), so the peer stores it once.
//!
//! While full batches are waiting, up to `in_flight` writes are on their way at once (a historian takes
//! concurrent writes on several cores); at live rates one write at a time, each at most `batch_age` old.
//!
//! After an outage the backlog is sent oldest first beside live data: when the uplink is more than
//! [`SPLIT_BATCHES`] batches behind, a second reader starts at the head for live data, and the backlog
//! reader follows at `backlog_rate` until it reaches where live began. The saved cursor is the backlog's.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::UplinkStats;
use super::delivery::{Courier, stopping};
use super::pacing::Pacing;
use super::sink::{Encoded, Replay, Sink, Unencodable};
use crate::store::reader::ReaderLosses;
use crate::store::{Cursor, LogReader, Shared};

/// Behind by more than this many batches, live data gets its own reader.
const SPLIT_BATCHES: u64 = 10;

/// Samples without a form for the peer are logged at most this often (they may come every scan).
const UNENCODABLE_LOG_EVERY: Duration = Duration::from_secs(60);

/// Starts uplink `name` sending the store through `sink` (or, when the sink could not be built, shows why
/// on /healthz). Runs until `stop` turns true; the cursor is saved on the way out. A panic (a bug) is
/// logged and shown, never silent.
pub fn spawn<S: Sink>(
    name: String,
    pacing: Pacing,
    sink: Result<S, String>,
    store: Arc<Shared>,
    stats: Arc<UplinkStats>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let shown = stats.clone();
    let inner = tokio::spawn(run(name.clone(), pacing, sink, store, stats, stop));
    tokio::spawn(async move {
        // Aborting this task (a stop that overran its grace) aborts the sender with it.
        let guard = AbortOnDrop(inner.abort_handle());
        if let Err(e) = inner.await
            && e.is_panic()
        {
            report_crash(&name, &shown, "it", e);
        }
        drop(guard);
    })
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A panic is a bug: logged once and shown on /healthz, never a silent end.
fn report_crash(name: &str, stats: &UplinkStats, what: &str, e: tokio::task::JoinError) {
    let payload = e.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let why = format!(
        "uplink {name}: {what} crashed: {text} (a bug: please report it); it stays down until a reload, samples stay in the store"
    );
    tracing::error!("{why}");
    stats.set_error(Some(why));
}

async fn run<S: Sink>(
    name: String,
    pacing: Pacing,
    sink: Result<S, String>,
    store: Arc<Shared>,
    stats: Arc<UplinkStats>,
    stop: watch::Receiver<bool>,
) {
    let sink = match sink {
        Ok(s) => s,
        Err(e) => {
            let why = format!("uplink {name}: {e}; samples stay in the store until the config is fixed");
            tracing::error!("{why}");
            stats.set_error(Some(why));
            return;
        }
    };
    let cursor = match Cursor::register(&store, &name) {
        Ok(c) => c,
        Err(e) => {
            let why =
                format!("uplink {name}: cannot read or save its position in {}: {e}", store.dir().display());
            tracing::error!("{why}");
            stats.set_error(Some(why));
            return;
        }
    };
    stats.acked.store(cursor.position(), Relaxed);
    let courier = Arc::new(Courier {
        name: name.clone(),
        sink,
        stats: stats.clone(),
        store_dir: store.dir().to_owned(),
        max_retry_wait: pacing.max_retry_wait,
    });
    let mut sender = Sender {
        backlog: LogReader::new(store.clone(), cursor.position()),
        live: None,
        retired: ReaderLosses::default(),
        cursor,
        store,
        courier,
        stats,
        stop,
        in_flight: VecDeque::new(),
        tokens: 0.0,
        refilled: Instant::now(),
        unencodable_logged: None,
        name,
        pacing,
    };
    sender.run().await;
}

struct Sender<S: Sink> {
    name: String,
    pacing: Pacing,
    store: Arc<Shared>,
    courier: Arc<Courier<S>>,
    stats: Arc<UplinkStats>,
    cursor: Cursor,
    /// Reads from the cursor; after an outage, up to where `live` began.
    backlog: LogReader,
    /// Live data during catch-up: the reader and the sequence number it started at.
    live: Option<(LogReader, u64)>,
    /// Losses of readers no longer in use.
    retired: ReaderLosses,
    stop: watch::Receiver<bool>,
    /// Writes on their way, oldest first, with the cursor position each acknowledges (backlog only).
    in_flight: VecDeque<InFlight>,
    /// Backlog samples that may be sent now (token bucket at `backlog_rate`).
    tokens: f64,
    refilled: Instant,
    /// When samples without a form for the peer were last logged.
    unencodable_logged: Option<Instant>,
}

/// A write on its way: its task and the cursor position it acknowledges (backlog batches only).
struct InFlight {
    task: JoinHandle<bool>,
    ack: Option<u64>,
}

/// Items ready to send, the sequence number after their last sample, and how many samples were read.
struct Payload<I> {
    items: Vec<Encoded<I>>,
    end_seq: u64,
    samples: u64,
}

#[derive(Clone, Copy)]
enum Reader {
    Live,
    Backlog,
}

impl<S: Sink> Sender<S> {
    async fn run(&mut self) {
        // False once a batch was not delivered: no later batch may move the cursor past it.
        let mut acking = true;
        while !stopping(&self.stop) {
            self.maybe_split();
            let mut started = false;
            while self.in_flight.len() < self.pacing.in_flight.max(1) {
                let Some((p, ack)) = self.next_payload().await else { break };
                let task = tokio::spawn(self.courier.clone().send(p.items, self.stop.clone()));
                self.in_flight.push_back(InFlight { task, ack: ack.then_some(p.end_seq) });
                started = true;
            }
            self.maybe_merge();
            if let Some(InFlight { mut task, ack }) = self.in_flight.pop_front() {
                let mut stop = self.stop.clone();
                let done = tokio::select! {
                    r = &mut task => Some(r),
                    _ = stop.changed() => None,
                };
                match done {
                    Some(Ok(true)) => self.acknowledge(ack),
                    // Stopping: it finishes (or not) with the others below.
                    None => {
                        self.in_flight.push_front(InFlight { task, ack });
                        break;
                    }
                    Some(Ok(false)) => {
                        acking = false;
                        break;
                    }
                    Some(Err(e)) => {
                        if e.is_panic() {
                            report_crash(&self.name, &self.stats, "its delivery", e);
                        }
                        acking = false;
                        break;
                    }
                }
            } else if !started {
                self.wait_for_data().await;
            }
        }
        // Writes already on their way finish (or fail) within the stop grace: acknowledge what the
        // peer took, in order, so a restart does not send it twice.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        for w in std::mem::take(&mut self.in_flight) {
            let abort = w.task.abort_handle();
            match tokio::time::timeout_at(deadline, w.task).await {
                Ok(Ok(true)) if acking => self.acknowledge(w.ack),
                _ => {
                    acking = false;
                    abort.abort();
                }
            }
        }
        if let Err(e) = self.cursor.flush() {
            tracing::warn!(uplink = %self.name, "cannot save the uplink's position: {e}");
        }
    }

    /// A batch is delivered: a backlog batch moves the cursor to its end.
    fn acknowledge(&mut self, ack: Option<u64>) {
        if let Some(end) = ack {
            if let Err(e) = self.cursor.advance(end, Instant::now()) {
                tracing::warn!(uplink = %self.name, "cannot save the uplink's position: {e}");
            }
            self.stats.acked.store(self.cursor.position(), Relaxed);
        }
    }

    /// Far behind: live data gets its own reader, the backlog (now up to the head) follows at its pace.
    fn maybe_split(&mut self) {
        let head = self.store.head();
        let threshold = SPLIT_BATCHES * self.pacing.batch_size as u64;
        let live_lag = self.live.as_ref().map_or(0, |(r, _)| head.saturating_sub(r.position()));
        if head.saturating_sub(self.backlog.position()) > threshold
            && (self.live.is_none() || live_lag > threshold)
        {
            tracing::info!(
                uplink = %self.name,
                backlog = head - self.backlog.position(),
                "uplink: sending the backlog beside live data, at most {} samples/s",
                self.pacing.backlog_rate
            );
            if let Some((old, _)) = self.live.replace((LogReader::new(self.store.clone(), head), head)) {
                self.retire(old.losses);
            }
        }
    }

    /// The backlog has reached where live began: one reader again.
    fn maybe_merge(&mut self) {
        if let Some((_, start)) = &self.live
            && self.backlog.position() >= *start
        {
            let (reader, _) = self.live.take().expect("checked");
            tracing::info!(uplink = %self.name, "uplink: backlog sent");
            let old = std::mem::replace(&mut self.backlog, reader);
            self.retire(old.losses);
        }
    }

    fn retire(&mut self, l: ReaderLosses) {
        self.retired.dropped += l.dropped;
        self.retired.corrupt_records += l.corrupt_records;
        self.retired.corrupt_samples += l.corrupt_samples;
    }

    /// The next batch to send: live data first, then the backlog as its rate allows. With writes already
    /// on their way, only a full batch (more waiting behind it) is worth another concurrent write.
    async fn next_payload(&mut self) -> Option<(Payload<S::Item>, bool)> {
        let busy = !self.in_flight.is_empty();
        let batch = self.pacing.batch_size as u64;
        let head = self.store.head();
        if let Some((reader, _)) = &self.live
            && (!busy || head.saturating_sub(reader.position()) >= batch)
            && let Some(p) = self.collect(Reader::Live, u64::MAX, false).await
        {
            return Some((p, false));
        }
        let limit = self.live.as_ref().map_or(u64::MAX, |&(_, start)| start);
        let ready = limit.min(head).saturating_sub(self.backlog.position());
        if (busy && ready < batch) || !self.backlog_allowed() {
            return None;
        }
        let wait = self.live.is_none() && !busy;
        let p = self.collect(Reader::Backlog, limit, wait).await?;
        if self.live.is_some() {
            self.tokens -= p.samples as f64;
        }
        Some((p, true))
    }

    /// Live data is never held back; the backlog only while the token bucket allows.
    fn backlog_allowed(&mut self) -> bool {
        if self.live.is_none() {
            return true;
        }
        let now = Instant::now();
        let rate = self.pacing.backlog_rate as f64;
        let cap = (self.pacing.batch_size as f64).max(rate);
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate).min(cap);
        self.refilled = now;
        self.tokens >= self.pacing.batch_size.min(self.pacing.backlog_rate as usize) as f64
    }

    async fn wait_for_data(&mut self) {
        let appended = self.store.appended.notified();
        let pause = if self.live.is_some() { Duration::from_millis(20) } else { Duration::from_millis(500) };
        tokio::select! {
            _ = appended => {}
            _ = tokio::time::sleep(pause) => {}
            _ = self.stop.changed() => {}
        }
    }

    /// Up to one batch of lines from a reader, not past `limit`. With `wait`, a partial batch waits for
    /// more until it is `batch_age` old; live data beside a backlog goes as it comes.
    async fn collect(&mut self, which: Reader, limit: u64, wait: bool) -> Option<Payload<S::Item>> {
        let started = Instant::now();
        let replay = match which {
            Reader::Backlog if self.live.is_some() => Replay::Backlog,
            _ => Replay::Live,
        };
        let mut p = Payload { items: Vec::new(), end_seq: 0, samples: 0 };
        loop {
            let reader = match which {
                Reader::Live => &mut self.live.as_mut()?.0,
                Reader::Backlog => &mut self.backlog,
            };
            let want =
                (self.pacing.batch_size as u64 - p.samples).min(limit.saturating_sub(reader.position()));
            if want == 0 {
                break;
            }
            let mut taken = std::mem::replace(reader, LogReader::new(self.store.clone(), 0));
            let (back, read) = tokio::task::spawn_blocking(move || {
                let r = taken.read(want as usize);
                (taken, r)
            })
            .await
            .expect("the store reader does not panic");
            *reader = back;
            self.account_losses();
            match read {
                Ok(Some(batch)) => {
                    p.samples += batch.samples.len() as u64;
                    p.end_seq = batch.end_seq();
                    let skipped = self.courier.sink.encode(&batch, replay, &mut p.items);
                    self.unencodable(skipped);
                }
                Ok(None) => {
                    // Caught up: send what there is once the batch is old enough, or wait for more.
                    if !wait
                        || p.samples == 0
                        || started.elapsed() >= self.pacing.batch_age
                        || stopping(&self.stop)
                    {
                        break;
                    }
                    let left = self.pacing.batch_age.saturating_sub(started.elapsed());
                    let appended = self.store.appended.notified();
                    tokio::select! {
                        _ = appended => {}
                        _ = tokio::time::sleep(left) => {}
                    }
                }
                Err(e) => {
                    let why = format!("uplink {}: cannot read the store: {e}", self.name);
                    tracing::error!("{why}");
                    self.stats.set_error(Some(why));
                    break;
                }
            }
        }
        (p.samples > 0).then_some(p)
    }

    fn unencodable(&mut self, skipped: Unencodable) {
        if skipped.samples == 0 {
            return;
        }
        self.stats.unencodable_samples.fetch_add(skipped.samples, Relaxed);
        let now = Instant::now();
        if self.unencodable_logged.is_none_or(|t| now.duration_since(t) >= UNENCODABLE_LOG_EVERY) {
            self.unencodable_logged = Some(now);
            tracing::warn!(
                uplink = %self.name,
                "uplink: {} sample(s) have no form for {} and are not sent ({}); counted in edge_uplink_unencodable_samples_total",
                skipped.samples,
                self.courier.sink.peer(),
                skipped.first_reason.as_deref().unwrap_or("no reason given"),
            );
        }
    }

    fn account_losses(&self) {
        let live = self.live.as_ref().map(|(r, _)| r.losses).unwrap_or_default();
        let (b, r) = (self.backlog.losses, self.retired);
        let s = &self.stats;
        s.dropped_samples.store(r.dropped + b.dropped + live.dropped, Relaxed);
        s.corrupt_records.store(r.corrupt_records + b.corrupt_records + live.corrupt_records, Relaxed);
        s.corrupt_samples.store(r.corrupt_samples + b.corrupt_samples + live.corrupt_samples, Relaxed);
    }
}
