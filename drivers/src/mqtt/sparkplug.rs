//! Sparkplug B from another edge node as samples, sans-IO: births teach each metric's alias and
//! datatype (DDATA by alias carries neither), data becomes samples by metric name, deaths take the
//! node's or a device's tags Bad (Sparkplug 3.0 ch. 5, host application behaviour).

use std::collections::HashMap;

use protocols::sparkplug::{self, DataType, MessageType, Reading, Topic};
use protocols::{Quality, Reason, Sample, TagId, TextPool, Timestamp, Value};

/// What one message meant, for the driver's health and counters.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Samples for the node (`None`) or a device; metrics that had no birth to name them.
    Data { device: Option<String>, samples: usize, unnamed: usize },
    /// The node (`None`: every device of it) or one device went offline.
    Death { device: Option<String> },
    /// A message this reader takes no samples from (commands, STATE).
    Other,
}

/// The births of one edge node: per device (`None`: the node), alias to (name, datatype).
#[derive(Debug, Default)]
pub struct SparkplugReader {
    births: HashMap<Option<String>, HashMap<u64, (String, DataType)>>,
}

impl SparkplugReader {
    /// Reads one message. `tag` names the tag of a (device, metric name) pair, if one is declared.
    /// `Err` when the payload is not a Sparkplug B payload.
    pub fn on_message(
        &mut self,
        topic: &str,
        payload: &[u8],
        tag: &dyn Fn(Option<&str>, &str) -> Option<TagId>,
        arrival: Timestamp,
        texts: &TextPool,
        out: &mut Vec<Sample>,
    ) -> Result<Event, String> {
        let Some(Topic::Node { kind, device, .. }) = Topic::parse(topic) else { return Ok(Event::Other) };
        let key = device.map(str::to_owned);
        let p = match kind {
            MessageType::NCmd | MessageType::DCmd => return Ok(Event::Other),
            // An NDEATH carries only bdSeq; its meaning is in the topic.
            MessageType::NDeath => {
                self.births.clear();
                return Ok(Event::Death { device: None });
            }
            _ => sparkplug::decode(payload).map_err(|e| format!("not a Sparkplug B payload ({e})"))?,
        };
        if kind == MessageType::DDeath {
            self.births.remove(&key);
            return Ok(Event::Death { device: key });
        }
        let birth = matches!(kind, MessageType::NBirth | MessageType::DBirth);
        if kind == MessageType::NBirth {
            self.births.clear();
        }
        let aliases = self.births.entry(key.clone()).or_default();
        if birth {
            aliases.clear();
        }
        let sent = p.timestamp.map_or(arrival, ms);
        let (mut samples, mut unnamed) = (0, 0);
        for m in &p.metrics {
            let known = m.alias.and_then(|a| aliases.get(&a)).cloned();
            let Some(name) = m.name.clone().or_else(|| known.as_ref().map(|(n, _)| n.clone())) else {
                unnamed += 1;
                continue;
            };
            let datatype = m.datatype.map(DataType::from_code).or(known.map(|(_, t)| t));
            if birth && let (Some(a), Some(t)) = (m.alias, datatype) {
                aliases.insert(a, (name.clone(), t));
            }
            let Some(id) = tag(device, &name) else { continue };
            let ts = m.timestamp.map_or(sent, ms);
            let quality = match sparkplug::quality_of(m) {
                Some(sparkplug::QUALITY_BAD) => Quality::Bad(Reason::SensorFault),
                Some(sparkplug::QUALITY_UNCERTAIN) => Quality::Uncertain(Reason::SensorFault),
                _ => Quality::Good,
            };
            let value = match Reading::of(m, datatype) {
                Ok(Reading::Bool(b)) => Value::Bool(b),
                Ok(Reading::Int(i)) => Value::Int(i),
                Ok(Reading::UInt(u)) => Value::UInt(u),
                Ok(Reading::Float(f)) => Value::Float(f),
                Ok(Reading::Text(s)) => Value::Text(texts.intern(&s)),
                Ok(Reading::Null) => {
                    out.push(Sample::bad(id, ts, Reason::SensorFault));
                    samples += 1;
                    continue;
                }
                Err(_) => {
                    out.push(Sample::bad(id, ts, Reason::DecodeError));
                    samples += 1;
                    continue;
                }
            };
            out.push(Sample { tag: id, ts, value, quality });
            samples += 1;
        }
        Ok(Event::Data { device: key, samples, unnamed })
    }
}

fn ms(t: u64) -> Timestamp {
    Timestamp(i64::try_from(t).unwrap_or(i64::MAX / 1_000_000).saturating_mul(1_000_000))
}
