//! No task dies silently: a driver, an engine host or an uplink that panics, fails, or ends when nobody
//! asked it to is logged with the reason, counted, shown down on /healthz, and started again after a
//! backoff (1 s doubling to 30 s; back to 1 s once it ran for a minute). Each restarts from what it saved:
//! an uplink from its cursor, lossless engines from their checkpoint, a driver from its config.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

const FIRST_RESTART: Duration = Duration::from_secs(1);
const MAX_RESTART: Duration = Duration::from_secs(30);
/// A task that ran this long before failing is taken to have been healthy: its next restart is quick.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// Health of one supervised task, for /healthz and /metrics.
#[derive(Debug)]
pub struct Component {
    /// `driver`, `engines` or `uplink`.
    pub kind: &'static str,
    pub name: String,
    up: AtomicBool,
    pub restarts: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Component {
    pub fn new(kind: &'static str, name: impl Into<String>) -> Arc<Component> {
        Arc::new(Component {
            kind,
            name: name.into(),
            up: AtomicBool::new(true),
            restarts: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn failed(&self, why: &str) {
        self.up.store(false, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_owned());
    }
}

/// The text of a panic's payload.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Waits for a stopping task until `deadline`, then aborts it; false when it had to be aborted.
pub async fn finish_by(task: JoinHandle<()>, deadline: tokio::time::Instant) -> bool {
    let abort = task.abort_handle();
    let finished = tokio::time::timeout_at(deadline, task).await.is_ok();
    if !finished {
        abort.abort();
    }
    finished
}

/// Aborts the running incarnation when the supervisor itself is dropped or aborted.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Awaits a task started elsewhere as one incarnation: its panic becomes the reason, and dropping this
/// future (the supervisor aborted) aborts the task.
pub async fn join(task: JoinHandle<Result<(), String>>) -> Result<(), String> {
    let _guard = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => Err(format!("it crashed: {}", panic_text(&*e.into_panic()))),
        Err(_) => Err("it was cancelled".to_owned()),
    }
}

/// Runs `start()` as a task, and again after each failure, until it ends while `stopping()` holds.
/// `on_failure` runs with the reason each time it fails (a driver marks its devices down there).
pub fn supervise<F, Fut>(
    component: Arc<Component>,
    mut start: F,
    stopping: impl Fn() -> bool + Send + 'static,
    on_failure: impl Fn(&str) + Send + 'static,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut wait = FIRST_RESTART;
        loop {
            let started = Instant::now();
            let task = tokio::spawn(start());
            let guard = AbortOnDrop(task.abort_handle());
            let outcome = task.await;
            drop(guard);
            if stopping() {
                return;
            }
            let why = match outcome {
                Ok(Ok(())) => "it ended without being asked to".to_owned(),
                Ok(Err(e)) => e,
                Err(e) if e.is_panic() => {
                    format!("it crashed: {} (a bug: please report it)", panic_text(&*e.into_panic()))
                }
                Err(_) => "it was cancelled".to_owned(),
            };
            if started.elapsed() >= HEALTHY_AFTER {
                wait = FIRST_RESTART;
            }
            let why = format!("{} {}: {why}; restarting in {wait:?}", component.kind, component.name);
            tracing::error!("{why}");
            component.failed(&why);
            on_failure(&why);
            let until = Instant::now() + wait;
            while Instant::now() < until {
                if stopping() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            wait = (wait * 2).min(MAX_RESTART);
            component.restarts.fetch_add(1, Ordering::Relaxed);
            component.up.store(true, Ordering::Relaxed);
        }
    })
}
