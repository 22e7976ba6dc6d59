//! HJ 212 as an uplink kind (`hj212`): the CEMS engine's records (`<stack>.hj212.rtd|minute|hour|day`)
//! sent to one environmental platform as 2011, 2051, 2061 and 2031 uploads over TCP, each sent again
//! until the platform's 9014 names it (`timeout`, `retries`), the platform's commands answered on
//! the same session. A record is an item: the store's cursor moves past it only once acknowledged, so
//! a platform that is down loses nothing; each platform is an `[[uplink]]` with its own cursor.

mod config;
mod link;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use protocols::Value;
use protocols::hj212::{Cp, DateTime, Field, Flag, MAX_SEGMENT, Segment, cn, encode_frames};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub use config::{Hj212Target, parse};
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
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Hj212Sink {
    pub fn new(t: &Hj212Target) -> Hj212Sink {
        Hj212Sink {
            t: t.clone(),
            link: Mutex::new(None),
            resends: AtomicU64::new(0),
            last_qn: AtomicU64::new(0),
        }
    }

    fn qn(&self) -> Option<String> {
        let now = now_ms() as u64;
        let prev = self.last_qn.fetch_max(now, Ordering::Relaxed);
        let ms = if now > prev { now } else { self.last_qn.fetch_add(1, Ordering::Relaxed) + 1 };
        DateTime::from_unix_millis(ms as i64, self.t.utc_offset_secs).map(|d| d.qn().to_string())
    }

    /// `<stack>.hj212.<kind>` of a configured stack: its MN and CN.
    fn route(&self, tag: &str) -> Option<(&str, u16)> {
        let (stack, kind) = tag.rsplit_once(".hj212.")?;
        let code = match kind {
            "rtd" => cn::REALTIME,
            "minute" => cn::MINUTE,
            "hour" => cn::HOUR,
            "day" => cn::DAY,
            _ => return None,
        };
        let mn = self.t.stations.iter().find(|(s, _)| s == stack)?;
        Some((mn.1.as_str(), code))
    }
}

impl Sink for Hj212Sink {
    type Item = Record;
    const QUARANTINE_EXT: &'static str = "hj212";

    fn encode(&self, batch: &Batch, _: Replay, out: &mut Vec<Encoded<Record>>) -> Unencodable {
        let mut skipped = Unencodable::default();
        for s in &batch.samples {
            let Some((_, tag)) = batch.dict.tags.get(s.tag.0 as usize) else {
                skipped.add(|| format!("tag id {} is not in the segment's dictionary", s.tag.0));
                continue;
            };
            let Some((mn, code)) = self.route(tag) else {
                skipped.add(|| format!("{tag} is not an HJ 212 record of a stack in `stations`"));
                continue;
            };
            let Value::Text(id) = s.value else {
                skipped.add(|| format!("{tag}: an HJ 212 record is text"));
                continue;
            };
            let Some(body) = batch.texts.get(&id.0) else {
                skipped.add(|| format!("{tag}: text {} is not in the segment", id.0));
                continue;
            };
            let Some(at) = DateTime::from_unix_millis(s.ts.as_nanos() / 1_000_000, self.t.utc_offset_secs)
            else {
                skipped.add(|| format!("{tag}: time {} is outside years 0..9999", s.ts.as_nanos()));
                continue;
            };
            let Some(qn) = self.qn() else {
                skipped.add(|| "the clock is outside years 0..9999".into());
                continue;
            };
            let Ok(mut cp) = Segment::decode(&format!("ST=0;CN=0;MN=x;CP=&&{body}&&")).map(|g| g.cp) else {
                skipped.add(|| format!("{tag}: record is not CP groups: {body}"));
                continue;
            };
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
            match encode_frames(&seg, MAX_SEGMENT) {
                Ok(frames) => out.push(Encoded { item: Record { qn, frames }, samples: 1 }),
                Err(e) => skipped.add(|| format!("{tag}: {e}")),
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
                match l.send(&self.t, &e.item.qn, &e.item.frames, now_ms).await {
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
        task::spawn(cx, Ok(Hj212Sink::new(self)))
    }
}
