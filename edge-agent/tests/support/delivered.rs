//! What reached the store and what each uplink's peer holds, as one shape: (tag, ms) → values, so one
//! check serves every uplink kind. The store is the durability boundary: a sample counts as acquired
//! once it is there, and an uplink owes every sample before its saved position.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use edge_agent::store::{LogReader, Store, StoreConfig};
use hil_tests::historians::VictoriaMetrics;
use hil_tests::mosquitto::Received;
use protocols::sparkplug::{self, DataType, Reading};
use protocols::{Quality, Value};
use serde_json::Value as Json;

/// A tag and a timestamp in ms since the epoch.
pub type Key = (String, i64);

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num(f64),
    Text(String),
}

impl Val {
    /// Equal, allowing for a historian that keeps fewer digits of a float: VictoriaMetrics gave back
    /// 0.408203642995 for 0.40820364299540823 (12 significant digits; half a unit in the last is 1.2e-12
    /// of the value there).
    fn matches(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::Num(a), Val::Num(b)) => a == b || (a - b).abs() <= 1e-11 * a.abs().max(b.abs()),
            (a, b) => a == b,
        }
    }
}

/// What the store held: key → [(seq, value)] of every Good sample whose (device, tag) `keep` takes.
pub struct Stored<F> {
    pub samples: BTreeMap<Key, Vec<(u64, Val)>>,
    keep: F,
    next: u64,
}

impl<F: Fn(&str, &str) -> bool> Stored<F> {
    pub fn new(keep: F) -> Self {
        Stored { samples: BTreeMap::new(), keep, next: 0 }
    }

    /// Reads what was appended since the last read. Segments every uplink has passed are deleted while
    /// the agent runs, so this is called after each run, before they can go.
    pub fn read(&mut self, data: &Path) {
        let store = Store::open(&data.join("store"), &StoreConfig::default()).unwrap();
        let shared = store.shared();
        assert!(
            shared.oldest() <= self.next,
            "samples from {} on were deleted before the test read them",
            self.next
        );
        let mut reader = LogReader::new(shared.clone(), self.next);
        while let Some(batch) = reader.read(10_000).unwrap() {
            for (i, s) in batch.samples.iter().enumerate() {
                let (device, tag) = &batch.dict.tags[s.tag.0 as usize];
                if s.quality != Quality::Good || !(self.keep)(device, tag) {
                    continue;
                }
                let val = match s.value {
                    Value::Text(id) => Val::Text(batch.texts[&id.0].clone()),
                    v => Val::Num(v.as_f64().unwrap()),
                };
                let seq = batch.first_seq + i as u64;
                self.samples.entry((tag.clone(), s.ts.0 / 1_000_000)).or_default().push((seq, val));
            }
        }
        assert_eq!(reader.losses.corrupt_records, 0, "the store itself holds a damaged record");
        self.next = reader.position();
    }
}

/// What an uplink delivered: key → every copy's value.
pub type Got = BTreeMap<Key, Vec<Val>>;

/// The points of `tags` (device, tag) in VictoriaMetrics, floats (`value`) and counters (`value_int`).
pub fn from_victoria(vm: &VictoriaMetrics, tags: &[(String, String)]) -> Got {
    let mut got = Got::new();
    for (device, tag) in tags {
        for field in ["value", "value_int"] {
            for (ms, v) in vm.points(&format!("{device}_{field}"), tag) {
                got.entry((tag.clone(), ms)).or_default().push(Val::Num(v));
            }
        }
    }
    got
}

/// The `per = "scan"` JSON messages: each must parse and carry `ts`, `device` and `values`.
pub fn from_json(messages: &[Received], prefix: &str) -> Got {
    let mut got = Got::new();
    for r in messages.iter().filter(|r| r.topic.starts_with(prefix)) {
        let body: Json = serde_json::from_slice(&r.payload).unwrap_or_else(|e| {
            panic!("{}: not JSON ({e}): {:?}", r.topic, String::from_utf8_lossy(&r.payload))
        });
        let ts = body["ts"].as_i64().unwrap_or_else(|| panic!("{}: no ts: {body}", r.topic));
        assert!(body["device"].is_string(), "{}: no device: {body}", r.topic);
        let values = body["values"].as_object().unwrap_or_else(|| panic!("{}: no values: {body}", r.topic));
        for (tag, v) in values {
            let v = match v {
                Json::String(s) => Val::Text(s.clone()),
                v => Val::Num(v.as_f64().unwrap_or_else(|| panic!("{}: {tag} = {v}", r.topic))),
            };
            got.entry((tag.clone(), ts)).or_default().push(v);
        }
    }
    got
}

/// The DDATA metrics of Sparkplug edge node `node` (`spBv1.0/<group>/.../<node>`), named through the
/// aliases of the births before them; every message of the node must decode.
pub fn from_sparkplug(messages: &[Received], group: &str, node: &str) -> Got {
    let mut names: BTreeMap<u64, (String, Option<DataType>)> = BTreeMap::new();
    let mut got = Got::new();
    let of_node = |kind: &str, t: &str| {
        t.strip_prefix(&format!("spBv1.0/{group}/{kind}/{node}"))
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    };
    for r in messages.iter().filter(|r| r.topic.starts_with(&format!("spBv1.0/{group}/"))) {
        let p = sparkplug::decode(&r.payload).unwrap_or_else(|e| panic!("{}: not Sparkplug B: {e}", r.topic));
        if of_node("NBIRTH", &r.topic) {
            names.clear();
        }
        if of_node("NBIRTH", &r.topic) || of_node("DBIRTH", &r.topic) {
            for m in &p.metrics {
                if let (Some(name), Some(alias)) = (&m.name, m.alias) {
                    names.insert(alias, (name.clone(), m.datatype.map(DataType::from_code)));
                }
            }
        }
        if !of_node("DDATA", &r.topic) {
            continue;
        }
        for m in &p.metrics {
            let alias = m.alias.unwrap_or_else(|| panic!("{}: a metric without alias", r.topic));
            let (name, birth) =
                names.get(&alias).unwrap_or_else(|| panic!("{}: alias {alias} never born", r.topic));
            let reading = Reading::of(m, *birth).unwrap_or_else(|e| panic!("{}: {name}: {e}", r.topic));
            let v = match reading {
                Reading::Float(f) => Val::Num(f),
                Reading::Int(i) => Val::Num(i as f64),
                Reading::UInt(u) => Val::Num(u as f64),
                Reading::Bool(b) => Val::Num(f64::from(u8::from(b))),
                Reading::Text(s) => Val::Text(s),
                Reading::Null => continue,
            };
            let ts = m.timestamp.unwrap_or_else(|| panic!("{}: {name} has no timestamp", r.topic));
            got.entry((name.clone(), ts as i64)).or_default().push(v);
        }
    }
    got
}

/// The HJ 212 records of the platform log (`hj212_platform.py`), each frame's length, CRC and CRLF
/// checked, keyed as the store's `<stack>.hj212.<record>` tag at the record's `DataTime` (platform
/// time, `utc_offset` hours east) and holding the CP after `DataTime`, as the store's text is.
pub fn from_hj212(frames: &[Json], stacks: &BTreeMap<&str, &str>, utc_offset: i8) -> Got {
    let records = [("2011", "rtd"), ("2051", "minute"), ("2061", "hour"), ("2031", "day")];
    let offset = jiff::tz::offset(utc_offset);
    let mut got = Got::new();
    for f in frames {
        for check in ["len_ok", "crc_ok", "crlf_ok"] {
            assert_eq!(f[check], true, "a corrupt HJ 212 frame ({check}): {f}");
        }
        let cn = f["fields"]["CN"].as_str().unwrap_or_default();
        let Some((_, record)) = records.iter().find(|(c, _)| *c == cn) else { continue };
        let mn = f["fields"]["MN"].as_str().unwrap();
        let stack = stacks.get(mn).unwrap_or_else(|| panic!("a record of unknown MN {mn}: {f}"));
        let segment = f["segment"].as_str().unwrap();
        let cp = segment.split_once("CP=&&").and_then(|(_, c)| c.strip_suffix("&&")).expect("a closed CP");
        let (time, body) =
            cp.strip_prefix("DataTime=").and_then(|c| c.split_once(';')).expect("DataTime first");
        let local =
            jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", time).expect("DataTime is yyyyMMddHHmmss");
        let ms = offset.to_timestamp(local).unwrap().as_millisecond();
        got.entry((format!("{stack}.hj212.{record}"), ms)).or_default().push(Val::Text(body.to_owned()));
    }
    got
}

/// At one kill: the store's head and the uplink's saved position. Everything in between may have
/// reached the peer without the position saying so (sent, or acknowledged within the last second of
/// cursor saves), so a restart may send it again.
#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    pub saved: u64,
    pub head: u64,
}

#[derive(Debug)]
pub struct Verdict {
    /// Keys (or slots) the store held before the uplink's final position.
    pub owed: usize,
    /// Distinct samples delivered.
    pub delivered: usize,
    /// Copies beyond the store's own, each of a sample past a saved position at some kill.
    pub duplicates: usize,
    /// The bound on duplicates: the samples past the saved position, summed over the kills.
    pub in_flight: u64,
}

/// Asserts `got` holds a sample of every `group` (a key, or an interval's slot of keys) that the
/// store held before `owed` (the uplink's final saved position), each with its stored value; nothing
/// of those tags the store does not hold; and repeats only of samples in flight at a kill.
pub fn verify(
    uplink: &str,
    stored: &BTreeMap<Key, Vec<(u64, Val)>>,
    owed: u64,
    got: &Got,
    kills: &[InFlight],
    group: impl Fn(&Key) -> Key,
) -> Verdict {
    let sent: std::collections::BTreeSet<Key> = got.keys().map(&group).collect();
    let mut missing: Vec<Key> = stored
        .iter()
        .filter(|(k, c)| c.iter().any(|(s, _)| *s < owed) && !sent.contains(&group(k)))
        .map(|(k, _)| group(k))
        .collect();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "{uplink}: {} samples in the store never delivered, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let tags: std::collections::BTreeSet<&str> = stored.keys().map(|(t, _)| t.as_str()).collect();
    let mut duplicates = 0;
    for (key, copies) in got.iter().filter(|((t, _), _)| tags.contains(t.as_str())) {
        let held = stored
            .get(key)
            .unwrap_or_else(|| panic!("{uplink}: delivered {key:?}, which the store never held"));
        for v in copies {
            assert!(
                held.iter().any(|(_, h)| h.matches(v)),
                "{uplink}: {key:?} delivered as {v:?}, stored as {held:?}"
            );
        }
        let extra = copies.len().saturating_sub(held.len());
        if extra > 0 {
            let windows =
                kills.iter().filter(|k| held.iter().any(|(s, _)| (k.saved..k.head).contains(s))).count();
            // One copy more than the kills explain: a write whose answer a busy machine's timeout
            // lost is retried within a run (delivery is at least once, not only across kills).
            assert!(
                extra <= windows + 1,
                "{uplink}: {key:?} came {} times, but was in flight at {windows} kills (stored at {:?}; kills {kills:?})",
                copies.len(),
                held.iter().map(|(s, _)| s).collect::<Vec<_>>()
            );
            duplicates += extra;
        }
    }
    let in_flight = kills.iter().map(|k| k.head - k.saved).sum();
    assert!(duplicates as u64 <= in_flight, "{uplink}: {duplicates} duplicates, {in_flight} in flight");
    let delivered = got.keys().filter(|k| stored.contains_key(*k)).count();
    let owed = stored
        .iter()
        .filter(|(_, c)| c.iter().any(|(s, _)| *s < owed))
        .map(|(k, _)| group(k))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    Verdict { owed, delivered, duplicates, in_flight }
}

/// Whether `got` holds every stored sample before `owed`: the peer has caught up.
pub fn covers(
    stored: &BTreeMap<Key, Vec<(u64, Val)>>,
    owed: u64,
    got: &Got,
    group: impl Fn(&Key) -> Key,
) -> bool {
    let sent: std::collections::BTreeSet<Key> = got.keys().map(&group).collect();
    stored.iter().all(|(k, c)| c.iter().all(|(s, _)| *s >= owed) || sent.contains(&group(k)))
}
