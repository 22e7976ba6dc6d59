//! HJ 212 as an uplink kind (`hj212`): the CEMS engine's records (`<stack>.hj212.rtd|minute|hour|day`)
//! sent to one environmental platform as 2011, 2051, 2061 and 2031 uploads over TCP, each sent again
//! until the platform's 9014 names it (`timeout`, `retries`), the platform's commands answered on
//! the same session. A record is an item: the store's cursor moves past it only once acknowledged, so
//! a platform that is down loses nothing; each platform is an `[[uplink]]` with its own cursor.

mod config;
mod history;
mod link;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use protocols::Value;
use protocols::hj212::{Cp, DateTime, Field, Flag, MAX_SEGMENT, Segment, cn, encode_frames};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub use config::{Hj212Target, parse};
use history::{HistoryRequest, Retention, read_all};
use link::{Link, LinkError};

use super::registry::KindConfig;
use super::sink::{BoxFuture, Delivery, Encoded, Replay, Sink, Unencodable};
use super::task::{self, UplinkContext};
use crate::store::Batch;

/// One record: its QN (the 9014 names it) and its frames (more than one when split by PNUM/PNO).
#[derive(Debug, Clone)]
pub struct Record {
    pub qn: String,
    pub frames: Vec<String>,
}

pub struct Hj212Sink {
    t: Hj212Target,
    link: Mutex<Option<Link>>,
    /// Sends of a record beyond its first (no 9014 in time).
    pub resends: AtomicU64,
    /// QNs are the send time in ms; kept increasing so two records never share one.
    last_qn: AtomicU64,
    retention: Retention,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Hj212Sink {
    pub fn new(t: &Hj212Target, store: std::sync::Arc<crate::store::Shared>) -> Hj212Sink {
        let keep = i64::try_from(t.history.as_nanos()).unwrap_or(i64::MAX);
        Hj212Sink {
            t: t.clone(),
            link: Mutex::new(None),
            resends: AtomicU64::new(0),
            last_qn: AtomicU64::new(0),
            retention: Retention::new(store, keep),
        }
    }

    fn qn(&self) -> Option<String> {
        let now = now_ms() as u64;
        let prev = self.last_qn.fetch_max(now, Ordering::Relaxed);
        let ms = if now > prev { now } else { self.last_qn.fetch_add(1, Ordering::Relaxed) + 1 };
        DateTime::from_unix_millis(ms as i64, self.t.utc_offset_secs).map(|d| d.qn().to_string())
    }
}

impl Hj212Sink {
    fn encode_one(&self, s: &protocols::Sample, batch: &Batch) -> Result<Record, String> {
        let Some((_, tag)) = batch.dict.tags.get(s.tag.0 as usize) else {
            return Err(format!("tag id {} is not in the segment's dictionary", s.tag.0));
        };
        let (mn, code) = route(&self.t, tag)
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
        Ok(Record { qn, frames })
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
                    if tag.and_then(|tag| route(&t, tag)) == Some((want.mn.as_str(), want.cn))
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
    async fn serve_history(&self, link: &mut Link) -> Result<(), LinkError> {
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
                link.send(&self.t, &r.qn, &r.frames, now_ms).await?;
            }
            link.reply(&self.t, &req.qn, &req.mn, cn::EXECUTE_REPLY, vec![Field::new("ExeRtn", rtn)]).await?;
        }
        Ok(())
    }
}

/// `<stack>.hj212.<kind>` of a configured stack: its MN and CN.
fn route<'a>(t: &'a Hj212Target, tag: &str) -> Option<(&'a str, u16)> {
    let (stack, kind) = tag.rsplit_once(".hj212.")?;
    let code = match kind {
        "rtd" => cn::REALTIME,
        "minute" => cn::MINUTE,
        "hour" => cn::HOUR,
        "day" => cn::DAY,
        _ => return None,
    };
    let mn = t.stations.iter().find(|(s, _)| s == stack)?;
    Some((mn.1.as_str(), code))
}

impl Sink for Hj212Sink {
    type Item = Record;
    const QUARANTINE_EXT: &'static str = "hj212";

    fn encode(&self, batch: &Batch, _: Replay, out: &mut Vec<Encoded<Record>>) -> Unencodable {
        self.retention.note(batch);
        let mut skipped = Unencodable::default();
        for s in &batch.samples {
            match self.encode_one(s, batch) {
                Ok(record) => out.push(Encoded { item: record, samples: 1 }),
                Err(why) => skipped.add(|| why),
            }
        }
        skipped
    }

    fn deliver<'a>(&'a self, items: &'a [Encoded<Record>]) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let mut link = self.link.lock().await;
            for e in items {
                if link.is_none() {
                    match Link::connect(&self.t).await {
                        Ok(l) => *link = Some(l),
                        Err(e) => return retry(&self.t, e),
                    }
                }
                let Some(l) = link.as_mut() else { continue };
                let sent = match l.send(&self.t, &e.item.qn, &e.item.frames, now_ms).await {
                    Ok(sent) => self.serve_history(l).await.map(|()| sent),
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(sent) => {
                        self.resends.fetch_add(u64::from(sent - 1), Ordering::Relaxed);
                    }
                    Err(err) => {
                        // A session that lost a reply may be half-dead: start afresh.
                        *link = None;
                        self.resends.fetch_add(u64::from(self.t.retries), Ordering::Relaxed);
                        return retry(&self.t, err);
                    }
                }
            }
            Delivery::Acknowledged
        })
    }

    fn describe(&self, item: &Record) -> String {
        item.frames.concat().trim_end().to_owned()
    }

    fn peer(&self) -> String {
        self.t.address.clone()
    }
}

fn retry(t: &Hj212Target, e: LinkError) -> Delivery {
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
    Delivery::Retry { reason, after: None }
}

impl KindConfig for Hj212Target {
    fn kind(&self) -> &'static str {
        "hj212"
    }

    fn peer(&self) -> String {
        self.address.clone()
    }

    fn start(&self, cx: UplinkContext) -> JoinHandle<Result<(), String>> {
        let store = cx.store.clone();
        task::spawn(cx, Ok(Hj212Sink::new(self, store)))
    }
}
