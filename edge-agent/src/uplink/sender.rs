//! One uplink's task: reads the store from its cursor, sends batches to the historian, advances the
//! cursor on acknowledgement. At-least-once: a batch is resent until the server takes it, and a resent
//! point is identical (same series, same timestamp), so the historian stores it once.
//!
//! After an outage the backlog is sent oldest first beside live data: when the uplink is more than
//! [`SPLIT_BATCHES`] batches behind, a second reader starts at the head for live data, and the backlog
//! reader follows at `backlog_rate` until it reaches where live began. The saved cursor is the backlog's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use drivers::Histogram;
use drivers::telemetry::LATENCY_BUCKETS;
use tokio::sync::watch;

use super::backoff::Backoff;
use super::influx::{InfluxApi, InfluxClient, InfluxTarget, WriteOutcome};
use super::quarantine;
use crate::config::{HistorianApi, UplinkConfig};
use crate::store::{Batch, Cursor, LogReader, Shared};

/// Behind by more than this many batches, live data gets its own reader.
const SPLIT_BATCHES: u64 = 10;

/// What /metrics and /healthz show of an uplink.
#[derive(Debug)]
pub struct UplinkStats {
    pub name: String,
    pub sent_samples: AtomicU64,
    pub writes_accepted: AtomicU64,
    pub writes_failed: AtomicU64,
    pub writes_rejected: AtomicU64,
    pub quarantined_lines: AtomicU64,
    /// Samples the store dropped at `max_bytes` before this uplink sent them.
    pub dropped_samples: AtomicU64,
    pub corrupt_records: AtomicU64,
    pub corrupt_samples: AtomicU64,
    /// Sequence number up to which the historian acknowledged every sample.
    pub acked: AtomicU64,
    pub up: AtomicBool,
    pub write_latency: Histogram,
    last_error: std::sync::Mutex<Option<String>>,
}

impl UplinkStats {
    pub fn new(name: &str) -> Self {
        UplinkStats {
            name: name.to_owned(),
            sent_samples: AtomicU64::new(0),
            writes_accepted: AtomicU64::new(0),
            writes_failed: AtomicU64::new(0),
            writes_rejected: AtomicU64::new(0),
            quarantined_lines: AtomicU64::new(0),
            dropped_samples: AtomicU64::new(0),
            corrupt_records: AtomicU64::new(0),
            corrupt_samples: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            up: AtomicBool::new(false),
            write_latency: Histogram::new(LATENCY_BUCKETS),
            last_error: std::sync::Mutex::new(None),
        }
    }

    /// Samples in the store this uplink has not had acknowledged yet, with the store at `head`.
    pub fn backlog(&self, head: u64) -> u64 {
        head.saturating_sub(self.acked.load(Relaxed))
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = e;
    }
}

pub fn target(cfg: &UplinkConfig) -> InfluxTarget {
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
    let mut sender = Sender {
        backlog: LogReader::new(store.clone(), cursor.position()),
        live: None,
        cursor,
        store,
        client,
        stats,
        backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
        seed: seed(),
        stop,
        tokens: 0.0,
        refilled: Instant::now(),
        down_since: None,
        cfg,
    };
    sender.run().await;
}

struct Sender {
    cfg: UplinkConfig,
    store: Arc<Shared>,
    client: InfluxClient,
    stats: Arc<UplinkStats>,
    cursor: Cursor,
    /// Reads from the cursor; after an outage, up to where `live` began.
    backlog: LogReader,
    /// Live data during catch-up: the reader and the sequence number it started at.
    live: Option<(LogReader, u64)>,
    backoff: Backoff,
    seed: u64,
    stop: watch::Receiver<bool>,
    /// Backlog samples that may be sent now (token bucket at `backlog_rate`).
    tokens: f64,
    refilled: Instant,
    down_since: Option<Instant>,
}

/// Lines ready to send and the sequence number after their last sample.
struct Payload {
    body: String,
    end_seq: u64,
    samples: u64,
}

impl Sender {
    async fn run(&mut self) {
        loop {
            if *self.stop.borrow() {
                break;
            }
            self.update_backlog();
            let head = self.store.head();
            let batch = self.cfg.batch_size as u64;
            let live_lag = self.live.as_ref().map_or(0, |(r, _)| head.saturating_sub(r.position()));
            if head.saturating_sub(self.backlog.position()) > SPLIT_BATCHES * batch
                && (self.live.is_none() || live_lag > SPLIT_BATCHES * batch)
            {
                // Live data first; the backlog (now up to `head`) follows at its own pace.
                tracing::info!(
                    uplink = %self.cfg.name,
                    backlog = head - self.backlog.position(),
                    "uplink: sending the backlog beside live data, at most {} samples/s",
                    self.cfg.backlog_rate
                );
                self.live = Some((LogReader::new(self.store.clone(), head), head));
            }
            let mut progressed = false;
            if self.live.is_some() {
                if let Some(p) = self.collect(Reader::Live, u64::MAX, false).await {
                    if !self.deliver(p).await {
                        break;
                    }
                    progressed = true;
                }
            }
            if self.backlog_allowed() {
                let limit = self.live.as_ref().map_or(u64::MAX, |&(_, start)| start);
                let wait = self.live.is_none();
                if let Some(p) = self.collect(Reader::Backlog, limit, wait).await {
                    let (n, end) = (p.samples, p.end_seq);
                    self.tokens -= n as f64;
                    if !self.deliver(p).await {
                        break;
                    }
                    if let Err(e) = self.cursor.advance(end, Instant::now()) {
                        tracing::warn!(uplink = %self.cfg.name, "cannot save the uplink's position: {e}");
                    }
                    self.update_backlog();
                    progressed = true;
                }
            }
            // The backlog has reached where live began: one reader again.
            if let Some((_, start)) = &self.live
                && self.backlog.position() >= *start
            {
                let (reader, _) = self.live.take().expect("checked");
                tracing::info!(uplink = %self.cfg.name, "uplink: backlog sent");
                self.backlog = reader;
            }
            if !progressed {
                self.wait_for_data().await;
            }
        }
        if let Err(e) = self.cursor.flush() {
            tracing::warn!(uplink = %self.cfg.name, "cannot save the uplink's position: {e}");
        }
    }

    fn update_backlog(&self) {
        self.stats.acked.store(self.cursor.position(), Relaxed);
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
            self.account_losses(which);
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

    fn account_losses(&self, which: Reader) {
        let losses = match which {
            Reader::Live => self.live.as_ref().map(|(r, _)| r.losses).unwrap_or_default(),
            Reader::Backlog => self.backlog.losses,
        };
        // Losses only grow on one reader; the live reader is dropped or becomes the backlog reader.
        let s = &self.stats;
        s.dropped_samples.fetch_max(losses.dropped, Relaxed);
        s.corrupt_records.fetch_max(losses.corrupt_records, Relaxed);
        s.corrupt_samples.fetch_max(losses.corrupt_samples, Relaxed);
    }

    /// Sends until the historian takes every line (or quarantines the ones it calls malformed). False if
    /// the uplink was told to stop first.
    async fn deliver(&mut self, p: Payload) -> bool {
        let mut parts = vec![p.body];
        while let Some(body) = parts.pop() {
            loop {
                if *self.stop.borrow() {
                    return false;
                }
                let t = Instant::now();
                let outcome = self.client.write(body.as_bytes()).await;
                self.stats.write_latency.observe(t.elapsed());
                match outcome {
                    WriteOutcome::Accepted => {
                        self.accepted();
                        break;
                    }
                    WriteOutcome::Retry { reason, after } => {
                        self.failed(&reason);
                        self.seed =
                            self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        let delay = match after {
                            Some(hint) => self.backoff.after_server_hint(hint),
                            None => self.backoff.next_delay(self.seed),
                        };
                        let mut stop = self.stop.clone();
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = stop.changed() => {}
                        }
                    }
                    WriteOutcome::Rejected { .. } | WriteOutcome::TooLarge { .. }
                        if body.lines().nth(1).is_some() =>
                    {
                        // Halve until the bad lines are alone: the good ones still reach the historian.
                        let (a, b) = halves(&body);
                        parts.push(b);
                        parts.push(a);
                        break;
                    }
                    WriteOutcome::Rejected { status, message } => {
                        self.quarantine(&body, &format!("{status}: {message}"));
                        break;
                    }
                    WriteOutcome::TooLarge { message } => {
                        self.quarantine(&body, &format!("413: {message}"));
                        break;
                    }
                }
            }
        }
        self.stats.sent_samples.fetch_add(p.samples, Relaxed);
        true
    }

    fn accepted(&mut self) {
        self.stats.writes_accepted.fetch_add(1, Relaxed);
        self.backoff.reset();
        if !self.stats.up.swap(true, Relaxed) {
            match self.down_since.take() {
                Some(since) => tracing::info!(
                    uplink = %self.cfg.name,
                    "uplink: historian takes writes again after {:.0?}; backlog {} samples",
                    since.elapsed(),
                    self.stats.backlog(self.store.head())
                ),
                None => {
                    tracing::info!(uplink = %self.cfg.name, url = %self.client.write_url(), "uplink: connected")
                }
            }
            self.stats.set_error(None);
        }
    }

    fn failed(&mut self, reason: &str) {
        self.stats.writes_failed.fetch_add(1, Relaxed);
        self.update_backlog();
        if self.stats.up.swap(false, Relaxed) || self.down_since.is_none() {
            self.down_since.get_or_insert_with(Instant::now);
            tracing::warn!(
                uplink = %self.cfg.name,
                "uplink: {reason}; samples stay in the store and are sent when the historian takes them"
            );
        }
        self.stats.set_error(Some(reason.to_owned()));
    }

    fn quarantine(&mut self, body: &str, why: &str) {
        let lines = body.lines().count() as u64;
        self.stats.writes_rejected.fetch_add(1, Relaxed);
        self.stats.quarantined_lines.fetch_add(lines, Relaxed);
        match quarantine::save(self.store.dir(), &self.cfg.name, body, why) {
            Ok(path) => tracing::error!(
                uplink = %self.cfg.name,
                "uplink: the historian refused {lines} line(s) as malformed ({why}); kept in {} instead of resending",
                path.display()
            ),
            Err(e) => tracing::error!(
                uplink = %self.cfg.name,
                "uplink: the historian refused {lines} line(s) as malformed ({why}), and they cannot be kept: {e}"
            ),
        }
    }
}

#[derive(Clone, Copy)]
enum Reader {
    Live,
    Backlog,
}

/// Splits a body of several lines at the line nearest its middle.
fn halves(body: &str) -> (String, String) {
    let mid = body.len() / 2;
    let cut = body[..mid].rfind('\n').map(|i| i + 1).or_else(|| body[mid..].find('\n').map(|i| mid + i + 1));
    let cut = cut.filter(|&c| c < body.len()).unwrap_or(body.len());
    (body[..cut].to_owned(), body[cut..].to_owned())
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

fn seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
}

#[cfg(test)]
mod tests {
    use super::halves;

    #[test]
    fn halves_split_at_a_line_boundary() {
        let (a, b) = halves("a 1\nb 2\nc 3\nd 4\n");
        assert_eq!((a.as_str(), b.as_str()), ("a 1\nb 2\n", "c 3\nd 4\n"));
        let (a, b) = halves("long line number one\nx\n");
        assert_eq!((a.as_str(), b.as_str()), ("long line number one\n", "x\n"));
    }
}
