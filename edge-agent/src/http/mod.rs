//! The local HTTP listener: /healthz (JSON), /metrics (Prometheus text), /tags (last values),
//! `PUT /tags/{name}` for commissioning writes, /alarms (the alarm list and operator actions), and the
//! web console at `/` (read-only without the token). Listens on 127.0.0.1 unless configured otherwise.

#[cfg(test)]
mod alarm_tests;
mod alarms;
pub mod console;
mod health;
mod loops;
mod prom;
mod prom_loops;
mod prom_outputs;
mod tags;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::runtime::Generation;

pub use health::report as health_report;
pub use prom::render as render_metrics;

/// What outlives a reload: the current generation and the agent's own counters.
pub struct AgentState {
    current: RwLock<Arc<Generation>>,
    pub process_start: Instant,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// Open console pages and what they were sent.
    pub console: console::ConsoleStats,
}

impl AgentState {
    pub fn new(generation: Arc<Generation>, process_start: Instant) -> Self {
        AgentState {
            current: RwLock::new(generation),
            process_start,
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            console: console::ConsoleStats::default(),
        }
    }

    pub fn current(&self) -> Arc<Generation> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn swap(&self, generation: Arc<Generation>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = generation;
    }
}

/// A bound listener serving until stopped.
pub struct HttpServer {
    /// The address as configured (port 0 picks a free port).
    pub configured: SocketAddr,
    /// The address actually bound.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `addr` now (so a port in use is reported before anything else starts) and serves.
    pub async fn bind(addr: SocketAddr, state: Arc<AgentState>) -> std::io::Result<HttpServer> {
        let configured = addr;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let app = router(state);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(%addr, "HTTP listener failed: {e}");
            }
        });
        tracing::info!(%addr, "serving /healthz, /metrics, /tags, /alarms and the console at /");
        Ok(HttpServer { configured, addr, stop, task })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(1), self.task).await.is_err() {
            abort.abort();
        }
    }
}

fn router(state: Arc<AgentState>) -> Router {
    let mut guarded = Router::new()
        .route("/metrics", get(prom::metrics))
        .route("/tags", get(tags::list))
        .route("/tags/{name}", get(tags::one).put(tags::write))
        .route("/loops", get(loops::list))
        .route("/loops/{name}", get(loops::one).put(loops::command))
        .route("/alarms", get(alarms::list))
        .route("/alarms/{tag}/{action}", post(alarms::act))
        .route("/engines/{name}", post(alarms::engine));
    // Each engine kind's views at its section's name: `GET /energy`.
    for kind in crate::engine::registry::ENGINES {
        let section = kind.section();
        guarded = guarded.route(
            &format!("/{section}"),
            get(move |State(state): State<Arc<AgentState>>| async move { engine_views(&state, section) }),
        );
    }
    let guarded = guarded.route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    // The console's pages and its event stream are read-only: no token to look, the token to act.
    Router::new()
        .route("/healthz", get(health::healthz))
        .merge(console::routes())
        .merge(guarded)
        .with_state(state)
}

/// The views of the engines of one kind, by engine name; 404 when none of them publishes one.
fn engine_views(state: &AgentState, section: &str) -> Response {
    let views = state.current().engines.views.of_kind(section);
    if views.is_empty() {
        let text = format!("no `{section}` engine has published its state yet (or none is configured)\n");
        return (StatusCode::NOT_FOUND, text).into_response();
    }
    axum::Json(views).into_response()
}

/// With `api.token_file` set, everything but /healthz needs `Authorization: Bearer <token>`.
async fn require_token(State(state): State<Arc<AgentState>>, req: Request, next: Next) -> Response {
    let generation = state.current();
    if let Some(token) = generation.config.api.token.as_deref() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return (StatusCode::UNAUTHORIZED, "send `Authorization: Bearer <token from api.token_file>`\n")
                .into_response();
        }
    }
    next.run(req).await
}

/// Compares without an early exit, so response time does not reveal how much of a token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_comparison() {
        assert!(super::constant_time_eq(b"secret", b"secret"));
        assert!(!super::constant_time_eq(b"secret", b"secreT"));
        assert!(!super::constant_time_eq(b"secret", b"secret2"));
    }
}
