//! One uplink's task: reads the store from its cursor, hands batches to [`Delivery`], and advances the
//! cursor as they are acknowledged, in order. At-least-once: a batch is resent until the server takes
//! it, and a resent point is identical (same series, same timestamp), so the historian stores it once.
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
use super::delivery::Delivery;
use super::influx::{InfluxApi, InfluxClient, InfluxTarget};
use crate::config::{HistorianApi, UplinkConfig};
use crate::store::reader::ReaderLosses;
use crate::store::{Batch, Cursor, LogReader, Shared};

/// Behind by more than this many batches, live data gets its own reader.
const SPLIT_BATCHES: u64 = 10;

fn target(cfg: &UplinkConfig) -> InfluxTarget {
    let api = match &cfg.api {
        HistorianApi::V2 { org, bucket, token } => {
            InfluxApi::V2 { org: org.clone(), bucket: bucket.clone(), token: token.clone() }
        }
        HistorianApi::V1 { database, retention_policy, username, password } => InfluxApi::V1 {
            db: database.clone(),
            rp: retention_policy.clone(),
            username: username.clone(),
            password: password.clone(),
        },
    };
    InfluxTarget {
        url: cfg.url.clone(),
        api,
        gzip: cfg.gzip,
        timeout: cfg.timeout,
        ca_file: cfg.ca_file.clone(),
    }
}

/// Runs until `stop` turns true; the cursor is saved on the way out.
pub async fn run(
    cfg: UplinkConfig,
    store: Arc<Shared>,
    stats: Arc<UplinkStats>,
    stop: watch::Receiver<bool>,
) {
    let client = match InfluxClient::new(&target(&cfg)) {
        Ok(c) => c,
        Err(e) => {
            let why =
                format!("uplink {}: {e}; samples stay in the store until the config is fixed", cfg.name);
            tracing::error!("{why}");
            stats.set_error(Some(why));
            return;
        }
    };
    let cursor = match Cursor::register(&store, &cfg.name) {
        Ok(c) => c,
        Err(e) => {
            let why = format!(
                "uplink {}: cannot read or save its position in {}: {e}",
                cfg.name,
                store.dir().display()
            );
            tracing::error!("{why}");
            stats.set_error(Some(why));
            return;
        }
    };
    stats.acked.store(cursor.position(), Relaxed);
    let delivery = Arc::new(Delivery {
        name: cfg.name.clone(),
        client,
        stats: stats.clone(),
        store_dir: store.dir().to_owned(),
    });
    let mut sender = Sender {
        backlog: LogReader::new(store.clone(), cursor.position()),
        live: None,
        retired: ReaderLosses::default(),
        cursor,
        store,
        delivery,
        stats,
        stop,
        in_flight: VecDeque::new(),
        tokens: 0.0,
        refilled: Instant::now(),
        cfg,
    };
    sender.run().await;
}

struct Sender {
    cfg: UplinkConfig,
    store: Arc<Shared>,
    delivery: Arc<Delivery>,
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
}

/// A write on its way: its task, the cursor position it acknowledges (backlog batches only), and how
/// many samples it carries.
struct InFlight {
    task: JoinHandle<bool>,
    ack: Option<u64>,
    samples: u64,
}

/// Lines ready to send and the sequence number after their last sample.
struct Payload {
    body: String,
    end_seq: u64,
    samples: u64,
}

#[derive(Clone, Copy)]
enum Reader {
    Live,
    Backlog,
}

impl Sender {
    async fn run(&mut self) {
        while !*self.stop.borrow() {
            self.maybe_split();
            let mut started = false;
            while self.in_flight.len() < self.cfg.in_flight.max(1) {
                let Some((p, ack)) = self.next_payload().await else { break };
                let task = tokio::spawn(self.delivery.clone().send(p.body, self.stop.clone()));
                self.in_flight.push_back(InFlight {
                    task,
                    ack: ack.then_some(p.end_seq),
                    samples: p.samples,
                });
                started = true;
            }
            self.maybe_merge();
            if let Some(InFlight { task, ack, samples }) = self.in_flight.pop_front() {
                let mut stop = self.stop.clone();
                let done = tokio::select! {
                    r = task => r.unwrap_or(false),
                    _ = stop.changed() => false,
                };
                if !done {
                    break;
                }
                self.stats.sent_samples.fetch_add(samples, Relaxed);
                if let Some(end) = ack {
                    if let Err(e) = self.cursor.advance(end, Instant::now()) {
                        tracing::warn!(uplink = %self.cfg.name, "cannot save the uplink's position: {e}");
                    }
                    self.stats.acked.store(self.cursor.position(), Relaxed);
                }
            } else if !started {
                self.wait_for_data().await;
            }
        }
        // Writes already on their way finish (or fail) within the stop grace: acknowledge what the
        // historian took, so a restart does not send it twice.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let mut acking = true;
        for w in self.in_flight.drain(..) {
            let abort = w.task.abort_handle();
            match tokio::time::timeout_at(deadline, w.task).await {
                Ok(Ok(true)) if acking => {
                    self.stats.sent_samples.fetch_add(w.samples, Relaxed);
                    if let Some(end) = w.ack {
                        let _ = self.cursor.advance(end, Instant::now());
                    }
                }
                _ => {
                    acking = false;
                    abort.abort();
                }
            }
        }
        if let Err(e) = self.cursor.flush() {
            tracing::warn!(uplink = %self.cfg.name, "cannot save the uplink's position: {e}");
        }
    }

    /// Far behind: live data gets its own reader, the backlog (now up to the head) follows at its pace.
    fn maybe_split(&mut self) {
        let head = self.store.head();
        let threshold = SPLIT_BATCHES * self.cfg.batch_size as u64;
        let live_lag = self.live.as_ref().map_or(0, |(r, _)| head.saturating_sub(r.position()));
        if head.saturating_sub(self.backlog.position()) > threshold
            && (self.live.is_none() || live_lag > threshold)
        {
            tracing::info!(
                uplink = %self.cfg.name,
                backlog = head - self.backlog.position(),
                "uplink: sending the backlog beside live data, at most {} samples/s",
                self.cfg.backlog_rate
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
            tracing::info!(uplink = %self.cfg.name, "uplink: backlog sent");
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
    async fn next_payload(&mut self) -> Option<(Payload, bool)> {
        let busy = !self.in_flight.is_empty();
        let batch = self.cfg.batch_size as u64;
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
        let rate = self.cfg.backlog_rate as f64;
        let cap = (self.cfg.batch_size as f64).max(rate);
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate).min(cap);
        self.refilled = now;
        self.tokens >= self.cfg.batch_size.min(self.cfg.backlog_rate as usize) as f64
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
    async fn collect(&mut self, which: Reader, limit: u64, wait: bool) -> Option<Payload> {
        let started = Instant::now();
        let mut p = Payload { body: String::new(), end_seq: 0, samples: 0 };
        loop {
            let reader = match which {
                Reader::Live => &mut self.live.as_mut()?.0,
                Reader::Backlog => &mut self.backlog,
            };
            let want = (self.cfg.batch_size as u64 - p.samples).min(limit.saturating_sub(reader.position()));
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
                    encode(&mut p.body, &batch, &self.cfg.name);
                }
                Ok(None) => {
                    // Caught up: send what there is once the batch is old enough, or wait for more.
                    if !wait
                        || p.samples == 0
                        || started.elapsed() >= self.cfg.batch_age
                        || *self.stop.borrow()
                    {
                        break;
                    }
                    let left = self.cfg.batch_age.saturating_sub(started.elapsed());
                    let appended = self.store.appended.notified();
                    tokio::select! {
                        _ = appended => {}
                        _ = tokio::time::sleep(left) => {}
                    }
                }
                Err(e) => {
                    let why = format!("uplink {}: cannot read the store: {e}", self.cfg.name);
                    tracing::error!("{why}");
                    self.stats.set_error(Some(why));
                    break;
                }
            }
        }
        (p.samples > 0).then_some(p)
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

fn encode(body: &mut String, batch: &Batch, uplink: &str) {
    for s in &batch.samples {
        let text = match s.value {
            protocols::Value::Text(id) => batch.texts.get(&id.0).map(String::as_str),
            _ => None,
        };
        if let Err(e) = crate::export::write_sample(body, &batch.dict, s, text) {
            tracing::warn!(uplink, "a sample has no line-protocol form and is not sent: {e}");
        }
    }
}
