//! A polled device: every value read with one Read per period, for servers whose subscriptions
//! misbehave.

use opcua::types::{StatusCode, TimestampsToReturn};
use protocols::{Reason, Sample};
use tokio::time::Instant;

use super::{Live, OpcuaDriver};
use crate::context::DriverContext;
use crate::opcua::plan;
use crate::telemetry::{DeviceStats, ErrorKind};

impl OpcuaDriver {
    pub(super) async fn poll(
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
}
