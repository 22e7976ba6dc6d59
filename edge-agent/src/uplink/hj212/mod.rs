//! HJ 212 as an uplink kind (`hj212`): the CEMS engine's records (`<stack>.hj212.rtd|minute|hour|day`)
//! sent to one environmental platform as 2011, 2051, 2061 and 2031 uploads over TCP, each sent again
//! until the platform's 9014 names it (`timeout`, `retries`), the platform's commands answered on
//! the same session. A record is an item: the store's cursor moves past it only once acknowledged, so
//! a platform that is down loses nothing; each platform is an `[[uplink]]` with its own cursor.

mod config;
mod history;
mod idle;
mod link;
mod settings;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use protocols::Value;
use protocols::hj212::{Cp, DateTime, Field, Flag, MAX_SEGMENT, Segment, cn, encode_frames};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub use config::{Hj212Target, parse};
use history::{HistoryRequest, Retention, read_all};
use link::{Link, LinkError};
use settings::{Pace, Settings};

use super::registry::KindConfig;
use super::sink::{BoxFuture, Delivery, Encoded, Replay, Sink, Unencodable};
use super::task::{self, UplinkContext};
use crate::store::Batch;
use crate::uplink::UplinkStats;

/// One record: its QN (the 9014 names it), its segment and frames (more than one when split by
/// PNUM/PNO), and what the platform's intervals pace it by.
#[derive(Debug, Clone)]
pub struct Record {
    pub qn: String,
    pub frames: Vec<String>,
    seg: Segment,
    stack: String,
    cn: u16,
    /// `DataTime` in ms of the platform's clock.
    local_ms: i64,
}

impl Record {
    /// The frames with the password the platform set last (1072), which may be newer than the record.
    fn frames_with(&self, password: &str) -> Vec<String> {
        if self.seg.pw == password {
            return self.frames.clone();
        }
        let seg = Segment { pw: password.to_owned(), ..self.seg.clone() };
        encode_frames(&seg, MAX_SEGMENT).unwrap_or_else(|_| self.frames.clone())
    }
}

/// The session to the platform and what the platform set, under one lock: one record at a time.
struct Session {
    link: Option<Link>,
    settings: Settings,
    pace: Pace,
}

pub struct Platform {
    t: Hj212Target,
    session: Mutex<Session>,
    stats: Arc<UplinkStats>,
    /// QNs are the send time in ms; kept increasing so two records never share one.
    last_qn: AtomicU64,
    retention: Retention,
}

/// The sink the generic sender drives; the idle listener shares the platform.
pub struct Hj212Sink(Arc<Platform>);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Platform {
    fn new(t: &Hj212Target, cx: &UplinkContext) -> Platform {
        let keep = i64::try_from(t.history.as_nanos()).unwrap_or(i64::MAX);
        let settings = Settings::load(cx.store.dir(), &cx.name, &t.password);
        Platform {
            t: t.clone(),
            session: Mutex::new(Session { link: None, settings, pace: Pace::default() }),
            stats: cx.stats.clone(),
            last_qn: AtomicU64::new(0),
            retention: Retention::new(cx.store.clone(), keep),
        }
    }

    fn qn(&self) -> Option<String> {
        let now = now_ms() as u64;
        let prev = self.last_qn.fetch_max(now, Ordering::Relaxed);
        let ms = if now > prev { now } else { self.last_qn.fetch_add(1, Ordering::Relaxed) + 1 };
        DateTime::from_unix_millis(ms as i64, self.t.utc_offset_secs).map(|d| d.qn().to_string())
    }
}

impl Platform {
    fn encode_one(&self, s: &protocols::Sample, batch: &Batch) -> Result<Record, String> {
        let Some((_, tag)) = batch.dict.tags.get(s.tag.0 as usize) else {
            return Err(format!("tag id {} is not in the segment's dictionary", s.tag.0));
        };
        let (stack, mn, code) = route(&self.t, tag)
            .ok_or_else(|| format!("{tag} is not an HJ 212 record of a stack in `stations`"))?;
        let Value::Text(id) = s.value else { return Err(format!("{tag}: an HJ 212 record is text")) };
        let body =
            batch.texts.get(&id.0).ok_or_else(|| format!("{tag}: text {} is not in the segment", id.0))?;
        let ts_ms = s.ts.as_nanos() / 1_000_000;
        let at = DateTime::from_unix_millis(ts_ms, self.t.utc_offset_secs)
            .ok_or_else(|| format!("{tag}: time {} is outside years 0..9999", s.ts.as_nanos()))?;
        let qn = self.qn().ok_or("the clock is outside years 0..9999")?;
        let mut cp = Segment::decode(&format!("ST=0;CN=0;MN=x;CP=&&{body}&&"))
            .map(|g| g.cp)
            .map_err(|e| format!("{tag}: record is not CP groups ({e}): {body}"))?;
        cp.groups.insert(0, vec![Field::new("DataTime", at.data_time().to_string())]);
        let seg = Segment {
            qn: Some(qn.clone()),
            st: self.t.st.clone(),
            cn: code,
            pw: self.t.password.clone(),
            mn: mn.to_owned(),
            flag: Some(Flag::new(self.t.edition, true, false)),
            packet: None,
            cp: Cp { groups: cp.groups },
        };
        let frames = encode_frames(&seg, MAX_SEGMENT).map_err(|e| format!("{tag}: {e}"))?;
        let local_ms = ts_ms + i64::from(self.t.utc_offset_secs) * 1000;
        Ok(Record { qn, frames, seg, stack: stack.to_owned(), cn: code, local_ms })
    }

    /// The records a re-send request asks for, read back from the store on the blocking pool.
    async fn history(&self, req: &HistoryRequest) -> Result<Vec<Record>, String> {
        let (shared, from, t, want) =
            (self.retention.shared.clone(), self.retention.start(), self.t.clone(), req.clone());
        let picked = tokio::task::spawn_blocking(move || {
            let mut picked: Vec<(protocols::Sample, Batch)> = Vec::new();
            read_all(shared, from, |batch| {
                for s in &batch.samples {
                    let ts_ms = s.ts.as_nanos() / 1_000_000;
                    let tag = batch.dict.tags.get(s.tag.0 as usize).map(|t| t.1.as_str());
                    if tag.and_then(|tag| route(&t, tag)).map(|r| (r.1, r.2))
                        == Some((want.mn.as_str(), want.cn))
                        && (want.begin_ms..=want.end_ms).contains(&ts_ms)
                    {
                        picked.push((*s, batch.clone_empty()));
                    }
                }
            })
            .map(|()| picked)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        Ok(picked.iter().filter_map(|(s, b)| self.encode_one(s, b).ok()).collect())
    }

    /// Serves the re-send requests that came in on the session: the records, then 9012.
    async fn serve_history(&self, link: &mut Link, s: &mut Settings) -> Result<(), LinkError> {
        for req in std::mem::take(&mut link.history) {
            let (records, rtn) = match self.history(&req).await {
                Ok(r) if r.is_empty() => (r, "100"),
                Ok(r) => (r, "1"),
                Err(e) => {
                    tracing::warn!(platform = %self.t.address, "hj212: history for {} not read: {e}", req.qn);
                    (Vec::new(), "2")
                }
            };
            for r in &records {
                let frames = r.frames_with(&s.password);
                let sent = link.send(&self.t, s, &r.qn, &frames, now_ms).await;
                self.count(link);
                sent?;
            }
            link.reply(&self.t, s, &req.qn, &req.mn, cn::EXECUTE_REPLY, vec![Field::new("ExeRtn", rtn)])
                .await?;
        }
        Ok(())
    }

    /// Moves the session's timeouts and resends to /metrics.
    fn count(&self, link: &mut Link) {
        self.stats.reply_timeouts.fetch_add(std::mem::take(&mut link.timeouts), Ordering::Relaxed);
        self.stats.resends.fetch_add(std::mem::take(&mut link.resends), Ordering::Relaxed);
    }

    /// The session failed: dropped (a session that lost a reply may be half-dead), counted.
    fn lose(&self, link: &mut Option<Link>) {
        if let Some(mut l) = link.take() {
            self.count(&mut l);
            self.stats.sessions_lost.fetch_add(1, Ordering::Relaxed);
            self.stats.session_up.store(false, Ordering::Relaxed);
        }
    }

    async fn deliver(&self, items: &[Encoded<Record>]) -> Delivery {
        let mut guard = self.session.lock().await;
        let Session { link, settings, pace } = &mut *guard;
        for (done, e) in items.iter().enumerate() {
            let r = &e.item;
            if !pace.due(settings, &r.stack, r.cn, r.local_ms) {
                self.stats.held_by_interval.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if link.is_none() {
                match Link::connect(&self.t).await {
                    Ok(l) => {
                        *link = Some(l);
                        self.stats.sessions_opened.fetch_add(1, Ordering::Relaxed);
                        self.stats.session_up.store(true, Ordering::Relaxed);
                    }
                    Err(e) => return retry(&self.t, e, done),
                }
            }
            let Some(l) = link.as_mut() else { continue };
            let frames = r.frames_with(&settings.password);
            let sent = match l.send(&self.t, settings, &r.qn, &frames, now_ms).await {
                Ok(_) => self.serve_history(l, settings).await,
                Err(e) => Err(e),
            };
            self.count(l);
            match sent {
                Ok(()) => pace.sent(&r.stack, r.cn, r.local_ms),
                Err(err) => {
                    self.lose(link);
                    return retry(&self.t, err, done);
                }
            }
        }
        Delivery::Acknowledged
    }
}

/// `<stack>.hj212.<kind>` of a configured stack: the stack, its MN and CN.
fn route<'a>(t: &'a Hj212Target, tag: &str) -> Option<(&'a str, &'a str, u16)> {
    let (stack, kind) = tag.rsplit_once(".hj212.")?;
    let code = match kind {
        "rtd" => cn::REALTIME,
        "minute" => cn::MINUTE,
        "hour" => cn::HOUR,
        "day" => cn::DAY,
        _ => return None,
    };
    let (stack, mn) = t.stations.iter().find(|(s, _)| s == stack)?;
    Some((stack.as_str(), mn.as_str(), code))
}

impl Sink for Hj212Sink {
    type Item = Record;
    const QUARANTINE_EXT: &'static str = "hj212";

    fn encode(&self, batch: &Batch, _: Replay, out: &mut Vec<Encoded<Record>>) -> Unencodable {
        self.0.retention.note(batch);
        let mut skipped = Unencodable::default();
        for s in &batch.samples {
            match self.0.encode_one(s, batch) {
                Ok(record) => out.push(Encoded { item: record, samples: 1 }),
                Err(why) => skipped.add(|| why),
            }
        }
        skipped
    }

    fn deliver<'a>(&'a self, items: &'a [Encoded<Record>]) -> BoxFuture<'a, Delivery> {
        Box::pin(self.0.deliver(items))
    }

    fn describe(&self, item: &Record) -> String {
        item.frames.concat().trim_end().to_owned()
    }

    fn peer(&self) -> String {
        self.0.t.address.clone()
    }
}

/// The link failed after `done` records of the batch were acknowledged one by one: those are not sent again.
fn retry(t: &Hj212Target, e: LinkError, done: usize) -> Delivery {
    let reason = match e {
        LinkError::Io(e) => {
            format!("platform {}: {e}; check the address and the platform's firewall", t.address)
        }
        LinkError::NoReply => format!(
            "platform {}: no 9014 after {} sends {:?} apart; check PW and MN with the platform operator",
            t.address,
            t.retries + 1,
            t.timeout
        ),
    };
    Delivery::Partly { delivered: done, reason, after: None }
}

impl KindConfig for Hj212Target {
    fn kind(&self) -> &'static str {
        "hj212"
    }

    fn peer(&self) -> String {
        self.address.clone()
    }

    fn start(&self, cx: UplinkContext) -> JoinHandle<Result<(), String>> {
        let platform = Arc::new(Platform::new(self, &cx));
        idle::spawn_beside(
            platform.clone(),
            cx.stop.clone(),
            cx.name.clone(),
            task::spawn(cx, Ok(Hj212Sink(platform))),
        )
    }
}
