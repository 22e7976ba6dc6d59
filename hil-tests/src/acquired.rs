//! What the agent acquired, read back from its durable store once it stopped: every sample, per tag.
//! The store takes every sample before any uplink sends it, so it is the count a historian must match.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::agent::{Agent, eventually};
use crate::historians::VictoriaMetrics;

use edge_agent::store::{LogReader, Store, StoreConfig};
use protocols::{Sample, Value};

/// Every sample in the store under `data_dir`, per (device, tag), in the order acquired. Panics if the store
/// already deleted a segment (its count would be short): give such a run a larger `segment_bytes`.
pub fn by_tag(data_dir: &Path) -> BTreeMap<(String, String), Vec<Sample>> {
    let store = Store::open(&data_dir.join("store"), &StoreConfig::default()).expect("open the store");
    let shared = store.shared();
    assert_eq!(
        shared.oldest(),
        0,
        "the store deleted its oldest segment: the count of what was acquired would be short; \
         raise [store] segment_bytes for a run this long"
    );
    let mut reader = LogReader::new(shared.clone(), 0);
    let mut out: BTreeMap<(String, String), Vec<Sample>> = BTreeMap::new();
    while let Some(batch) = reader.read(10_000).expect("read the store") {
        for s in &batch.samples {
            out.entry(batch.dict.tags[s.tag.0 as usize].clone()).or_default().push(*s);
        }
    }
    assert_eq!(
        reader.losses.corrupt_samples + reader.losses.dropped,
        0,
        "the store lost samples: {:?}",
        reader.losses
    );
    out
}

/// Sends what a stopped agent had acquired but not yet sent (its last batch or so: a stop does not wait
/// for it): runs the agent on `config`, the same data dir and `uplinks` with no devices, until each
/// uplink acknowledged the whole store, then stops it. After this the store is what was acquired and
/// every uplink has had all of it.
pub fn deliver_the_rest(config: &Path, uplinks: &[&str], within: Duration) {
    let agent = Agent::start(config);
    let head = agent.metric("edge_store_head_seq");
    for u in uplinks {
        let acked = || agent.metric(&format!(r#"edge_uplink_acked_seq{{uplink="{u}"}}"#));
        let done = eventually(within, || acked() >= head);
        assert!(
            done,
            "uplink {u} acknowledged {} of {head} within {within:?}: {}",
            acked(),
            agent.get("/healthz").1
        );
    }
    agent.stop();
}

/// The InfluxDB field a sample's value is written as (edge_agent::uplink's line protocol), or None when
/// its point has no number: a Bad sample's NaN, or a Good NaN. A historian that keeps numbers only
/// (VictoriaMetrics) holds exactly the samples with a field.
pub fn numeric_field(s: &Sample) -> Option<&'static str> {
    match s.value {
        Value::Float(f) if f.is_finite() => Some("value"),
        Value::Float(_) | Value::Text(_) => None,
        Value::Int(_) => Some("value_int"),
        Value::UInt(u) => Some(if i64::try_from(u).is_ok() { "value_int" } else { "value" }),
        Value::Bool(_) => Some("value_bool"),
    }
}

/// One series as the historian holds it against what the agent acquired with a number, by timestamp
/// (ms, VictoriaMetrics' precision).
#[derive(Debug, Default)]
pub struct Tally {
    pub acquired: usize,
    /// Distinct timestamps held: what the historian's dedup keeps.
    pub held: usize,
    /// Points stored more than once (at-least-once delivery resends), before dedup.
    pub repeats: usize,
    /// A few acquired timestamps the historian lacks, and held ones never acquired.
    pub missing: Vec<i64>,
    pub extra: Vec<i64>,
}

/// [`Tally`] of `device`'s `tag` in `vm`, against `samples` (the tag's, from [`by_tag`]).
/// VictoriaMetrics makes what it took searchable over a few seconds, even after a flush: asks again
/// for up to 30 s while samples are missing.
pub fn tally(vm: &VictoriaMetrics, device: &str, tag: &str, samples: &[Sample]) -> Tally {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = tally_once(vm, device, tag, samples);
        if t.missing.is_empty() || Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn tally_once(vm: &VictoriaMetrics, device: &str, tag: &str, samples: &[Sample]) -> Tally {
    let mut acquired = BTreeSet::new();
    let mut fields = BTreeSet::new();
    for s in samples {
        if let Some(field) = numeric_field(s) {
            acquired.insert(s.ts.as_nanos() / 1_000_000);
            fields.insert(field);
        }
    }
    let mut raw = 0;
    let mut held = BTreeSet::new();
    for field in fields {
        let points = vm.points(&format!("{device}_{field}"), tag);
        raw += points.len();
        held.extend(points.into_iter().map(|(t, _)| t));
    }
    Tally {
        acquired: acquired.len(),
        held: held.len(),
        repeats: raw - held.len(),
        missing: acquired.difference(&held).take(5).copied().collect(),
        extra: held.difference(&acquired).take(5).copied().collect(),
    }
}
