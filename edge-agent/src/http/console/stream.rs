//! `GET /console/events?view=..`: a page's live data as server-sent events. Once a second at most, and
//! only the rows that changed since the last event, so an open page costs a few KB/s. Read-only: no
//! token is needed to look.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use super::views::{self, Page, Section};
use crate::http::AgentState;

/// The bounded rate: one look at the agent per second per open page.
pub const PERIOD: Duration = Duration::from_secs(1);
/// Open pages at most; one more is refused, so a script opening pages in a loop cannot load the agent.
pub const MAX_STREAMS: usize = 16;

pub async fn events(State(state): State<Arc<AgentState>>, uri: Uri) -> Response {
    let page = match Page::parse(uri.query().unwrap_or("")) {
        Ok(p) => p,
        Err(why) => {
            state.console.bad_requests.fetch_add(1, Relaxed);
            return (StatusCode::BAD_REQUEST, format!("/console/events: {why}\n")).into_response();
        }
    };
    let Some(slot) = StreamSlot::take(state.clone()) else {
        state.console.refused.fetch_add(1, Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_STREAMS} console pages are open already; close one and reload\n"),
        )
            .into_response();
    };
    let init = (slot, page, Diff::default(), true);
    let stream = futures_util::stream::unfold(init, |(slot, page, mut diff, first)| async move {
        if !first {
            tokio::time::sleep(PERIOD).await;
        }
        let mut data = Vec::new();
        for section in views::sections(&slot.state, &page).await {
            let g = slot.state.current();
            let history = |name: &str| views::tag_history(&g, name);
            if let Some(change) = diff.change(section, &history) {
                data.push(change);
            }
        }
        // An empty event still carries the beat, so the page can tell a quiet agent from a lost one.
        let text = Json::Array(data).to_string();
        slot.state.console.bytes_sent.fetch_add(text.len() as u64, Relaxed);
        Some((Ok::<_, Infallible>(Event::default().data(text)), (slot, page, diff, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// The console's counters, on /metrics.
#[derive(Default)]
pub struct ConsoleStats {
    pub open: std::sync::atomic::AtomicUsize,
    pub refused: std::sync::atomic::AtomicU64,
    pub bad_requests: std::sync::atomic::AtomicU64,
    pub bytes_sent: std::sync::atomic::AtomicU64,
}

/// One of the `MAX_STREAMS` places, given back when the page closes (the stream is dropped).
struct StreamSlot {
    state: Arc<AgentState>,
}

impl StreamSlot {
    fn take(state: Arc<AgentState>) -> Option<StreamSlot> {
        let open = &state.console.open;
        open.fetch_update(Relaxed, Relaxed, |n| (n < MAX_STREAMS).then_some(n + 1)).ok()?;
        Some(StreamSlot { state })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.state.console.open.fetch_sub(1, Relaxed);
    }
}

/// What a page was last sent, by section and row key, as the JSON text sent.
#[derive(Default)]
pub struct Diff {
    last: HashMap<&'static str, HashMap<String, String>>,
}

impl Diff {
    /// `{"s": section, "up": [changed rows], "rm": [keys gone]}`, or None when nothing changed. A tag
    /// row seen for the first time carries its history (`h`), so its sparkline starts full.
    pub fn change(&mut self, section: Section, history: &dyn Fn(&str) -> Json) -> Option<Json> {
        let last = self.last.entry(section.name).or_default();
        let mut up = Vec::new();
        let mut now = HashMap::with_capacity(section.rows.len());
        for (key, mut row) in section.rows {
            let text = row.to_string();
            match last.get(&key) {
                Some(before) if *before == text => {}
                before => {
                    if section.name == "tag" && before.is_none() {
                        row["h"] = history(&key);
                    }
                    row["k"] = json!(key);
                    up.push(row);
                }
            }
            now.insert(key, text);
        }
        let rm: Vec<&String> = last.keys().filter(|k| !now.contains_key(*k)).collect();
        let change =
            (!up.is_empty() || !rm.is_empty()).then(|| json!({ "s": section.name, "up": up, "rm": rm }));
        *last = now;
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(rows: &[(&str, f64)]) -> Section {
        Section { name: "tag", rows: rows.iter().map(|(k, v)| (k.to_string(), json!({ "v": v }))).collect() }
    }

    #[test]
    fn sends_only_what_changed() {
        let mut diff = Diff::default();
        let history = |name: &str| json!([[0, name.chars().count()]]);
        let first =
            diff.change(section(&[("锅炉一号.温度", 1.0), ("泵3.速度有效值", 2.0)]), &history).unwrap();
        assert_eq!(first["up"].as_array().unwrap().len(), 2);
        assert_eq!(first["up"][0]["h"], json!([[0, 7]]), "a new row brings its history");
        assert!(diff.change(section(&[("锅炉一号.温度", 1.0), ("泵3.速度有效值", 2.0)]), &history).is_none());
        let second = diff.change(section(&[("锅炉一号.温度", 1.5)]), &history).unwrap();
        assert_eq!(second["up"], json!([{ "v": 1.5, "k": "锅炉一号.温度" }]), "no history for a known row");
        assert_eq!(second["rm"], json!(["泵3.速度有效值"]));
    }
}
