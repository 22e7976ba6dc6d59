//! The uplinks of a generation, each supervised on its own stop signal, so that a reload can carry an
//! uplink whose config did not change into the next generation: it keeps its connection (a Sparkplug
//! host sees no NDEATH and rebirth, a platform no reconnect), its position and its counters, and writes
//! a peer's commands through the newest generation's links.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::supervise::{self, Component, supervise};
use super::writes::{Routes, WriteRouter};
use crate::store::Shared;
use crate::uplink::{UplinkConfig, UplinkStats};

/// One running uplink and the handles to move or stop it.
pub struct UplinkRun {
    pub config: UplinkConfig,
    pub stats: Arc<UplinkStats>,
    pub component: Arc<Component>,
    stop: watch::Sender<bool>,
    routes: watch::Sender<WriteRouter>,
    task: JoinHandle<()>,
}

impl UplinkRun {
    /// Starts `config` sending `store`, restarted by its supervisor until stopped.
    pub fn start(config: &UplinkConfig, store: Arc<Shared>, writes: WriteRouter) -> UplinkRun {
        let stats = Arc::new(UplinkStats::new(&config.name));
        let component = Component::new("uplink", config.name.clone());
        let (stop, stopped) = watch::channel(false);
        let (routes, following) = Routes::following(writes);
        let start = {
            let (cfg, stats, stopped) = (config.clone(), stats.clone(), stopped.clone());
            move || {
                supervise::join(cfg.start_routed(
                    store.clone(),
                    stats.clone(),
                    stopped.clone(),
                    following.clone(),
                ))
            }
        };
        let stopping = move || *stopped.borrow();
        let on_failure = {
            let stats = stats.clone();
            move |why: &str| stats.mark_down(why)
        };
        let task = supervise(component.clone(), start, stopping, on_failure);
        UplinkRun { config: config.clone(), stats, component, stop, routes, task }
    }

    /// Moves the uplink into a generation whose links answer its peer's commands.
    pub fn route_through(&self, writes: WriteRouter) {
        self.routes.send_replace(writes);
    }

    /// Tells the uplink to save its position and end.
    pub fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops it, waiting until `deadline`; past that it is aborted and resends from its saved position.
    pub async fn stop(self, deadline: tokio::time::Instant) {
        self.signal_stop();
        if !supervise::finish_by(self.task, deadline).await {
            tracing::warn!(
                uplink = %self.config.name,
                "the uplink did not stop in time; aborted (it resends from its saved position)"
            );
        }
    }
}
