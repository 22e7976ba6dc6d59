//! An uplink's task as the runtime sees it: started once, stopped with the generation, and watched, so a
//! panic (a bug) is logged and shown on /healthz instead of ending the uplink silently.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::UplinkStats;
use super::pacing::Pacing;
use super::sink::Sink;
use crate::store::Shared;

/// What an uplink is started with, whatever its kind.
pub struct UplinkContext {
    pub name: String,
    pub pacing: Pacing,
    pub store: Arc<Shared>,
    pub stats: Arc<UplinkStats>,
    /// Turns true when the generation stops.
    pub stop: watch::Receiver<bool>,
}

/// Starts the uplink sending the store through `sink` (or, when the sink could not be built, shows why on
/// /healthz). Runs until `stop` turns true; the cursor is saved on the way out. A panic (a bug) is logged
/// and shown, never silent.
pub fn spawn<S: Sink>(cx: UplinkContext, sink: Result<S, String>) -> JoinHandle<()> {
    let (name, shown) = (cx.name.clone(), cx.stats.clone());
    let inner = tokio::spawn(super::sender::run(cx, sink));
    tokio::spawn(async move {
        // Aborting this task (a stop that overran its grace) aborts the sender with it.
        let guard = AbortOnDrop(inner.abort_handle());
        if let Err(e) = inner.await
            && e.is_panic()
        {
            report_crash(&name, &shown, "its sender", &e);
        }
        drop(guard);
    })
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A panic is a bug: logged once and shown on /healthz, never a silent end.
pub(super) fn report_crash(name: &str, stats: &UplinkStats, what: &str, e: &tokio::task::JoinError) {
    // tokio's text carries the panic message: `task 12 panicked with message "..."`.
    let why = format!(
        "uplink {name}: {what} crashed ({e}; a bug: please report it); it stays down until a reload, samples stay in the store"
    );
    tracing::error!("{why}");
    stats.up.store(false, std::sync::atomic::Ordering::Relaxed);
    stats.set_error(Some(why));
}
