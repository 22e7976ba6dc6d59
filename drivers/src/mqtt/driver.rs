//! The `[[mqtt.broker]]` task: one connection, its subscriptions, messages turned into samples. A
//! device is up while messages come; it goes down (its tags Bad) when nothing arrived within its
//! `stale` time (Bad: stale), when its Sparkplug node or device died, or when the broker is lost (Bad:
//! comms lost). A malformed message is counted on its device (`decode`) and logged with its topic at
//! most once a minute; it never stops the driver.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use protocols::sparkplug::{self, MessageType, Reading, Topic};
use protocols::{Reason, Sample, TagId};
use tokio::time::Instant;

use super::config::{Field, Format, Level, MqttBrokerConfig, Subscription};
use super::link::LinkSettings;
use super::session::{self, SessionHandle};
use super::sparkplug::{Event, SparkplugReader};
use super::{LinkEvent, json};
use crate::context::DriverContext;
use crate::telemetry::{DeviceStats, ErrorKind};
use crate::write::WriteError;
use crate::{BoxFuture, Driver, DriverError};

/// A node whose data cannot be named (no birth seen) is asked for a rebirth at most this often.
const REBIRTH_EVERY: Duration = Duration::from_secs(30);

struct Device {
    name: String,
    tags: Vec<TagId>,
    stale: Duration,
    last: Instant,
    /// Its tags were given Bad samples for the present outage or silence.
    down: bool,
}

struct Sub {
    sub: Subscription,
    /// Per device of the subscription: its index in `devices`, its tags with their fields.
    devices: Vec<(usize, Vec<(TagId, Field)>)>,
    /// Sparkplug: (device id or none for the node, metric name) to tag.
    metrics: HashMap<(Option<String>, String), TagId>,
    reader: SparkplugReader,
    rebirth_asked: Option<Instant>,
}

pub struct MqttDriver {
    name: String,
    link: LinkSettings,
    subs: Vec<Sub>,
    devices: Vec<Device>,
}

impl MqttDriver {
    pub fn new(cfg: &MqttBrokerConfig, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Self, String> {
        let id = |t: &str| tag_id(t).ok_or_else(|| format!("tag {t} is not in the tag registry"));
        let now = Instant::now();
        let mut devices: Vec<Device> = Vec::new();
        let mut subs = Vec::new();
        for s in &cfg.subscriptions {
            let mut plan = Sub {
                sub: s.clone(),
                devices: Vec::new(),
                metrics: HashMap::new(),
                reader: SparkplugReader::default(),
                rebirth_asked: None,
            };
            for d in &s.devices {
                let name = d.name.get_ref();
                let di = match devices.iter().position(|x| &x.name == name) {
                    Some(i) => i,
                    None => {
                        devices.push(Device {
                            name: name.clone(),
                            tags: Vec::new(),
                            stale: s.stale,
                            last: now,
                            down: false,
                        });
                        devices.len() - 1
                    }
                };
                devices[di].stale = devices[di].stale.min(s.stale);
                let mut tags = Vec::new();
                for (tag, field) in &d.tags {
                    let t = id(tag.get_ref())?;
                    devices[di].tags.push(t);
                    if let Field::Metric(m) = field {
                        let key = (if s.node_level { None } else { Some(name.clone()) }, m.clone());
                        plan.metrics.insert(key, t);
                    }
                    tags.push((t, field.clone()));
                }
                plan.devices.push((di, tags));
            }
            subs.push(plan);
        }
        Ok(MqttDriver { name: cfg.name.get_ref().clone(), link: cfg.link.clone(), subs, devices })
    }
}

impl Driver for MqttDriver {
    fn run(self: Box<Self>, cx: DriverContext) -> BoxFuture<'static, Result<(), DriverError>> {
        Box::pin(self.run_loop(cx))
    }
}

impl MqttDriver {
    async fn run_loop(mut self, mut cx: DriverContext) -> Result<(), DriverError> {
        let stats: Vec<Arc<DeviceStats>> = self.devices.iter().map(|d| cx.device(&d.name)).collect();
        let mut filters: Vec<(String, u8)> = Vec::new();
        for s in &self.subs {
            if !filters.iter().any(|(f, _)| *f == s.sub.filter) {
                filters.push((s.sub.filter.clone(), s.sub.qos));
            }
        }
        let mut session = session::start(&self.link, filters, Box::new(|| None));
        let broker = self.link.broker();
        let mut shutdown = cx.shutdown.clone();
        let (mut writes_open, mut was_connected) = (true, false);
        let mut out = Vec::new();
        loop {
            let silent_since = self.devices.iter().filter(|d| !d.down).map(|d| d.last + d.stale).min();
            let wake = silent_since.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            out.clear();
            tokio::select! {
                biased;
                _ = shutdown.triggered() => {
                    session.handle.disconnect();
                    return Ok(());
                }
                req = cx.writes.recv(), if writes_open => match req {
                    // Nothing on a broker link is writable (the config declares no writable tag here).
                    Some(req) => {
                        let _ = req.reply.send(Err(WriteError::NotWritable { tag: format!("{:?}", req.tag) }));
                    }
                    None => writes_open = false,
                },
                event = session.events.recv() => match event {
                    None => return Err(DriverError::Setup { link: self.name.clone(), message: "the MQTT session ended".into() }),
                    Some(LinkEvent::Connected { session_present }) => {
                        if was_connected {
                            stats.iter().for_each(|s| { s.reconnects.fetch_add(1, Ordering::Relaxed); });
                        }
                        was_connected = true;
                        tracing::info!(link = %self.name, %broker, session_present, "connected to the broker");
                    }
                    Some(LinkEvent::Message { topic, payload }) => {
                        self.on_message(&topic, &payload, &cx, &stats, &session.handle, &mut out);
                    }
                    Some(LinkEvent::SubscribeRefused { filters }) => {
                        for s in &stats {
                            s.request_failed(ErrorKind::Link, &format!("{broker} refused {filters} subscription(s): check the broker's ACL for this client"));
                        }
                    }
                    Some(LinkEvent::Disconnected { reason, retry_in }) => {
                        let now = cx.clock.now();
                        for (d, s) in self.devices.iter_mut().zip(&stats) {
                            s.scan_failed(ErrorKind::Link, &format!("{broker}: {reason}; retrying in {retry_in:.1?}"));
                            if !d.down {
                                d.down = true;
                                out.extend(d.tags.iter().map(|&t| Sample::bad(t, now, Reason::CommsLost)));
                            }
                        }
                    }
                },
                _ = tokio::time::sleep_until(wake) => {
                    let (at, now) = (Instant::now(), cx.clock.now());
                    for (d, s) in self.devices.iter_mut().zip(&stats) {
                        if !d.down && d.last + d.stale <= at {
                            d.down = true;
                            s.scan_failed(ErrorKind::Timeout, &format!("no message within {:?}", d.stale));
                            out.extend(d.tags.iter().map(|&t| Sample::bad(t, now, Reason::Stale)));
                        }
                    }
                }
            }
            if !out.is_empty() && !cx.publisher.publish(&out).await {
                return Err(DriverError::RingClosed { link: self.name.clone() });
            }
        }
    }

    fn on_message(
        &mut self,
        topic: &str,
        payload: &[u8],
        cx: &DriverContext,
        stats: &[Arc<DeviceStats>],
        session: &SessionHandle,
        out: &mut Vec<Sample>,
    ) {
        let arrival = cx.clock.now();
        for s in &mut self.subs {
            let Some(captured) = json::match_topic(&s.sub.levels, topic) else { continue };
            match s.sub.format {
                Format::Json => {
                    let found =
                        s.devices.iter().find(|(di, _)| captured.is_none_or(|c| self.devices[*di].name == c));
                    let Some((di, tags)) = found else { continue };
                    let fields: Vec<(TagId, &Field)> = tags.iter().map(|(t, f)| (*t, f)).collect();
                    let before = out.len();
                    match json::decode(payload, &fields, s.sub.timestamp.as_ref(), arrival, &cx.texts, out) {
                        Ok(problems) => {
                            for p in problems {
                                stats[*di].request_failed(ErrorKind::Decode, &format!("topic {topic}: {p}"));
                            }
                            seen(&mut self.devices[*di], &stats[*di], out.len() - before);
                        }
                        Err(e) => {
                            stats[*di].request_failed(ErrorKind::Decode, &format!("topic {topic}: {e}"))
                        }
                    }
                }
                Format::Sparkplug => {
                    let metrics = &s.metrics;
                    let lookup = |d: Option<&str>, m: &str| {
                        metrics.get(&(d.map(str::to_owned), m.to_owned())).copied()
                    };
                    let before = out.len();
                    let event = s.reader.on_message(topic, payload, &lookup, arrival, &cx.texts, out);
                    let device_of = |id: &Option<String>| {
                        s.devices.iter().map(|(di, _)| *di).find(|&di| {
                            s.sub.node_level || id.as_deref() == Some(self.devices[di].name.as_str())
                        })
                    };
                    match event {
                        Ok(Event::Data { device, samples, unnamed }) => {
                            let Some(di) = device_of(&device) else { continue };
                            if unnamed > 0 {
                                stats[di].request_failed(ErrorKind::Decode, &format!("topic {topic}: {unnamed} metric(s) by alias with no birth seen; asking the node for a rebirth"));
                                ask_rebirth(s, session);
                            }
                            seen(&mut self.devices[di], &stats[di], samples);
                        }
                        Ok(Event::Death { device }) => {
                            let now = cx.clock.now();
                            for di in s.devices.iter().map(|(di, _)| *di) {
                                let d = &mut self.devices[di];
                                if device.is_some()
                                    && device.as_deref() != Some(d.name.as_str())
                                    && !s.sub.node_level
                                {
                                    continue;
                                }
                                stats[di].scan_failed(
                                    ErrorKind::Link,
                                    &format!("topic {topic}: the Sparkplug node or device went offline"),
                                );
                                d.down = true;
                                out.extend(d.tags.iter().map(|&t| Sample::bad(t, now, Reason::CommsLost)));
                            }
                        }
                        Ok(Event::Other) => {}
                        Err(e) => {
                            out.truncate(before);
                            if let Some(&(di, _)) = s.devices.first() {
                                stats[di].request_failed(ErrorKind::Decode, &format!("topic {topic}: {e}"));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A message brought `samples` for the device: it is up, and its silence starts again.
fn seen(d: &mut Device, stats: &DeviceStats, samples: usize) {
    d.last = Instant::now();
    d.down = false;
    stats.received(samples);
}

/// Sparkplug 3.0 ch. 5: a host that sees data it cannot name asks the node to rebirth (NCMD).
fn ask_rebirth(s: &mut Sub, session: &SessionHandle) {
    let now = Instant::now();
    if s.rebirth_asked.is_some_and(|t| now.duration_since(t) < REBIRTH_EVERY) {
        return;
    }
    s.rebirth_asked = Some(now);
    let (Some(Level::Literal(group)), Some(Level::Literal(node))) =
        (s.sub.levels.get(1), s.sub.levels.get(3))
    else {
        return;
    };
    let topic = Topic::Node { group, kind: MessageType::NCmd, node, device: None }.to_topic();
    let mut m = sparkplug::Metric {
        name: Some(sparkplug::REBIRTH.into()),
        datatype: Some(sparkplug::DataType::Boolean.code()),
        ..Default::default()
    };
    Reading::Bool(true).put(&mut m);
    let ts = crate::context::SystemClock.now_ms();
    let payload = sparkplug::encode(&sparkplug::Payload {
        timestamp: Some(ts),
        metrics: vec![m],
        ..Default::default()
    });
    drop(session.publish(&topic, payload, 0, false));
}

impl crate::context::SystemClock {
    /// Milliseconds since the epoch, as Sparkplug timestamps them.
    pub fn now_ms(&self) -> u64 {
        use crate::context::Clock;
        u64::try_from(self.now().0 / 1_000_000).unwrap_or(0)
    }
}
