//! Item bookkeeping on a live session: monitored items created (and refused), notifications turned
//! into samples, refused or gone items asked for again, subscribed nodes checked to still exist.

use std::sync::Arc;
use std::time::Duration;

use opcua::types::{AttributeId, ReadValueId, StatusCode, TimestampsToReturn};
use protocols::{Reason, Sample};
use tokio::time::Instant;

use super::{ItemState, Live, Notice, OpcuaDriver};
use crate::context::DriverContext;
use crate::opcua::plan;
use crate::opcua::session::ConnectError;
use crate::opcua::values;
use crate::telemetry::{DeviceStats, ErrorKind};

impl OpcuaDriver {
    /// Monitored items for `items` of device `di`; the refused ones are marked for a retry and their
    /// tags given Bad samples by the next publish of the caller.
    pub(super) async fn create_items(
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
        // In chunks: 10 000 items in one request are ~500 kB, past the message size servers accept
        // (asyncua: 320 kB), and past their MaxMonitoredItemsPerCall.
        let mut results = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let chunk: Vec<_> = requests.by_ref().take(CREATE_CHUNK).collect();
            let created =
                live.session.create_monitored_items(sub, TimestampsToReturn::Both, chunk).await.map_err(
                    |e| ConnectError::Link(format!("device {}: CreateMonitoredItems: {e}", d.name)),
                )?;
            results.extend(created);
        }
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

    pub(super) fn on_notices(
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

    pub(super) fn mark_failed_bad(
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
    pub(super) async fn retry_failed(
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
    pub(super) async fn verify(
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

    pub(super) fn gone_ids(&self, live: &Live, di: usize, due: &[usize]) -> Vec<u32> {
        due.iter()
            .filter_map(|&ii| match live.states[di][ii] {
                ItemState::Failed { server_id, .. } => server_id,
                _ => None,
            })
            .collect()
    }
}

/// Monitored items per CreateMonitoredItems: ~50 kB of request.
const CREATE_CHUNK: usize = 1000;

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
