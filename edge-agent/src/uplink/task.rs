//! An uplink's task as the runtime sees it: started, stopped with the generation, and ended with the
//! reason when it cannot go on (a panic is a bug), so the runtime's supervisor shows it and restarts it
//! from its saved position.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::UplinkStats;
use super::pacing::Pacing;
use super::sink::Sink;
use crate::runtime::writes::Routes;
use crate::store::Shared;

/// What an uplink is started with, whatever its kind.
pub struct UplinkContext {
    pub name: String,
    pub pacing: Pacing,
    pub store: Arc<Shared>,
    pub stats: Arc<UplinkStats>,
    /// Turns true when the generation stops.
    pub stop: watch::Receiver<bool>,
    /// The running generation's write router: a peer that sends commands (Sparkplug DCMD) writes
    /// through it, so a command reaches an actuator only as any other write does (writable tags, inside
    /// limits).
    pub writes: Routes,
}

/// Starts the uplink sending the store through `sink` (or, when the sink could not be built, ends with
/// why). Runs until `stop` turns true; the cursor is saved on the way out. Ends with `Err` when it cannot
/// go on: a panic (a bug) is shown on /healthz and returned as the reason.
pub fn spawn<S: Sink>(cx: UplinkContext, sink: Result<S, String>) -> JoinHandle<Result<(), String>> {
    let (name, shown) = (cx.name.clone(), cx.stats.clone());
    let inner = tokio::spawn(super::sender::run(cx, sink));
    tokio::spawn(async move {
        // Aborting this task (a stop that overran its grace) aborts the sender with it.
        let _guard = AbortOnDrop(inner.abort_handle());
        match inner.await {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => Err(report_crash(&name, &shown, "its sender", &e)),
            Err(e) => Err(format!("uplink {name}: its sender was cancelled ({e})")),
        }
    })
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A panic is a bug: shown on /healthz and returned as the reason the uplink ended (the supervisor logs it
/// once and restarts the uplink from its saved position), never a silent end.
pub(super) fn report_crash(
    name: &str,
    stats: &UplinkStats,
    what: &str,
    e: &tokio::task::JoinError,
) -> String {
    // tokio's text carries the panic message: `task 12 panicked with message "..."`.
    let why = format!(
        "uplink {name}: {what} crashed ({e}; a bug: please report it); samples stay in the store and it resends from its saved position"
    );
    stats.up.store(false, std::sync::atomic::Ordering::Relaxed);
    stats.set_error(Some(why.clone()));
    why
}
