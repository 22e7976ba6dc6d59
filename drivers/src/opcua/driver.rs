//! The `[[opcua.link]]` task: connect, subscribe (or poll), turn notifications into samples, serve
//! writes; on a lost session mark every tag Bad (comms lost), back off, reconnect and subscribe again.
//!
//! An item the server refuses (BadNodeIdUnknown: the node went away) turns only its own tags Bad; it is
//! asked for again every `retry` while every other item keeps flowing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use opcua::client::{DataChangeCallback, Session, SessionPollResult, SubscriptionActivity};
use opcua::types::{
    AttributeId, DataValue, NamespaceMap, NodeId, ReadValueId, StatusCode, TimestampsToReturn, WriteValue,
};
use protocols::{Reason, Sample, TagId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::config::OpcuaLinkConfig;
use super::plan::{self, DevicePlan};
use super::session::{self, ConnectError, Target};
use super::values;
use crate::backoff::{Backoff, Retry};
use crate::context::DriverContext;
use crate::kind::BuildContext;
use crate::telemetry::{DeviceStats, ErrorKind};
use crate::write::{WriteError, WriteRequest};
use crate::{BoxFuture, Driver, DriverError};

pub struct OpcuaDriver {
    target: Target,
    devices: Vec<DevicePlan>,
    reconnect_max: Duration,
}

impl OpcuaDriver {
    pub fn new(cfg: &OpcuaLinkConfig, cx: &BuildContext<'_>) -> Result<Self, String> {
        let devices = cfg.devices.iter().map(|d| DevicePlan::new(d, cx.tag_id)).collect::<Result<_, _>>()?;
        Ok(OpcuaDriver {
            target: Target::new(cfg, cx.data_dir),
            devices,
            reconnect_max: cfg.reconnect_max.get(),
        })
    }
}

impl Driver for OpcuaDriver {
    fn run(self: Box<Self>, cx: DriverContext) -> BoxFuture<'static, Result<(), DriverError>> {
        Box::pin(self.run_loop(cx))
    }
}

/// What the session's event loop task reports.
enum LinkEvent {
    Connected,
    Lost(String),
    Published,
}

/// Where an item stands in the present session.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ItemState {
    /// Monitored, with the server's id for it.
    Live { subscription: u32, server_id: u32 },
    /// Refused or gone: asked for again at this time (the gone one deleted first, by its server id).
    Failed { retry_at: Instant, server_id: Option<u32> },
    /// Read by a polled device.
    Polled,
}

/// One connected session and what was set up on it.
struct Live {
    session: Arc<Session>,
    events: mpsc::UnboundedReceiver<LinkEvent>,
    task: tokio::task::JoinHandle<()>,
    namespaces: NamespaceMap,
    /// `(device, item)` by client handle, and each item's state.
    handles: HashMap<u32, (usize, usize)>,
    states: Vec<Vec<ItemState>>,
    subscriptions: Vec<Option<u32>>,
    last_publish: Instant,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Notice = (u32, DataValue);

impl OpcuaDriver {
    async fn run_loop(mut self, mut cx: DriverContext) -> Result<(), DriverError> {
        let stats: Vec<Arc<DeviceStats>> = self.devices.iter().map(|d| cx.device(&d.name)).collect();
        let link = self.target.link.clone();
        let (notice_tx, mut notices) = mpsc::unbounded_channel::<Notice>();
        let mut shutdown = cx.shutdown.clone();
        let mut was_connected = false;
        let mut down = false;
        let mut next_handle = 1u32;
        let endpoint = self.target.endpoint.clone();
        let limits: HashMap<TagId, (String, Option<crate::write::WritableSpec>)> = self
            .devices
            .iter()
            .flat_map(|d| d.items.iter().flat_map(|i| i.tags.iter()))
            .map(|t| (t.id, (t.name.clone(), t.writable)))
            .collect();
        // The first run makes the agent's RSA key pair: seconds of work, kept off the runtime's threads,
        // with writes answered meanwhile.
        let target = self.target.clone();
        let mut making = tokio::task::spawn_blocking(move || session::client(&target));
        let made = loop {
            tokio::select! {
                _ = shutdown.triggered() => return Ok(()),
                r = &mut making => break r,
                Some(req) = cx.writes.recv() => refuse_offline(req, &limits, &endpoint),
            }
        };
        let mut client = match made {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(DriverError::Setup { link, message: e.to_string() }),
            Err(e) => return Err(DriverError::Setup { link, message: format!("making the client: {e}") }),
        };
        let mut retry =
            Retry::new(Backoff::new(self.target.timeout.min(Duration::from_secs(1)), self.reconnect_max));
        loop {
            let attempt = {
                let connecting = self.connect(&mut client, &notice_tx, &mut next_handle, &stats);
                tokio::pin!(connecting);
                loop {
                    tokio::select! {
                        _ = shutdown.triggered() => return Ok(()),
                        r = &mut connecting => break r,
                        Some(req) = cx.writes.recv() => refuse_offline(req, &limits, &endpoint),
                    }
                }
            };
            let mut live = match attempt {
                Ok(live) => live,
                Err(e) => {
                    let wait = retry.failed(Instant::now(), random());
                    let why = format!("{}: {e}; retrying in {wait:.1?}", self.target.endpoint);
                    self.all_down(&cx, &stats, &why, &mut down).await?;
                    tokio::select! {
                        _ = shutdown.triggered() => return Ok(()),
                        _ = tokio::time::sleep(wait) => continue,
                        // Writes while disconnected are answered at once, not left to time out.
                        Some(req) = cx.writes.recv() => { refuse_offline(req, &limits, &endpoint); continue }
                    }
                }
            };
            retry.succeeded();
            if was_connected {
                stats.iter().for_each(|s| {
                    s.reconnects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                });
            }
            was_connected = true;
            down = false;
            tracing::info!(link = %link, endpoint = %self.target.endpoint, "OPC UA session up");
            let lost = self.serve(&mut live, &mut cx, &stats, &mut notices, &mut next_handle).await?;
            let Some(why) = lost else {
                let _ = tokio::time::timeout(Duration::from_secs(1), live.session.disconnect()).await;
                return Ok(());
            };
            let wait = retry.failed(Instant::now(), random());
            let why = format!("{}: {why}; reconnecting in {wait:.1?}", self.target.endpoint);
            drop(live);
            self.all_down(&cx, &stats, &why, &mut down).await?;
            tokio::select! {
                _ = shutdown.triggered() => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Every tag Bad (comms lost) once per outage, every device down with the reason.
    async fn all_down(
        &self,
        cx: &DriverContext,
        stats: &[Arc<DeviceStats>],
        why: &str,
        down: &mut bool,
    ) -> Result<(), DriverError> {
        stats.iter().for_each(|s| s.scan_failed(ErrorKind::Link, why));
        if std::mem::replace(down, true) {
            return Ok(());
        }
        let now = cx.clock.now();
        let out: Vec<Sample> = self
            .devices
            .iter()
            .flat_map(|d| d.tags())
            .map(|t| Sample::bad(t, now, Reason::CommsLost))
            .collect();
        if cx.publisher.publish(&out).await {
            Ok(())
        } else {
            Err(DriverError::RingClosed { link: self.target.link.clone() })
        }
    }

    async fn connect(
        &mut self,
        client: &mut opcua::client::Client,
        notice_tx: &mpsc::UnboundedSender<Notice>,
        next_handle: &mut u32,
        stats: &[Arc<DeviceStats>],
    ) -> Result<Live, ConnectError> {
        let (session, event_loop) = session::open(client, &self.target).await?;
        let (tx, mut events) = mpsc::unbounded_channel();
        let task = tokio::spawn(forward(event_loop, tx));
        let timeout = self.target.timeout;
        match tokio::time::timeout(timeout * 2, events.recv()).await {
            Ok(Some(LinkEvent::Connected)) => {}
            Ok(Some(LinkEvent::Lost(why))) => {
                task.abort();
                return Err(ConnectError::Link(why));
            }
            _ => {
                task.abort();
                return Err(ConnectError::Link(format!("no session within {:?}", timeout * 2)));
            }
        }
        let namespaces = match session.read_namespace_array().await {
            Ok(n) => n,
            Err(e) => {
                task.abort();
                return Err(ConnectError::Link(format!("reading the namespace array: {e}")));
            }
        };
        let mut live = Live {
            session,
            events,
            task,
            namespaces,
            handles: HashMap::new(),
            states: self.devices.iter().map(|d| vec![ItemState::Polled; d.items.len()]).collect(),
            subscriptions: vec![None; self.devices.len()],
            last_publish: Instant::now(),
        };
        for (di, st) in stats.iter().enumerate() {
            if self.devices[di].poll.is_some() {
                continue;
            }
            let d = &self.devices[di];
            let publishing = d.publishing;
            // A keep-alive at least every 5 s, so a silent server is noticed; lifetime three of those.
            let keep_alive = (5000 / publishing.as_millis().max(1)).clamp(1, 1000) as u32;
            let tx = notice_tx.clone();
            let callback = DataChangeCallback::new(move |dv, item| {
                let _ = tx.send((item.client_handle(), dv));
            });
            let id = live
                .session
                .create_subscription(publishing, keep_alive * 3, keep_alive, 0, 0, true, callback)
                .await
                .map_err(|e| ConnectError::Link(format!("device {}: CreateSubscription: {e}", d.name)))?;
            live.subscriptions[di] = Some(id);
            let all: Vec<usize> = (0..d.items.len()).collect();
            self.create_items(&mut live, di, &all, next_handle, st).await?;
        }
        Ok(live)
    }

    /// Monitored items for `items` of device `di`; the refused ones are marked for a retry and their
    /// tags given Bad samples by the next publish of the caller.
    async fn create_items(
        &mut self,
        live: &mut Live,
        di: usize,
        items: &[usize],
        next_handle: &mut u32,
        stats: &DeviceStats,
    ) -> Result<Vec<(usize, StatusCode)>, ConnectError> {
        let d = &self.devices[di];
        let Some(sub) = live.subscriptions[di] else { return Ok(Vec::new()) };
        let retry_at = Instant::now() + d.retry;
        let mut requests = Vec::new();
        let mut sent = Vec::new();
        let mut refused = Vec::new();
        for &ii in items {
            let item = &d.items[ii];
            match plan::node_id(&item.node, &live.namespaces) {
                Ok(node) => {
                    let handle = *next_handle;
                    *next_handle = next_handle.wrapping_add(1).max(1);
                    live.handles.insert(handle, (di, ii));
                    requests.push(item.create_request(node, handle, d.publishing));
                    sent.push(ii);
                }
                Err(why) => {
                    stats.request_failed(ErrorKind::Exception, &why);
                    live.states[di][ii] = ItemState::Failed { retry_at, server_id: None };
                    refused.push((ii, StatusCode::BadNodeIdUnknown));
                }
            }
        }
        if requests.is_empty() {
            return Ok(refused);
        }
        let results = live
            .session
            .create_monitored_items(sub, TimestampsToReturn::Both, requests)
            .await
            .map_err(|e| ConnectError::Link(format!("device {}: CreateMonitoredItems: {e}", d.name)))?;
        for (ii, r) in sent.into_iter().zip(results) {
            let status = r.result.status_code;
            if status.is_good() {
                live.states[di][ii] =
                    ItemState::Live { subscription: sub, server_id: r.result.monitored_item_id };
            } else {
                let name = values::status_name(status);
                stats.request_failed(
                    ErrorKind::Exception,
                    &format!("node {}: {name}; asked for again every {:?}", d.items[ii].node, d.retry),
                );
                live.states[di][ii] = ItemState::Failed { retry_at, server_id: None };
                refused.push((ii, status));
            }
        }
        Ok(refused)
    }

    /// Runs one session until it is lost (`Some(why)`) or the agent stops (`None`).
    async fn serve(
        &mut self,
        live: &mut Live,
        cx: &mut DriverContext,
        stats: &[Arc<DeviceStats>],
        notices: &mut mpsc::UnboundedReceiver<Notice>,
        next_handle: &mut u32,
    ) -> Result<Option<String>, DriverError> {
        let mut shutdown = cx.shutdown.clone();
        let polled: Vec<(usize, Duration)> =
            self.devices.iter().enumerate().filter_map(|(i, d)| d.poll.map(|p| (i, p))).collect();
        let mut schedule = crate::schedule::Schedule::new(Instant::now(), polled);
        let subscribed = live.subscriptions.iter().any(Option::is_some);
        // No publish response (data or keep-alive) for this long means the server stopped publishing.
        let publish_silence =
            self.devices.iter().filter(|d| d.poll.is_none()).map(|d| d.publishing).max().unwrap_or_default()
                * 3
                + Duration::from_secs(15).max(self.target.timeout * 2);
        let mut out: Vec<Sample> = Vec::new();
        let mut batch: Vec<Notice> = Vec::new();
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut verified = vec![Instant::now(); self.devices.len()];
        // Refused at creation: their tags are Bad from the start.
        self.mark_failed_bad(live, cx, stats, &mut out);
        loop {
            if !out.is_empty() {
                if !cx.publisher.publish(&out).await {
                    return Err(DriverError::RingClosed { link: self.target.link.clone() });
                }
                out.clear();
            }
            let poll_due = schedule.next_due().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                _ = shutdown.triggered() => return Ok(None),
                ev = live.events.recv() => match ev {
                    Some(LinkEvent::Published) => live.last_publish = Instant::now(),
                    Some(LinkEvent::Connected) => {}
                    Some(LinkEvent::Lost(why)) => return Ok(Some(why)),
                    None => return Ok(Some("the session's event loop ended".into())),
                },
                n = notices.recv_many(&mut batch, 4096) => {
                    if n == 0 {
                        return Ok(Some("the subscription callback closed".into()));
                    }
                    live.last_publish = Instant::now();
                    self.on_notices(live, cx, stats, &mut batch, &mut out);
                }
                Some(req) = cx.writes.recv() => self.write(live, req, stats).await,
                _ = tokio::time::sleep_until(poll_due) => {
                    let now = Instant::now();
                    let due: Vec<usize> = std::iter::from_fn(|| schedule.next(now).map(|s| *s.key)).collect();
                    for di in due {
                        if let Err(why) = self.poll(live, di, cx, &stats[di], &mut out).await {
                            return Ok(Some(why));
                        }
                    }
                }
                _ = ticker.tick() => {
                    if subscribed && live.last_publish.elapsed() > publish_silence {
                        return Ok(Some(format!("no publish response for {publish_silence:?} (publish timeout)")));
                    }
                    if let Err(e) = self.verify(live, &mut verified, stats, cx, &mut out).await {
                        return Ok(Some(e.to_string()));
                    }
                    if let Err(e) = self.retry_failed(live, next_handle, stats, cx, &mut out).await {
                        return Ok(Some(e.to_string()));
                    }
                }
            }
        }
    }

    fn on_notices(
        &mut self,
        live: &mut Live,
        cx: &DriverContext,
        stats: &[Arc<DeviceStats>],
        batch: &mut Vec<Notice>,
        out: &mut Vec<Sample>,
    ) {
        let arrival = cx.clock.now();
        let mut problems = Vec::new();
        let mut counts = vec![0usize; self.devices.len()];
        for (handle, dv) in batch.drain(..) {
            let Some(&(di, ii)) = live.handles.get(&handle) else { continue };
            if !matches!(live.states[di][ii], ItemState::Live { .. }) {
                continue;
            }
            let d = &mut self.devices[di];
            let before = out.len();
            d.items[ii].samples(&dv, d.stamp, arrival, &cx.texts, out, &mut problems);
            counts[di] += out.len() - before;
            let status = dv.status.unwrap_or(StatusCode::Good);
            if status.is_bad() && node_gone(status) {
                // The node went away under the subscription: ask for it again later.
                live.states[di][ii] = gone(live.states[di][ii], d.retry);
            }
            for p in problems.drain(..) {
                stats[di].request_failed(ErrorKind::Exception, &p);
            }
        }
        for (di, n) in counts.into_iter().enumerate() {
            if n > 0 {
                stats[di].received(n);
            }
        }
    }

    fn mark_failed_bad(
        &self,
        live: &Live,
        cx: &DriverContext,
        stats: &[Arc<DeviceStats>],
        out: &mut Vec<Sample>,
    ) {
        let now = cx.clock.now();
        for (di, d) in self.devices.iter().enumerate() {
            let mut all_failed = !d.items.is_empty();
            for (ii, item) in d.items.iter().enumerate() {
                if matches!(live.states[di][ii], ItemState::Failed { .. }) {
                    out.extend(item.tags.iter().map(|t| Sample::bad(t.id, now, Reason::Exception(0x34))));
                } else {
                    all_failed = false;
                }
            }
            // The server answers, but not one of this device's nodes: the device is up, its tags Bad.
            if all_failed {
                stats[di].received(0);
            }
        }
    }

    /// Items refused or gone, asked for again once their wait is over.
    async fn retry_failed(
        &mut self,
        live: &mut Live,
        next_handle: &mut u32,
        stats: &[Arc<DeviceStats>],
        cx: &DriverContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), ConnectError> {
        let now = Instant::now();
        for (di, st) in stats.iter().enumerate() {
            let due: Vec<usize> = (0..self.devices[di].items.len())
                .filter(
                    |&ii| matches!(live.states[di][ii], ItemState::Failed { retry_at, .. } if retry_at <= now),
                )
                .collect();
            if due.is_empty() || live.subscriptions[di].is_none() {
                continue;
            }
            // The gone item is still on the server: delete it first so it is not reported twice.
            let stale: Vec<u32> = live
                .handles
                .iter()
                .filter(|(_, (d, i))| *d == di && due.contains(i))
                .map(|(h, _)| *h)
                .collect();
            for h in stale {
                live.handles.remove(&h);
            }
            let sub = live.subscriptions[di].unwrap_or_default();
            let ids: Vec<u32> = std::mem::take(&mut self.gone_ids(live, di, &due));
            if !ids.is_empty() {
                let _ = live.session.delete_monitored_items(sub, &ids).await;
            }
            let still = self.create_items(live, di, &due, next_handle, st).await?;
            let ts = cx.clock.now();
            for (ii, _) in still {
                out.extend(
                    self.devices[di].items[ii]
                        .tags
                        .iter()
                        .map(|t| Sample::bad(t.id, ts, Reason::Exception(0x34))),
                );
            }
        }
        Ok(())
    }

    /// Every `retry`, the subscribed nodes are checked to still exist (one Read of their NodeClass):
    /// a server need not report a deleted node on its monitored item (asyncua 2.1 goes silent), and
    /// a silent item is otherwise indistinguishable from a value that does not change.
    async fn verify(
        &mut self,
        live: &mut Live,
        verified: &mut [Instant],
        stats: &[Arc<DeviceStats>],
        cx: &DriverContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), ConnectError> {
        for di in 0..self.devices.len() {
            let d = &self.devices[di];
            if d.poll.is_some() || verified[di].elapsed() < d.retry {
                continue;
            }
            verified[di] = Instant::now();
            let live_items: Vec<usize> = (0..d.items.len())
                .filter(|&ii| matches!(live.states[di][ii], ItemState::Live { .. }))
                .collect();
            for chunk in live_items.chunks(VERIFY_CHUNK) {
                let mut ids = Vec::with_capacity(chunk.len());
                for &ii in chunk {
                    let node =
                        plan::node_id(&d.items[ii].node, &live.namespaces).map_err(ConnectError::Link)?;
                    ids.push(ReadValueId {
                        attribute_id: AttributeId::NodeClass as u32,
                        ..plan::read_value_id(node)
                    });
                }
                let answers = live
                    .session
                    .read(&ids, TimestampsToReturn::Neither, 0.0)
                    .await
                    .map_err(|e| ConnectError::Link(format!("Read (checking subscribed nodes): {e}")))?;
                let ts = cx.clock.now();
                for (&ii, dv) in chunk.iter().zip(answers) {
                    let status = dv.status.unwrap_or(StatusCode::Good);
                    if status.is_bad() && node_gone(status) {
                        let item = &d.items[ii];
                        stats[di].request_failed(
                            ErrorKind::Exception,
                            &format!(
                                "node {}: {}; asked for again every {:?}",
                                item.node,
                                values::status_name(status),
                                d.retry
                            ),
                        );
                        live.states[di][ii] = gone(live.states[di][ii], d.retry);
                        out.extend(item.tags.iter().map(|t| Sample::bad(t.id, ts, Reason::Exception(0x34))));
                    }
                }
            }
        }
        Ok(())
    }

    fn gone_ids(&self, live: &Live, di: usize, due: &[usize]) -> Vec<u32> {
        due.iter()
            .filter_map(|&ii| match live.states[di][ii] {
                ItemState::Failed { server_id, .. } => server_id,
                _ => None,
            })
            .collect()
    }

    async fn poll(
        &mut self,
        live: &mut Live,
        di: usize,
        cx: &DriverContext,
        stats: &DeviceStats,
        out: &mut Vec<Sample>,
    ) -> Result<(), String> {
        let started = Instant::now();
        let d = &self.devices[di];
        let mut ids = Vec::new();
        let mut which = Vec::new();
        let now = cx.clock.now();
        for (ii, item) in d.items.iter().enumerate() {
            match plan::node_id(&item.node, &live.namespaces) {
                Ok(n) => {
                    ids.push(plan::read_value_id(n));
                    which.push(ii);
                }
                Err(why) => {
                    stats.request_failed(ErrorKind::Exception, &why);
                    out.extend(item.tags.iter().map(|t| Sample::bad(t.id, now, Reason::Exception(0x34))));
                }
            }
        }
        stats.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let read = live.session.read(&ids, TimestampsToReturn::Both, 0.0).await;
        stats.request_latency.observe(started.elapsed());
        let values = match read {
            Ok(v) => v,
            Err(e) if e.status() == StatusCode::BadTimeout => {
                stats.scan_failed(ErrorKind::Timeout, &format!("Read: {e}"));
                return Ok(());
            }
            Err(e) => return Err(format!("Read: {e}")),
        };
        let arrival = cx.clock.now();
        let before = out.len();
        let mut problems = Vec::new();
        let d = &mut self.devices[di];
        for (ii, dv) in which.into_iter().zip(values) {
            d.items[ii].samples(&dv, d.stamp, arrival, &cx.texts, out, &mut problems);
        }
        for p in problems {
            stats.request_failed(ErrorKind::Exception, &p);
        }
        stats.scan_ok(out.len() - before, started.elapsed());
        Ok(())
    }

    async fn write(&mut self, live: &Live, req: WriteRequest, stats: &[Arc<DeviceStats>]) {
        let found = self.devices.iter().enumerate().find_map(|(di, d)| {
            d.items.iter().position(|i| i.tags.iter().any(|t| t.id == req.tag)).map(|ii| (di, ii))
        });
        let Some((di, ii)) = found else {
            let _ = req.reply.send(Err(WriteError::NotWritable { tag: format!("{:?}", req.tag) }));
            return;
        };
        let result = self.write_to(live, di, ii, req.tag, req.value).await;
        if let Err(e) = &result {
            stats[di].request_failed(ErrorKind::Write, &e.to_string());
        }
        let _ = req.reply.send(result);
    }

    async fn write_to(
        &mut self,
        live: &Live,
        di: usize,
        ii: usize,
        tag: TagId,
        value: protocols::Value,
    ) -> Result<(), WriteError> {
        let item = &self.devices[di].items[ii];
        let t = item.tags.iter().find(|t| t.id == tag).cloned().unwrap_or_else(|| item.tags[0].clone());
        let name = t.name.clone();
        // Checked again next to the actuator: the agent's check may have been bypassed.
        let spec = t.writable.ok_or_else(|| WriteError::NotWritable { tag: name.clone() })?;
        spec.check(&name, value)?;
        let v = value.as_f64().ok_or_else(|| WriteError::Type { tag: name.clone() })?;
        let node: NodeId = plan::node_id(&item.node, &live.namespaces)
            .map_err(|reason| WriteError::Refused { tag: name.clone(), reason })?;
        if item.last.is_none() {
            // The node's type is needed to write in it: read it once.
            let read = live
                .session
                .read(&[plan::read_value_id(node.clone())], TimestampsToReturn::Neither, 0.0)
                .await;
            let dv = read.map_err(|e| WriteError::Link { tag: name.clone(), reason: e.to_string() })?;
            self.devices[di].items[ii].last = dv.into_iter().next().and_then(|d| d.value);
        }
        let item = &self.devices[di].items[ii];
        let variant = plan::write_variant(item, &t, v)
            .map_err(|reason| WriteError::Refused { tag: name.clone(), reason })?;
        let wv = WriteValue {
            node_id: node,
            attribute_id: AttributeId::Value as u32,
            index_range: Default::default(),
            value: DataValue { value: Some(variant), ..Default::default() },
        };
        let codes = live
            .session
            .write(&[wv])
            .await
            .map_err(|e| WriteError::Link { tag: name.clone(), reason: e.to_string() })?;
        match codes.first() {
            Some(s) if s.is_good() => Ok(()),
            Some(s) => Err(WriteError::Refused {
                tag: name,
                reason: format!("the server answered {}", values::status_name(*s)),
            }),
            None => Err(WriteError::Link { tag: name, reason: "the server answered no status".into() }),
        }
    }
}

/// Nodes checked per Read: servers cap a request's nodes (MaxNodesPerRead), often at 1000 or more.
const VERIFY_CHUNK: usize = 1000;

/// A live item whose node went away: failed, keeping its server id to delete it before the retry.
fn gone(state: ItemState, retry: Duration) -> ItemState {
    let server_id = match state {
        ItemState::Live { server_id, .. } => Some(server_id),
        ItemState::Failed { server_id, .. } => server_id,
        ItemState::Polled => None,
    };
    ItemState::Failed { retry_at: Instant::now() + retry, server_id }
}

/// A write while there is no session: the limits are still checked first, so a bad value is refused
/// as such; a good one is answered at once instead of being left to time out.
fn refuse_offline(
    req: WriteRequest,
    limits: &HashMap<TagId, (String, Option<crate::write::WritableSpec>)>,
    endpoint: &str,
) {
    let answer = match limits.get(&req.tag) {
        None => Err(WriteError::NotWritable { tag: format!("{:?}", req.tag) }),
        Some((name, None)) => Err(WriteError::NotWritable { tag: name.clone() }),
        Some((name, Some(spec))) => spec
            .check(name, req.value)
            .and(Err(WriteError::Link { tag: name.clone(), reason: format!("no session with {endpoint}") })),
    };
    let _ = req.reply.send(answer);
}

/// Status codes that say the node is not (or no longer) there, so the item is worth asking for again.
fn node_gone(s: StatusCode) -> bool {
    matches!(
        values::status_name(s),
        "BadNodeIdUnknown"
            | "BadNodeIdInvalid"
            | "BadAttributeIdInvalid"
            | "BadNotReadable"
            | "BadUserAccessDenied"
    )
}

/// Polls the crate's event loop and reports what the driver acts on; ends at the first loss, since
/// the driver (not the crate) reconnects.
async fn forward(
    event_loop: opcua::client::SessionEventLoop<opcua::client::transport::TcpConnector>,
    tx: mpsc::UnboundedSender<LinkEvent>,
) {
    let stream = event_loop.enter();
    futures::pin_mut!(stream);
    while let Some(r) = stream.next().await {
        let ev = match r {
            Ok(SessionPollResult::Reconnected(_)) => LinkEvent::Connected,
            Ok(SessionPollResult::ConnectionLost(s)) => {
                LinkEvent::Lost(format!("session lost ({})", values::status_name(s)))
            }
            Ok(SessionPollResult::ReconnectFailed(s)) => {
                LinkEvent::Lost(format!("connect failed ({})", values::status_name(s)))
            }
            Ok(SessionPollResult::Subscription(SubscriptionActivity::Publish)) => LinkEvent::Published,
            Ok(SessionPollResult::Subscription(SubscriptionActivity::FatalFailure(s))) => {
                LinkEvent::Lost(format!("publishing failed ({})", values::status_name(s)))
            }
            Ok(_) => continue,
            Err(s) => LinkEvent::Lost(format!("session ended ({})", values::status_name(s))),
        };
        let lost = matches!(ev, LinkEvent::Lost(_));
        if tx.send(ev).is_err() || lost {
            return;
        }
    }
    let _ = tx.send(LinkEvent::Lost("the session closed".into()));
}

/// Jitter for the reconnect backoff; no cryptographic need.
fn random() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.subsec_nanos() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ t.as_secs()
}
