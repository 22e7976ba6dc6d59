//! One uplink's sending loop, for any [`Sink`]: reads the store from its cursor, encodes batches into the
//! sink's items, hands them to a [`Courier`], and advances the cursor as they are acknowledged, in order.
//! At-least-once: a batch is resent until the peer takes it, and a resent sample is identical (same
//! series, same timestamp), so the peer stores it once.
//!
//! While full batches are waiting, up to `in_flight` writes are on their way at once (a historian takes
//! concurrent writes on several cores); at live rates one write at a time, each at most `batch_age` old.
//! After an outage the backlog goes oldest first beside live data, at `backlog_rate` ([`Readers`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::UplinkStats;
use super::delivery::{Courier, stopping};
use super::pacing::Pacing;
use super::readers::{Readers, Which};
use super::sink::{Encoded, Replay, Sink, Unencodable};
use super::task::{UplinkContext, report_crash};
use crate::store::{Cursor, Shared};

/// Samples without a form for the peer are logged at most this often (they may come every scan).
const UNENCODABLE_LOG_EVERY: Duration = Duration::from_secs(60);

/// Sends until `stop`; `Err` says why the uplink could not go on (its supervisor restarts it).
pub(super) async fn run<S: Sink>(cx: UplinkContext, sink: Result<S, String>) -> Result<(), String> {
    let UplinkContext { name, pacing, store, stats, stop, .. } = cx;
    let sink = match sink {
        Ok(s) => s,
        Err(e) => {
            let why = format!("uplink {name}: {e}; samples stay in the store until the config is fixed");
            stats.set_error(Some(why.clone()));
            return Err(why);
        }
    };
    let cursor = match Cursor::register(&store, &name) {
        Ok(c) => c,
        Err(e) => {
            let why =
                format!("uplink {name}: cannot read or save its position in {}: {e}", store.dir().display());
            stats.set_error(Some(why.clone()));
            return Err(why);
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
        readers: Readers::new(store.clone(), cursor.position()),
        cursor,
        store,
        courier,
        stats,
        stop,
        in_flight: VecDeque::new(),
        live_acked: None,
        tokens: 0.0,
        refilled: Instant::now(),
        unencodable_logged: None,
        name,
        pacing,
    };
    sender.run().await
}

struct Sender<S: Sink> {
    name: String,
    pacing: Pacing,
    store: Arc<Shared>,
    courier: Arc<Courier<S>>,
    stats: Arc<UplinkStats>,
    cursor: Cursor,
    readers: Readers,
    stop: watch::Receiver<bool>,
    /// Writes on their way, oldest first, with what each acknowledges.
    in_flight: VecDeque<InFlight>,
    /// Live data acknowledged during catch-up: from where live began to the end of the last live batch.
    /// The cursor jumps there once the backlog reached where live began, else it would stall at that
    /// point when live data stops before the backlog is through (nothing later would move it).
    live_acked: Option<(u64, u64)>,
    /// Backlog samples that may be sent now (token bucket at `backlog_rate`).
    tokens: f64,
    refilled: Instant,
    /// When samples without a form for the peer were last logged.
    unencodable_logged: Option<Instant>,
}

/// A write on its way: its task and what it acknowledges.
struct InFlight {
    task: JoinHandle<bool>,
    ack: Ack,
}

/// What a delivered batch tells the cursor.
#[derive(Clone, Copy)]
enum Ack {
    /// Everything before this sequence number (a batch of the reader the cursor follows).
    Backlog(u64),
    /// Live data during catch-up: `live_start..end` once every earlier live batch was delivered.
    Live { live_start: u64, end: u64 },
}

/// Items ready to send, the sequence number after their last sample, and how many samples were read.
struct Payload<I> {
    items: Vec<Encoded<I>>,
    end_seq: u64,
    samples: u64,
}

impl<S: Sink> Sender<S> {
    async fn run(&mut self) -> Result<(), String> {
        // False once a batch was not delivered: no later batch may move the cursor past it.
        let mut acking = true;
        let mut crashed = None;
        while !stopping(&self.stop) {
            self.maybe_split();
            let mut started = false;
            while self.in_flight.len() < self.pacing.in_flight.max(1) {
                let Some((p, backlog)) = self.next_payload().await else { break };
                let ack = match self.readers.live_start() {
                    Some(live_start) if !backlog => Ack::Live { live_start, end: p.end_seq },
                    _ => Ack::Backlog(p.end_seq),
                };
                let task = tokio::spawn(self.courier.clone().send(p.items, self.stop.clone()));
                self.in_flight.push_back(InFlight { task, ack });
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
                            crashed = Some(report_crash(&self.name, &self.stats, "a delivery", &e));
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
        crashed.map_or(Ok(()), Err)
    }

    /// A batch is delivered, in order: a backlog batch moves the cursor to its end; live batches move it
    /// once the backlog has reached where live began.
    fn acknowledge(&mut self, ack: Ack) {
        let mut to = match ack {
            Ack::Backlog(end) => end,
            Ack::Live { live_start, end } => {
                // A new split starts a new run (the backlog resends the old one's samples anyway).
                self.live_acked = Some((live_start, end));
                self.cursor.position()
            }
        };
        if let Some((live_start, end)) = self.live_acked
            && to >= live_start
        {
            to = to.max(end);
            self.live_acked = None;
        }
        if let Err(e) = self.cursor.advance(to, Instant::now()) {
            tracing::warn!(uplink = %self.name, "cannot save the uplink's position: {e}");
        }
        self.stats.acked.store(self.cursor.position(), Relaxed);
    }

    /// Far behind: live data gets its own reader, the backlog (now up to the head) follows at its pace.
    fn maybe_split(&mut self) {
        let backlog = self.store.head().saturating_sub(self.readers.backlog.position());
        if self.readers.maybe_split(self.pacing.batch_size) {
            tracing::info!(
                uplink = %self.name,
                backlog,
                "uplink: sending the backlog beside live data, at most {} samples/s",
                self.pacing.backlog_rate
            );
        }
    }

    /// The backlog has reached where live began: one reader again.
    fn maybe_merge(&mut self) {
        if self.readers.maybe_merge() {
            tracing::info!(uplink = %self.name, "uplink: backlog sent");
        }
    }

    /// The next batch to send: live data first, then the backlog as its rate allows. With writes already
    /// on their way, only a full batch (more waiting behind it) is worth another concurrent write.
    async fn next_payload(&mut self) -> Option<(Payload<S::Item>, bool)> {
        let busy = !self.in_flight.is_empty();
        let batch = self.pacing.batch_size as u64;
        let head = self.store.head();
        if let Some(live) = self.readers.position(Which::Live)
            && (!busy || head.saturating_sub(live) >= batch)
            && let Some(p) = self.collect(Which::Live, u64::MAX, false).await
        {
            return Some((p, false));
        }
        let live_start = self.readers.live_start();
        let limit = live_start.unwrap_or(u64::MAX);
        let ready = limit.min(head).saturating_sub(self.readers.backlog.position());
        if (busy && ready < batch) || !self.backlog_allowed() {
            return None;
        }
        let wait = live_start.is_none() && !busy;
        let p = self.collect(Which::Backlog, limit, wait).await?;
        if live_start.is_some() {
            self.tokens -= p.samples as f64;
        }
        Some((p, true))
    }

    /// Live data is never held back; the backlog only while the token bucket allows.
    fn backlog_allowed(&mut self) -> bool {
        if self.readers.live.is_none() {
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
        let pause =
            if self.readers.live.is_some() { Duration::from_millis(20) } else { Duration::from_millis(500) };
        tokio::select! {
            _ = appended => {}
            _ = tokio::time::sleep(pause) => {}
            _ = self.stop.changed() => {}
        }
    }

    /// Up to one batch of items from a reader, not past `limit`. With `wait`, a partial batch waits for
    /// more until it is `batch_age` old; live data beside a backlog goes as it comes.
    async fn collect(&mut self, which: Which, limit: u64, wait: bool) -> Option<Payload<S::Item>> {
        let started = Instant::now();
        let replay = match which {
            Which::Backlog if self.readers.live.is_some() => Replay::Backlog,
            _ => Replay::Live,
        };
        let mut p = Payload { items: Vec::new(), end_seq: 0, samples: 0 };
        loop {
            let position = self.readers.position(which)?;
            let want = (self.pacing.batch_size as u64 - p.samples).min(limit.saturating_sub(position));
            if want == 0 {
                break;
            }
            match self.readers.read(which, want, &self.stats).await {
                Some(Ok(batch)) => {
                    p.samples += batch.samples.len() as u64;
                    p.end_seq = batch.end_seq();
                    let skipped = self.courier.sink.encode(&batch, replay, &mut p.items);
                    self.unencodable(skipped);
                }
                None => {
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
                Some(Err(e)) => {
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
}
