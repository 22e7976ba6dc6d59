//! Sparkplug B edge node as an uplink kind (`sparkplug_b`): the store's samples become DDATA of one
//! device per agent device, under an NBIRTH/NDEATH session with bdSeq and DBIRTHs declaring each
//! metric's alias and datatype (Sparkplug 3.0 ch. 5 and 6).
//!
//! - `config`: its keys; `device`: a device's metrics and whether it is dead; `node`: the session
//!   (births, deaths, seq, commands, STATE); here: the sink.
//!
//! One item is one DDATA message (at most `max_metrics` metrics of one device); its seq and aliases
//! are given when it is published, so a resent message is numbered in the session it goes out in.
//! Report by exception drops a live value within its deadband of the last one published; those
//! samples count as sent with the message of their batch. The backlog is sent in full, each metric
//! flagged `is_historical`.

mod config;
mod device;
mod node;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use protocols::sparkplug::Reading;
use protocols::{Quality, Value};
use tokio::task::JoinHandle;

pub use config::{SparkplugTarget, parse};
pub(crate) use config::{qos, read_link};
use node::Node;

use super::registry::KindConfig;
use super::sink::{BoxFuture, Delivery, Encoded, Replay, Sink, Unencodable};
use super::task::{self, UplinkContext};
use crate::store::Batch;

/// One value of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub tag: String,
    pub ts_ms: u64,
    pub reading: Reading,
    pub quality: Quality,
}

/// One DDATA message to be, of one device.
#[derive(Debug)]
pub struct Message {
    pub device: String,
    pub points: Vec<Point>,
    pub historical: bool,
    /// Set once the broker acknowledged it, so a retry of its batch does not send it twice.
    pub acked: AtomicBool,
}

pub struct SparkplugSink {
    node: std::sync::Arc<Node>,
    events: JoinHandle<()>,
    target: SparkplugTarget,
    /// Last value published per tag, for report by exception (live data only).
    last: Mutex<HashMap<String, (Reading, Quality)>>,
}

impl Drop for SparkplugSink {
    /// The connection closes without DISCONNECT, so the broker publishes the NDEATH will.
    fn drop(&mut self) {
        self.events.abort();
    }
}

impl SparkplugSink {
    pub fn new(target: &SparkplugTarget, cx: &UplinkContext) -> Self {
        let (node, events) = Node::start(target, cx);
        SparkplugSink { node, events, target: target.clone(), last: Mutex::new(HashMap::new()) }
    }

    /// Whether report by exception drops `p` (and remembers what was published).
    fn unchanged(&self, last: &mut HashMap<String, (Reading, Quality)>, p: &Point) -> bool {
        let band = self.target.deadbands.get(&p.tag).copied().unwrap_or(self.target.deadband);
        let same = match last.get(&p.tag) {
            Some((prev, q)) if *q == p.quality => match (prev, &p.reading) {
                (Reading::Float(a), Reading::Float(b)) => (a - b).abs() <= band,
                (Reading::Int(a), Reading::Int(b)) => (*a as f64 - *b as f64).abs() <= band,
                (Reading::UInt(a), Reading::UInt(b)) => (*a as f64 - *b as f64).abs() <= band,
                (a, b) => a == b,
            },
            _ => false,
        };
        if !same {
            last.insert(p.tag.clone(), (p.reading.clone(), p.quality));
        }
        same
    }
}

/// A sample's value as a reading; `None` when a text value's text is missing from the store.
fn reading(value: Value, quality: Quality, batch: &Batch) -> Option<Reading> {
    if matches!(quality, Quality::Bad(_)) {
        return Some(Reading::Null);
    }
    Some(match value {
        Value::Bool(b) => Reading::Bool(b),
        Value::Int(i) => Reading::Int(i),
        Value::UInt(u) => Reading::UInt(u),
        Value::Float(f) => Reading::Float(f),
        Value::Text(id) => Reading::Text(batch.texts.get(&id.0)?.clone()),
    })
}

impl Sink for SparkplugSink {
    type Item = Message;
    const QUARANTINE_EXT: &'static str = "txt";

    fn encode(&self, batch: &Batch, replay: Replay, out: &mut Vec<Encoded<Message>>) -> Unencodable {
        let mut skipped = Unencodable::default();
        let historical = replay == Replay::Backlog;
        let rbe = self.target.report_by_exception && !historical;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        // Per device, in the order devices first appear: the message being filled and its sample count.
        let mut open: Vec<(String, Vec<Point>, u32)> = Vec::new();
        for s in &batch.samples {
            let Some((device, tag)) = batch.dict.tags.get(s.tag.0 as usize) else {
                skipped.add(|| format!("tag id {} is not in the segment's dictionary", s.tag.0));
                continue;
            };
            let Some(reading) = reading(s.value, s.quality, batch) else {
                skipped.add(|| format!("tag {tag}: its text value is missing from the store"));
                continue;
            };
            let ts_ms = u64::try_from(s.ts.0 / 1_000_000).unwrap_or(0);
            let p = Point { tag: tag.clone(), ts_ms, reading, quality: s.quality };
            let at = match open.iter().position(|(d, _, _)| d == device) {
                Some(i) => i,
                None => {
                    open.push((device.clone(), Vec::new(), 0));
                    open.len() - 1
                }
            };
            let (_, points, samples) = &mut open[at];
            *samples += 1;
            if rbe && self.unchanged(&mut last, &p) {
                continue;
            }
            points.push(p);
            if points.len() >= self.target.max_metrics {
                let (device, points, samples) = open.swap_remove(at);
                out.push(message(device, points, samples, historical));
            }
        }
        for (device, points, samples) in open {
            out.push(message(device, points, samples, historical));
        }
        skipped
    }

    fn deliver<'a>(&'a self, items: &'a [Encoded<Message>]) -> BoxFuture<'a, Delivery> {
        Box::pin(self.node.deliver(items))
    }

    fn describe(&self, m: &Message) -> String {
        let points: Vec<String> =
            m.points.iter().map(|p| format!("{}={:?}@{}", p.tag, p.reading, p.ts_ms)).collect();
        format!("DDATA {}: {}", m.device, points.join(" "))
    }

    fn peer(&self) -> String {
        format!("{} (spBv1.0/{}/+/{})", self.target.link.broker(), self.target.group, self.target.node)
    }
}

fn message(device: String, points: Vec<Point>, samples: u32, historical: bool) -> Encoded<Message> {
    Encoded { item: Message { device, points, historical, acked: AtomicBool::new(false) }, samples }
}

impl KindConfig for SparkplugTarget {
    fn kind(&self) -> &'static str {
        "sparkplug_b"
    }

    fn peer(&self) -> String {
        format!("{} as {}/{}", self.link.broker(), self.group, self.node)
    }

    fn start(&self, cx: UplinkContext) -> JoinHandle<Result<(), String>> {
        let sink = SparkplugSink::new(self, &cx);
        task::spawn(cx, Ok(sink))
    }
}

impl Message {
    fn is_acked(&self) -> bool {
        self.acked.load(Relaxed)
    }
}
