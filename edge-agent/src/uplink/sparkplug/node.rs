//! The edge node's session (Sparkplug 3.0 ch. 5): a will (NDEATH) with a new bdSeq for each connection,
//! NBIRTH once connected (and the primary host online), a DBIRTH before a device's first data and
//! whenever its metrics change, seq 0 in NBIRTH then +1 per message, wrapping after 255; a rebirth
//! on the NCMD `Node Control/Rebirth`; DCMD writes through the agent's write router; a DDEATH when
//! a device stops answering; NDEATH and a new connection when the primary host goes offline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use drivers::mqtt::session::{self, LinkEvent, PublishError, SessionHandle, Will};
use protocols::Value;
use protocols::sparkplug::{self, DataType, MessageType, Metric, Payload, Reading, Seq, Topic};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::device::{Device, metric};
use super::{Message, SparkplugTarget};
use crate::runtime::writes::Routes;
use crate::uplink::UplinkStats;
use crate::uplink::sink::{Delivery, Encoded};
use crate::uplink::task::UplinkContext;

struct State {
    seq: Seq,
    /// The connection the NBIRTH went out on (0: none yet).
    born_on: u64,
    next_alias: u64,
    devices: BTreeMap<String, Device>,
}

pub(super) struct Node {
    t: SparkplugTarget,
    handle: SessionHandle,
    state: Mutex<State>,
    /// Counts connections; a birth belongs to one.
    connection: AtomicU64,
    bd_seq: Arc<AtomicU64>,
    host_online: AtomicBool,
    stats: Arc<UplinkStats>,
    writes: Routes,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// bdSeq survives restarts (ch. 5: it pairs an NBIRTH with the NDEATH of the same connection), in the
/// store's directory beside the uplink's cursor.
fn bd_seq_file(store: &std::path::Path, uplink: &str) -> PathBuf {
    store.join("cursors").join(format!("{uplink}.bdseq"))
}

impl Node {
    pub(super) fn start(t: &SparkplugTarget, cx: &UplinkContext) -> (Arc<Node>, JoinHandle<()>) {
        let file = bd_seq_file(cx.store.dir(), &cx.name);
        let first = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<u64>().ok());
        let bd_seq = Arc::new(AtomicU64::new(first.map_or(0, |b| (b + 1) % 256)));
        let will_topic =
            Topic::Node { group: &t.group, kind: MessageType::NDeath, node: &t.node, device: None }
                .to_topic();
        let (counter, mut attempt) = (bd_seq.clone(), first.is_none());
        let will = Box::new(move || {
            // Each connection attempt registers a will with the next bdSeq, 0..=255 wrapping.
            let n = if std::mem::take(&mut attempt) {
                counter.load(Relaxed)
            } else {
                (counter.load(Relaxed) + 1) % 256
            };
            counter.store(n, Relaxed);
            let _ = std::fs::write(&file, n.to_string());
            let mut m = Metric {
                name: Some(sparkplug::BD_SEQ.into()),
                datatype: Some(DataType::Int64.code()),
                ..Default::default()
            };
            Reading::Int(n as i64).put(&mut m);
            let payload = sparkplug::encode(&Payload {
                timestamp: Some(now_ms()),
                metrics: vec![m],
                ..Default::default()
            });
            Some(Will { topic: will_topic.clone(), payload, qos: 1, retain: false })
        });
        let mut subs = vec![
            (
                Topic::Node { group: &t.group, kind: MessageType::NCmd, node: &t.node, device: None }
                    .to_topic(),
                1,
            ),
            (format!("{}/{}/DCMD/{}/+", sparkplug::NAMESPACE, t.group, t.node), 1),
        ];
        if let Some(h) = &t.primary_host {
            subs.push((Topic::State { host: h }.to_topic(), 1));
        }
        let mut session = session::start(&t.link, subs, will);
        let node = Arc::new(Node {
            t: t.clone(),
            handle: session.handle.clone(),
            state: Mutex::new(State {
                seq: Seq::start(),
                born_on: 0,
                next_alias: 1,
                devices: BTreeMap::new(),
            }),
            connection: AtomicU64::new(0),
            bd_seq,
            host_online: AtomicBool::new(t.primary_host.is_none()),
            stats: cx.stats.clone(),
            writes: cx.writes.clone(),
        });
        let me = node.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = session.events.recv().await {
                me.on_event(event).await;
            }
        });
        (node, task)
    }

    async fn on_event(self: &Arc<Self>, event: LinkEvent) {
        match event {
            LinkEvent::Connected { .. } => {
                self.connection.fetch_add(1, Relaxed);
                let _ = self.birth(false).await;
            }
            LinkEvent::Message { topic, payload } => match Topic::parse(&topic) {
                Some(Topic::State { .. }) => {
                    // 3.0: `{"online": true, "timestamp": ..}`; 2.2 sent `ONLINE`/`OFFLINE` as text.
                    let online = serde_json::from_slice::<serde_json::Value>(&payload)
                        .ok()
                        .and_then(|v| v["online"].as_bool())
                        .unwrap_or(payload.as_ref() == b"ONLINE");
                    let was = self.host_online.swap(online, Relaxed);
                    tracing::info!(host = ?self.t.primary_host, online, "sparkplug: primary host state");
                    if online && !was {
                        let _ = self.birth(true).await;
                    } else if !online && was {
                        self.end_session().await;
                    }
                }
                Some(Topic::Node { kind: MessageType::NCmd, .. }) => {
                    let asks = sparkplug::decode(&payload).is_ok_and(|p| {
                        p.metrics.iter().any(|m| {
                            m.name.as_deref() == Some(sparkplug::REBIRTH)
                                && Reading::of(m, Some(DataType::Boolean)) == Ok(Reading::Bool(true))
                        })
                    });
                    if asks {
                        tracing::info!(node = %self.t.node, "sparkplug: rebirth requested");
                        let _ = self.birth(true).await;
                    }
                }
                Some(Topic::Node { kind: MessageType::DCmd, device: Some(d), .. }) => {
                    self.command(&topic, d, &payload).await;
                }
                _ => {}
            },
            LinkEvent::SubscribeRefused { filters } => {
                tracing::warn!(node = %self.t.node, "sparkplug: the broker refused {filters} subscription(s) (NCMD, DCMD, STATE): check its ACL");
            }
            LinkEvent::Disconnected { .. } => {}
        }
    }

    /// NBIRTH and every device's DBIRTH, on the present connection. With `again`, even if this
    /// connection already had them (a rebirth).
    async fn birth(&self, again: bool) -> Result<(), PublishError> {
        let mut st = self.state.lock().await;
        let conn = self.connection.load(Relaxed);
        if (!again && st.born_on == conn) || !self.host_online.load(Relaxed) {
            return Ok(());
        }
        self.stats.rebirths.fetch_add(1, Relaxed);
        st.seq = Seq::start();
        let mut bd = Metric {
            name: Some(sparkplug::BD_SEQ.into()),
            datatype: Some(DataType::Int64.code()),
            ..Default::default()
        };
        Reading::Int(self.bd_seq.load(Relaxed) as i64).put(&mut bd);
        let mut rebirth = Metric {
            name: Some(sparkplug::REBIRTH.into()),
            datatype: Some(DataType::Boolean.code()),
            ..Default::default()
        };
        Reading::Bool(false).put(&mut rebirth);
        let topic =
            Topic::Node { group: &self.t.group, kind: MessageType::NBirth, node: &self.t.node, device: None }
                .to_topic();
        let p = Payload {
            timestamp: Some(now_ms()),
            metrics: vec![bd, rebirth],
            seq: Some(st.seq.take()),
            ..Default::default()
        };
        // Births go with QoS 0 (ch. 4); a lost one shows as data the host cannot name, and it asks again.
        let sent = self.handle.publish(&topic, sparkplug::encode(&p), 0, false);
        st.born_on = conn;
        // A dead device stays unborn until it answers again.
        let names: Vec<String> = st.devices.iter().filter(|(_, d)| !d.dead).map(|(n, _)| n.clone()).collect();
        for d in names {
            self.dbirth(&mut st, &d, conn);
        }
        drop(st);
        sent.await
    }

    fn dbirth(&self, st: &mut State, device: &str, conn: u64) {
        let seq = st.seq.take();
        let Some(dev) = st.devices.get_mut(device) else { return };
        dev.born_on = conn;
        dev.dead = false;
        let metrics = dev.metrics.values().map(|k| metric(&k.last, k, true, false)).collect();
        let topic = Topic::Node {
            group: &self.t.group,
            kind: MessageType::DBirth,
            node: &self.t.node,
            device: Some(device),
        }
        .to_topic();
        let p = Payload { timestamp: Some(now_ms()), metrics, seq: Some(seq), ..Default::default() };
        drop(self.handle.publish(&topic, sparkplug::encode(&p), 0, false));
    }

    /// A DDEATH (ch. 6: a timestamp and the seq, no metrics) for a device that stopped answering.
    fn ddeath(&self, st: &mut State, device: &str) {
        let seq = st.seq.take();
        if let Some(dev) = st.devices.get_mut(device) {
            dev.dead = true;
        }
        let topic = Topic::Node {
            group: &self.t.group,
            kind: MessageType::DDeath,
            node: &self.t.node,
            device: Some(device),
        }
        .to_topic();
        tracing::info!(device, "sparkplug: device unreachable, DDEATH published");
        let p = Payload { timestamp: Some(now_ms()), seq: Some(seq), ..Default::default() };
        drop(self.handle.publish(&topic, sparkplug::encode(&p), 0, false));
    }

    /// The primary host went offline: ch. 5 has the node end its session with this server (NDEATH,
    /// then DISCONNECT, which drops the will) and connect again, to be born when the host is back.
    async fn end_session(&self) {
        let st = self.state.lock().await;
        if st.born_on != self.connection.load(Relaxed) {
            return;
        }
        let mut bd = Metric {
            name: Some(sparkplug::BD_SEQ.into()),
            datatype: Some(DataType::Int64.code()),
            ..Default::default()
        };
        Reading::Int(self.bd_seq.load(Relaxed) as i64).put(&mut bd);
        let topic =
            Topic::Node { group: &self.t.group, kind: MessageType::NDeath, node: &self.t.node, device: None }
                .to_topic();
        let p = Payload { timestamp: Some(now_ms()), metrics: vec![bd], ..Default::default() };
        let sent = self.handle.publish(&topic, sparkplug::encode(&p), 1, false);
        drop(st);
        if let Err(e) = tokio::time::timeout(std::time::Duration::from_secs(2), sent).await.unwrap_or(Ok(()))
        {
            tracing::warn!(node = %self.t.node, "sparkplug: NDEATH not acknowledged ({e}); disconnecting anyway");
        }
        tracing::info!(node = %self.t.node, "sparkplug: primary host offline: NDEATH published, reconnecting");
        self.handle.disconnect();
    }

    /// Publishes the items not yet acknowledged, each a DDATA (births first where needed), and waits
    /// for every PUBACK.
    pub(super) async fn deliver(&self, items: &[Encoded<Message>]) -> Delivery {
        let retry = |reason: String| Delivery::Retry { reason, after: None };
        if !self.host_online.load(Relaxed) {
            return retry(format!(
                "primary host {} is offline; data stays in the store until its STATE is online",
                self.t.primary_host.as_deref().unwrap_or("?")
            ));
        }
        if let Some(why) = self.handle.down_because() {
            return retry(format!("{}: not connected ({why})", self.t.link.broker()));
        }
        if let Err(e) = self.birth(false).await {
            return retry(format!("{}: NBIRTH not sent: {e}", self.t.link.broker()));
        }
        let mut waiting = Vec::new();
        {
            let mut st = self.state.lock().await;
            let conn = self.connection.load(Relaxed);
            if st.born_on != conn || !self.host_online.load(Relaxed) {
                // The host went offline (or the link dropped) between the checks above and here.
                return retry(format!("{}: no NBIRTH on this connection yet", self.t.link.broker()));
            }
            for (i, e) in items.iter().enumerate().filter(|(_, e)| !e.item.is_acked()) {
                let m = &e.item;
                if m.points.is_empty() {
                    m.acked.store(true, Relaxed);
                    continue;
                }
                let State { next_alias, devices, .. } = &mut *st;
                let dev = devices.entry(m.device.clone()).or_default();
                let learned = dev.learn(m, next_alias);
                let lost = dev.lost();
                if dev.dead && lost && !m.historical {
                    // Still unreachable: its DDEATH already told the host; these Bad values add nothing.
                    m.acked.store(true, Relaxed);
                    continue;
                }
                if learned || dev.born_on != conn || dev.dead {
                    self.dbirth(&mut st, &m.device, conn);
                }
                let seq = st.seq.take();
                let dev = &st.devices[&m.device];
                let metrics =
                    m.points.iter().map(|p| metric(p, &dev.metrics[&p.tag], false, m.historical)).collect();
                let topic = Topic::Node {
                    group: &self.t.group,
                    kind: MessageType::DData,
                    node: &self.t.node,
                    device: Some(&m.device),
                }
                .to_topic();
                let p = Payload { timestamp: Some(now_ms()), metrics, seq: Some(seq), ..Default::default() };
                waiting.push((i, self.handle.publish(&topic, sparkplug::encode(&p), self.t.qos, false)));
                if lost {
                    self.ddeath(&mut st, &m.device);
                }
            }
        }
        let mut answer = Delivery::Acknowledged;
        for (i, sent) in waiting {
            match sent.await {
                Ok(()) => items[i].item.acked.store(true, Relaxed),
                Err(PublishError::Refused(r)) => {
                    answer = Delivery::Refused { reason: format!("PUBACK: {r}") }
                }
                Err(e) if matches!(answer, Delivery::Acknowledged) => {
                    answer = retry(format!("{}: {e}", self.t.link.broker()))
                }
                Err(_) => {}
            }
        }
        answer
    }

    /// A DCMD: each metric written to its tag through the write router (writable tags, inside their
    /// limits); refusals are logged and counted.
    async fn command(&self, topic: &str, device: &str, payload: &[u8]) {
        let refuse = |why: String| {
            self.stats.commands_refused.fetch_add(1, Relaxed);
            tracing::warn!(topic, "sparkplug: command refused: {why}");
        };
        let p = match sparkplug::decode(payload) {
            Ok(p) => p,
            Err(e) => return refuse(format!("not a Sparkplug B payload ({e})")),
        };
        let targets: Vec<(String, Option<DataType>, &Metric)> = {
            let st = self.state.lock().await;
            let dev = st.devices.get(device);
            p.metrics
                .iter()
                .map(|m| {
                    let by_alias = m.alias.and_then(|a| dev?.metrics.iter().find(|(_, k)| k.alias == a));
                    let name =
                        m.name.clone().or_else(|| by_alias.map(|(n, _)| n.clone())).unwrap_or_default();
                    let known = dev.and_then(|d| d.metrics.get(&name)).map(|k| k.datatype);
                    (name, known, m)
                })
                .collect()
        };
        for (name, known, m) in targets {
            if known.is_none() {
                refuse(format!("device {device} has no metric {name:?} in its birth"));
                continue;
            }
            let value = match Reading::of(m, known) {
                Ok(Reading::Bool(b)) => Value::Bool(b),
                Ok(Reading::Int(i)) => Value::Int(i),
                Ok(Reading::UInt(u)) => Value::UInt(u),
                Ok(Reading::Float(f)) => Value::Float(f),
                Ok(other) => {
                    refuse(format!("{name}: {other:?} cannot be written"));
                    continue;
                }
                Err(e) => {
                    refuse(format!("{name}: {e}"));
                    continue;
                }
            };
            match self.writes.write(&name, value).await {
                Ok(()) => {
                    self.stats.commands_written.fetch_add(1, Relaxed);
                    tracing::info!(topic, tag = %name, "sparkplug: command written");
                }
                Err(e) => refuse(e.to_string()),
            }
        }
    }
}
