//! /loops: every control loop's mode, SP, PV, OP, fault and timing; `PUT /loops/{name}` changes a loop's
//! mode, setpoint, limits or tuning (with `api.token_file` set). The body is the loop's command as JSON,
//! e.g. `{"mode": "auto", "setpoint": 850}`; it reaches the loop through the same generic command path
//! an MQTT/Sparkplug command (NCMD/DCMD) will take: [`LoopHandle::command`].

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json_, json};

use super::AgentState;
use crate::engine::Command;
use crate::runtime::engines::looping::LoopHandle;

pub async fn list(State(state): State<Arc<AgentState>>) -> Json<Json_> {
    let g = state.current();
    Json(json!({ "loops": g.loops.list.iter().map(|l| view(l)).collect::<Vec<_>>() }))
}

pub async fn one(State(state): State<Arc<AgentState>>, Path(name): Path<String>) -> Response {
    let g = state.current();
    match g.loops.find(&name) {
        Some(l) => Json(view(l)).into_response(),
        None => not_found(&name),
    }
}

pub async fn command(
    State(state): State<Arc<AgentState>>,
    Path(name): Path<String>,
    Json(body): Json<Json_>,
) -> Response {
    let g = state.current();
    if g.config.api.token.is_none() {
        return (
            StatusCode::FORBIDDEN,
            "loop commands over the API are off: set api.token_file to turn them on\n",
        )
            .into_response();
    }
    let Some(handle) = g.loops.find(&name).cloned() else { return not_found(&name) };
    let Json_::Object(fields) = body else {
        return (StatusCode::BAD_REQUEST, "the body is a JSON object, e.g. {\"mode\": \"auto\"}\n")
            .into_response();
    };
    match handle.command(Command::Loop { fields, by: "api".into() }).await {
        Ok(done) => Json(json!({ "done": done, "loop": view(&handle) })).into_response(),
        Err(why) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{why}\n")).into_response(),
    }
}

fn not_found(name: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("no loop named {name:?}; GET /loops lists them\n")).into_response()
}

fn view(l: &LoopHandle) -> Json_ {
    let g = &l.group;
    json!({
        "name": l.name,
        "kind": l.kind,
        "period_s": g.period.as_secs_f64(),
        "status": l.status(),
        "ticks": g.ticks.load(Relaxed),
        "deadlines_missed": g.missed.load(Relaxed),
        "max_lateness_s": g.max_late_ns.load(Relaxed) as f64 / 1e9,
        "writes_ok": l.writes_ok.load(Relaxed),
        "writes_failed": l.writes_failed.load(Relaxed),
    })
}
