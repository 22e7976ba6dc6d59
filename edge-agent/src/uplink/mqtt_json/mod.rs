//! Plain JSON over MQTT as an uplink kind (`mqtt_json`): one message per sample, or per scan (the
//! samples of one device at one timestamp), on a topic made from a template, QoS 1 by default: a
//! batch leaves the store once every PUBACK came back.
//!
//! Per sample: `{"ts": <ms>, "value": 80.5, "quality": "good"}` (`"reason"` when not good, no
//! `value` when there is none). Per scan: `{"ts": <ms>, "device": "锅炉一号", "values": {"<tag>": ..},
//! "quality": {"<tag>": "bad"}}` (only the tags that are not good). A Good sample JSON cannot carry
//! (NaN, infinity, a text lost from the store) is counted unencodable and not sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use drivers::mqtt::LinkSettings;
use drivers::mqtt::session::{self, Session, SessionHandle};
use protocols::{Quality, Value};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};
use tokio::task::JoinHandle;
use toml::Spanned;
use toml::de::DeValue;

use super::registry::KindConfig;
use super::sink::{BoxFuture, Delivery, Encoded, Replay, Sink, Unencodable};
use super::sparkplug::{qos, read_link};
use super::task::{self, UplinkContext};
use crate::config::ConfigErrors;
use crate::store::Batch;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonToml {
    topic: Spanned<String>,
    #[serde(default)]
    per: Per,
    qos: Option<Spanned<u8>>,
    #[serde(default)]
    retain: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    #[default]
    Sample,
    Scan,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonTarget {
    pub link: LinkSettings,
    /// With `{site}`, `{gateway}`, `{device}` and (per sample) `{tag}`.
    pub topic: String,
    pub per: Per,
    pub qos: u8,
    pub retain: bool,
}

/// `type = "mqtt_json"`.
pub fn parse(
    table: Spanned<DeValue<'_>>,
    _kind: &Spanned<String>,
    name: &str,
    errors: &mut ConfigErrors,
) -> Option<Arc<dyn KindConfig>> {
    let before = errors.len();
    // A broker closes the older of two connections with one client id: the host name keeps gateways
    // built from one template apart, the uplink's name two uplinks of one gateway.
    let default_id = |_: &JsonToml| format!("edge-agent-json-{}-{name}", crate::config::default_gateway());
    let (t, link) = read_link(table, default_id, errors)?;
    let topic = t.topic.get_ref();
    if topic.is_empty() || topic.contains(['+', '#']) {
        errors.push(
            Some(t.topic.span()),
            "topic: a topic to publish to has no `+` or `#`; use {site}, {gateway}, {device}, {tag}",
        );
    }
    if t.per == Per::Scan && topic.contains("{tag}") {
        errors.push(
            Some(t.topic.span()),
            "topic: one message per scan carries many tags; leave `{tag}` out, or write per = \"sample\"",
        );
    }
    let qos = qos(t.qos, errors);
    (errors.len() == before).then(|| {
        Arc::new(JsonTarget { link, topic: topic.clone(), per: t.per, qos, retain: t.retain })
            as Arc<dyn KindConfig>
    })
}

/// One message and whether the broker has it (a retried batch skips what was acknowledged).
#[derive(Debug)]
pub struct JsonMessage {
    pub topic: String,
    pub payload: String,
    acked: AtomicBool,
}

pub struct JsonSink {
    t: JsonTarget,
    handle: SessionHandle,
    _session: Session,
}

fn fill(template: &str, dict: &crate::store::Dictionary, device: &str, tag: &str) -> String {
    template
        .replace("{site}", &dict.site)
        .replace("{gateway}", &dict.gateway)
        .replace("{device}", device)
        .replace("{tag}", tag)
}

fn value(v: Value, batch: &Batch) -> Json {
    match v {
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        // JSON has no NaN: a value it cannot carry is left out.
        Value::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        Value::Text(id) => batch.texts.get(&id.0).map_or(Json::Null, |s| json!(s)),
    }
}

impl Sink for JsonSink {
    type Item = JsonMessage;
    const QUARANTINE_EXT: &'static str = "json";

    fn encode(&self, batch: &Batch, _: Replay, out: &mut Vec<Encoded<JsonMessage>>) -> Unencodable {
        let mut skipped = Unencodable::default();
        // Per scan: (device, ts) → the message being filled and its sample count.
        let mut scans: Vec<Scan> = Vec::new();
        for s in &batch.samples {
            let Some((device, tag)) = batch.dict.tags.get(s.tag.0 as usize) else {
                skipped.add(|| format!("tag id {} is not in the segment's dictionary", s.tag.0));
                continue;
            };
            let v = if matches!(s.quality, Quality::Bad(_)) { Json::Null } else { value(s.value, batch) };
            // A Good sample without a value would tell the reader nothing (InfluxDB's sink skips it too).
            if v.is_null() && s.quality.is_good() {
                skipped.add(|| match s.value {
                    Value::Float(f) => format!("tag {tag}: the Good value {f} has no JSON form"),
                    _ => format!("tag {tag}: its text value is missing from the store"),
                });
                continue;
            }
            let ts = s.ts.0 / 1_000_000;
            match self.t.per {
                Per::Sample => {
                    let mut m = Map::new();
                    m.insert("ts".into(), json!(ts));
                    if !v.is_null() {
                        m.insert("value".into(), v);
                    }
                    m.insert("quality".into(), json!(s.quality.label()));
                    if let Some(r) = s.quality.reason() {
                        m.insert("reason".into(), json!(r.label()));
                    }
                    let topic = fill(&self.t.topic, &batch.dict, device, tag);
                    out.push(Encoded { item: msg(topic, Json::Object(m)), samples: 1 });
                }
                Per::Scan => {
                    let key = (device.clone(), ts);
                    let at = scans.iter().position(|(k, ..)| *k == key).unwrap_or_else(|| {
                        scans.push((key, Map::new(), Map::new(), 0));
                        scans.len() - 1
                    });
                    let (_, values, quality, n) = &mut scans[at];
                    *n += 1;
                    if !v.is_null() {
                        values.insert(tag.clone(), v);
                    }
                    if !s.quality.is_good() {
                        quality.insert(tag.clone(), json!(s.quality.label()));
                    }
                }
            }
        }
        for ((device, ts), values, quality, samples) in scans {
            let body = json!({"ts": ts, "device": device, "values": values, "quality": quality});
            let topic = fill(&self.t.topic, &batch.dict, &device, "");
            out.push(Encoded { item: msg(topic, body), samples });
        }
        skipped
    }

    fn deliver<'a>(&'a self, items: &'a [Encoded<JsonMessage>]) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let waiting: Vec<_> = items
                .iter()
                .filter(|e| !e.item.acked.load(Relaxed))
                .map(|e| {
                    (
                        e,
                        self.handle.publish(
                            &e.item.topic,
                            e.item.payload.clone().into_bytes(),
                            self.t.qos,
                            self.t.retain,
                        ),
                    )
                })
                .collect();
            let mut answer = Delivery::Acknowledged;
            for (e, sent) in waiting {
                match sent.await {
                    Ok(()) => e.item.acked.store(true, Relaxed),
                    Err(session::PublishError::Refused(r)) => answer = Delivery::Refused { reason: r },
                    Err(err) if answer == Delivery::Acknowledged => {
                        answer = Delivery::Retry {
                            reason: format!("{}: {err}", self.t.link.broker()),
                            after: None,
                        }
                    }
                    Err(_) => {}
                }
            }
            answer
        })
    }

    fn describe(&self, m: &JsonMessage) -> String {
        format!("{} {}", m.topic, m.payload)
    }

    fn peer(&self) -> String {
        self.t.link.broker()
    }
}

/// One scan of one device being filled: (device, ms), its values, its qualities, its samples.
type Scan = ((String, i64), Map<String, Json>, Map<String, Json>, u32);

fn msg(topic: String, body: Json) -> JsonMessage {
    JsonMessage { topic, payload: body.to_string(), acked: AtomicBool::new(false) }
}

impl KindConfig for JsonTarget {
    fn kind(&self) -> &'static str {
        "mqtt_json"
    }

    fn peer(&self) -> String {
        format!("{} {}", self.link.broker(), self.topic)
    }

    fn start(&self, cx: UplinkContext) -> JoinHandle<Result<(), String>> {
        let session = session::start(&self.link, Vec::new(), Box::new(|| None));
        let sink = JsonSink { t: self.clone(), handle: session.handle.clone(), _session: session };
        task::spawn(cx, Ok(sink))
    }
}
