//! The `[[opcua.link]]` task: connect, subscribe (or poll), turn notifications into samples, serve
//! writes; on a lost session mark every tag Bad (comms lost), back off, reconnect and subscribe again.
//!
//! An item the server refuses (BadNodeIdUnknown: the node went away) turns only its own tags Bad; it is
//! asked for again every `retry` while every other item keeps flowing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opcua::client::{DataChangeCallback, Session};
use opcua::types::{DataValue, NamespaceMap};
use protocols::{Reason, Sample, TagId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::config::OpcuaLinkConfig;
use super::plan::DevicePlan;
use super::session::{self, ConnectError, Target};
use crate::backoff::{Backoff, Retry};
use crate::context::DriverContext;
use crate::kind::BuildContext;
use crate::telemetry::{DeviceStats, ErrorKind};
use crate::{BoxFuture, Driver, DriverError};

mod events;
mod items;
mod poll;
mod writes;

use events::{LinkEvent, forward};
use writes::refuse_offline;

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
                return Err(ConnectError::Link(session::explain_refusal(why, &self.target)));
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
}

/// Jitter for the reconnect backoff; no cryptographic need.
fn random() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.subsec_nanos() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ t.as_secs()
}
