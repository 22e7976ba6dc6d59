//! Starts every link's driver under supervision: a driver that fails or panics takes only its own
//! devices down (with the reason), and is built again from its config and restarted after a backoff,
//! serving the same write queue.

use std::collections::HashMap;
use std::sync::Arc;

use drivers::{BuildContext, Clock, DeviceStats, DriverContext, ErrorKind, Shutdown, WriteQueue};
use protocols::{TagId, TextPool};
use tokio::task::JoinHandle;

use super::plant::LinkPlan;
use super::supervise::{Component, supervise};
use crate::config::Config;
use crate::ring::Ring;

/// What every driver of a generation shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub ring: Arc<Ring>,
    pub clock: Arc<dyn Clock>,
    pub texts: Arc<TextPool>,
    pub tag_ids: Arc<HashMap<String, TagId>>,
    pub shutdown: Shutdown,
}

/// A link's devices' stats (in order), its component, and its supervisor (none if it could not be built).
pub struct Started {
    pub devices: Vec<Arc<DeviceStats>>,
    pub component: Arc<Component>,
    pub task: Option<JoinHandle<()>>,
}

pub fn start(plan: LinkPlan, writes: WriteQueue, shared: &Arc<Shared>) -> Started {
    let stats: HashMap<String, Arc<DeviceStats>> =
        plan.devices.iter().map(|d| (d.clone(), Arc::new(DeviceStats::new(d)))).collect();
    let devices: Vec<Arc<DeviceStats>> = plan.devices.iter().map(|d| stats[d].clone()).collect();
    let component = Component::new("driver", plan.name.clone());
    let mut first = match plan.driver {
        Ok(driver) => Some(driver),
        Err(e) => {
            tracing::error!(link = %plan.name, "link not started: {e}");
            for d in &devices {
                d.scan_failed(ErrorKind::Link, &e);
            }
            return Started { devices, component, task: None };
        }
    };
    let link = plan.config;
    let cx_shared = shared.clone();
    let start = move || {
        let s = &cx_shared;
        let driver = first.take().ok_or(()).or_else(|()| {
            let registry = &s.config.tags.registry;
            let tag_id = |t: &str| registry.id(t);
            link.build(&BuildContext { tag_id: &tag_id, data_dir: &s.config.agent.data_dir })
        });
        let cx = DriverContext {
            publisher: s.ring.publisher(),
            writes: writes.clone(),
            shutdown: s.shutdown.clone(),
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
    let stopping = {
        let shutdown = shared.shutdown.clone();
        move || shutdown.is_triggered()
    };
    let on_failure = {
        let devices = devices.clone();
        move |why: &str| {
            for d in &devices {
                d.scan_failed(ErrorKind::Link, why);
            }
        }
    };
    let task = supervise(component.clone(), start, stopping, on_failure);
    Started { devices, component, task: Some(task) }
}
