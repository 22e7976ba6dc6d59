//! `edge-agent run`: starts the plant from a validated config, serves HTTP, and handles signals.
//! SIGTERM/SIGINT stop within [`STOP_GRACE`]; SIGHUP reloads a config that passes validation and keeps the
//! running one (with a logged error) when it does not.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use drivers::{Clock, SystemClock};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{self, Config};
use crate::http::{AgentState, HttpServer};
use crate::notify::Notifier;
use crate::runtime::Running;
use crate::store::Store;
use crate::store::persist::Persist;

/// Stop must finish well inside systemd's default 90 s and the 5 s operators expect.
pub const STOP_GRACE: Duration = Duration::from_secs(4);

pub async fn run(path: PathBuf, config: Config, process_start: Instant) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;

    let listen = config.api.listen;
    let site = format!("{}/{}", config.agent.site, config.agent.gateway);
    let store_dir = config.agent.data_dir.join("store");
    let store = Store::open(&store_dir, &config.store).map_err(|e| {
        anyhow::anyhow!(
            "{e}; the agent keeps every sample there: make data_dir under [agent] writable for its user"
        )
    })?;
    tracing::info!(dir = %store_dir.display(), head = store.head(), "store open");
    let persist =
        Persist::start(store, tokio::runtime::Handle::current()).context("starting the store thread")?;
    let durable = (persist, config.store.clone());
    let mut running = Running::start(config, clock.clone(), process_start, Some(&durable.0));
    let state = Arc::new(AgentState::new(running.generation.clone(), process_start));
    let mut http = match HttpServer::bind(listen, state.clone()).await {
        Ok(http) => http,
        Err(e) => {
            running.stop(STOP_GRACE).await;
            let _ = tokio::task::spawn_blocking(move || durable.0.stop()).await;
            anyhow::bail!("api.listen {listen}: {e}; free the port or set another `listen` under [api]");
        }
    };
    let status = tokio::spawn(crate::status::run(state.clone()));
    tracing::info!(site = %site, devices = state.current().devices.len(), "edge-agent running");
    let notifier = Notifier::from_env();
    let watchdog = notifier.as_ref().and_then(crate::notify::start_watchdog);
    crate::memory::trim_after_settling("start");
    if let Some(n) = &notifier {
        n.tell(&format!("READY=1\nSTATUS=running {site}, {} devices", state.current().devices.len()));
    }

    loop {
        tokio::select! {
            _ = sigterm.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = sighup.recv() => {
                if let Some(n) = &notifier { n.tell("RELOADING=1"); }
                running = reload(&path, running, &state, &mut http, clock.clone(), process_start, &durable).await;
                if let Some(n) = &notifier { n.tell("READY=1"); }
            }
        }
    }
    if let Some(n) = &notifier {
        n.tell("STOPPING=1");
    }
    status.abort();
    if let Some(w) = watchdog {
        w.abort();
    }
    crate::status::clear();
    let stopping = Instant::now();
    running.stop(STOP_GRACE).await;
    // The store thread takes what the ring still held, then syncs.
    let _ = tokio::task::spawn_blocking(move || durable.0.stop()).await;
    http.stop().await;
    tracing::info!(elapsed_ms = stopping.elapsed().as_millis() as u64, "stopped");
    Ok(())
}

/// Loads and validates the file again; on success swaps generations, else keeps the running one.
async fn reload(
    path: &std::path::Path,
    running: Running,
    state: &Arc<AgentState>,
    http: &mut HttpServer,
    clock: Arc<dyn Clock>,
    process_start: Instant,
    (persist, store_cfg): &(Persist, crate::store::StoreConfig),
) -> Running {
    let refuse = |why: String| {
        state.reloads_failed.fetch_add(1, Ordering::Relaxed);
        tracing::error!("SIGHUP: config {} refused, the running config stays:\n{why}", path.display());
    };
    let next = match config::load(path) {
        Ok(next) => next,
        Err(errors) => {
            refuse(errors.to_string());
            return running;
        }
    };
    // A new listen address is bound before anything stops, so a taken port cannot leave the agent deaf.
    if next.api.listen != http.configured {
        match HttpServer::bind(next.api.listen, state.clone()).await {
            Ok(server) => std::mem::replace(http, server).stop().await,
            Err(e) => {
                refuse(format!("api.listen {}: {e}; free the port or choose another", next.api.listen));
                return running;
            }
        }
    }
    if &next.store != store_cfg {
        tracing::warn!(
            "SIGHUP: [store] settings take effect at the next start; the store keeps its current ones"
        );
    }
    let (started, report) = running.reload(next, clock, process_start, Some(persist), STOP_GRACE).await;
    state.swap(started.generation.clone());
    crate::memory::trim_after_settling("reload");
    state.reloads_ok.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        config = %path.display(),
        devices = started.generation.devices.len(),
        "SIGHUP: config reloaded; {report}"
    );
    started
}
