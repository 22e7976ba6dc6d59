//! Starts every link's driver under supervision: a driver that fails or panics takes only its own
//! devices down (with the reason), and is built again from its config and restarted after a backoff,
//! serving the same write queue. Each link has its own stop and its own relay into the ring, so a
//! reload can keep an unchanged link running into the next generation.

use std::collections::HashMap;
use std::sync::Arc;

use drivers::write::WriteRequest;
use drivers::{
    BuildContext, Clock, DeviceStats, DriverContext, ErrorKind, LinkConfig, Publisher, Shutdown, WriteQueue,
};
use protocols::{TagId, TextPool};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::plant::LinkPlan;
use super::relay::Relay;
use super::supervise::{Component, supervise};
use crate::config::Config;
use crate::ring::Ring;

/// What every driver of a generation shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub texts: Arc<TextPool>,
    pub tag_ids: Arc<HashMap<String, TagId>>,
}

/// One running link: its devices' stats (in order), its component, its supervisor (none if it could not
/// be built), and what a reload needs to keep it.
pub struct LinkRun {
    pub config: Arc<dyn LinkConfig>,
    pub kind: &'static str,
    pub name: String,
    pub devices: Vec<Arc<DeviceStats>>,
    pub component: Arc<Component>,
    pub task: Option<JoinHandle<()>>,
    pub stop: watch::Sender<bool>,
    pub relay: Arc<Relay>,
    /// The config whose tag ids the driver was built with.
    pub origin: Arc<Config>,
    /// The sender of the write queue the driver serves.
    pub writes: mpsc::Sender<WriteRequest>,
}

impl LinkRun {
    /// Stops the driver, waiting until `deadline` before aborting it.
    pub async fn stop(mut self, deadline: tokio::time::Instant) {
        let _ = self.stop.send(true);
        let Some(task) = self.task.take() else { return };
        if !super::supervise::finish_by(task, deadline).await {
            tracing::warn!(link = %self.name, "link did not stop in time; aborted");
        }
    }
}

pub fn start(
    plan: LinkPlan,
    (write_tx, write_rx): (mpsc::Sender<WriteRequest>, mpsc::Receiver<WriteRequest>),
    ring: &Arc<Ring>,
    shared: &Arc<Shared>,
) -> LinkRun {
    let stats: HashMap<String, Arc<DeviceStats>> =
        plan.devices.iter().map(|d| (d.clone(), Arc::new(DeviceStats::new(d)))).collect();
    let devices: Vec<Arc<DeviceStats>> = plan.devices.iter().map(|d| stats[d].clone()).collect();
    let component = Component::new("driver", plan.name.clone());
    let (stop, shutdown) = Shutdown::new();
    let relay = Relay::new(Arc::new(ring.writer()));
    let mut run = LinkRun {
        config: plan.config.clone(),
        kind: plan.kind,
        name: plan.name.clone(),
        devices: devices.clone(),
        component: component.clone(),
        task: None,
        stop,
        relay: relay.clone(),
        origin: shared.config.clone(),
        writes: write_tx,
    };
    let mut first = match plan.driver {
        Ok(driver) => Some(driver),
        Err(e) => {
            tracing::error!(link = %plan.name, "link not started: {e}");
            for d in &devices {
                d.scan_failed(ErrorKind::Link, &e);
            }
            return run;
        }
    };
    let link = plan.config;
    let cx_shared = shared.clone();
    let writes: WriteQueue = write_rx.into();
    let stopping = {
        let shutdown = shutdown.clone();
        move || shutdown.is_triggered()
    };
    let start = move || {
        let s = &cx_shared;
        let driver = first.take().ok_or(()).or_else(|()| {
            let registry = &s.config.tags.registry;
            let tag_id = |t: &str| registry.id(t);
            link.build(&BuildContext { tag_id: &tag_id, data_dir: &s.config.agent.data_dir })
        });
        let cx = DriverContext {
            publisher: Publisher::new(relay.clone()),
            writes: writes.clone(),
            shutdown: shutdown.clone(),
            clock: s.clock.clone(),
            devices: stats.clone(),
            texts: s.texts.clone(),
            tag_ids: s.tag_ids.clone(),
        };
        async move {
            match driver {
                Ok(driver) => driver.run(cx).await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("cannot build the driver again: {e}")),
            }
        }
    };
    let on_failure = move |why: &str| {
        for d in &devices {
            d.scan_failed(ErrorKind::Link, why);
        }
    };
    run.task = Some(supervise(component, start, stopping, on_failure));
    run
}
