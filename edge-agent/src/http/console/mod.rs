//! The local web console at `/`: hand-written HTML, CSS and JS embedded in the binary (nothing from a
//! CDN, no build step), live data from one server-sent event stream per page, the running config with
//! its secrets redacted. Looking needs no token; acting (acknowledge, shelve, loop mode and setpoint)
//! goes through the guarded API with the token the operator types into the page.

mod stream;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use stream::ConsoleStats;

use super::AgentState;

/// Every asset, as written in `console/`. Their sum is held within [`ASSET_BUDGET`] by a test.
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", include_str!("index.html")),
    ("/console/app.js", "text/javascript; charset=utf-8", include_str!("app.js")),
    ("/console/i18n.js", "text/javascript; charset=utf-8", include_str!("i18n.js")),
    ("/console/app.css", "text/css; charset=utf-8", include_str!("app.css")),
    ("/favicon.ico", "image/svg+xml", include_str!("favicon.svg")),
];

/// The stated budget for all assets, uncompressed: a gateway serves them over a slow tunnel too.
pub const ASSET_BUDGET: usize = 200 * 1024;

/// Only this origin's own scripts and styles, and no framing: a page that shows a token field must not be
/// embeddable elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<Arc<AgentState>> {
    let mut router =
        Router::new().route("/console/events", get(stream::events)).route("/console/config", get(config));
    for &(path, mime, body) in ASSETS {
        router = router.route(path, get(move || async move { asset(mime, body) }));
    }
    router
}

fn asset(mime: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Assets change only with the binary; a reload after an upgrade must not mix versions.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The running config as written, every secret redacted (see `config::redact`).
async fn config(State(state): State<Arc<AgentState>>) -> Response {
    let g = state.current();
    let mut r = g.config.shown.clone().into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The console's own counters: open pages, pages refused, bad requests, bytes streamed.
pub fn render_metrics(state: &AgentState, e: &mut crate::metrics::Exposition) {
    use std::sync::atomic::Ordering::Relaxed;
    let c = &state.console;
    e.family("edge_console_pages_open", "gauge", "Console pages with a live event stream open.").sample(
        "edge_console_pages_open",
        &[],
        c.open.load(Relaxed) as f64,
    );
    e.family(
        "edge_console_requests_refused_total",
        "counter",
        "Console event streams refused, by why: too many pages open, or a bad query.",
    )
    .sample("edge_console_requests_refused_total", &[("why", "busy")], c.refused.load(Relaxed) as f64)
    .sample(
        "edge_console_requests_refused_total",
        &[("why", "bad_request")],
        c.bad_requests.load(Relaxed) as f64,
    );
    e.family("edge_console_sent_bytes_total", "counter", "Bytes of event data sent to console pages.")
        .sample("edge_console_sent_bytes_total", &[], c.bytes_sent.load(Relaxed) as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_stay_within_the_budget_and_fetch_nothing_from_elsewhere() {
        let total: usize = ASSETS.iter().map(|(_, _, body)| body.len()).sum();
        assert!(total <= ASSET_BUDGET, "console assets are {total} bytes, over the {ASSET_BUDGET} budget");
        for (path, _, body) in ASSETS {
            for outside in ["http://", "https://", "//cdn", "@import"] {
                let hits: Vec<&str> = body.lines().filter(|l| l.contains(outside)).collect();
                // The SVG's namespace is a name, not a fetch.
                let hits: Vec<&&str> =
                    hits.iter().filter(|l| !l.contains("http://www.w3.org/2000/svg")).collect();
                assert!(hits.is_empty(), "{path} refers outside the agent: {hits:?}");
            }
        }
    }
}
