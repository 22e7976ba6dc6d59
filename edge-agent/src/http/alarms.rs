//! The alarm list and operator actions: `GET /alarms`, `POST /alarms/{tag}/{action}`, and the generic
//! `POST /engines/{name}` that any engine taking commands (a control loop's mode) answers the same way.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json_, json};

use super::AgentState;
use crate::engine::{Command, CommandError};

/// Every alarm with something standing (active, unacknowledged, shelved, out of service), most
/// pressing first; `?all=true` lists every configured alarm.
pub async fn list(State(state): State<Arc<AgentState>>, uri: Uri) -> Json<Json_> {
    let all = uri.query().is_some_and(|q| q.split('&').any(|p| matches!(p, "all" | "all=true" | "all=1")));
    let g = state.current();
    let mut rows: Vec<Json_> =
        g.control.status("alarm").await.into_iter().filter(|a| all || a["state"] != "normal").collect();
    rows.sort_by_key(|a| (std::cmp::Reverse(rank(&a["state"])), a["tag"].as_str().unwrap_or("").to_owned()));
    Json(json!({ "alarms": rows }))
}

fn rank(state: &Json_) -> u8 {
    match state.as_str() {
        Some("unacknowledged") => 5,
        Some("returned_unacknowledged") => 4,
        Some("acknowledged") => 3,
        Some("shelved") => 2,
        Some("out_of_service") => 1,
        _ => 0,
    }
}

/// `POST /alarms/kiln.temp/acknowledge` with an optional body `{"condition": "HIGH", "by": "李工"}`.
pub async fn act(
    State(state): State<Arc<AgentState>>,
    Path((tag, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let action = if action == "ack" { "acknowledge".to_owned() } else { action.replace('-', "_") };
    let mut fields = match parse_body(&body) {
        Ok(f) => f,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    fields.insert("action".into(), json!(action));
    command(&state, &format!("alarm {tag}"), Json_::Object(fields)).await
}

/// `POST /engines/{name}` with a command as JSON: `{"action": "shelve", "for": "1h"}`.
pub async fn engine(State(state): State<Arc<AgentState>>, Path(name): Path<String>, body: Bytes) -> Response {
    match parse_body(&body) {
        Ok(fields) => command(&state, &name, Json_::Object(fields)).await,
        Err(why) => (StatusCode::BAD_REQUEST, why).into_response(),
    }
}

fn parse_body(body: &[u8]) -> Result<serde_json::Map<String, Json_>, &'static str> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Json_::Object(m)) => Ok(m),
        _ => Err("the body must be a JSON object, e.g. {\"by\": \"operator\"}\n"),
    }
}

async fn command(state: &AgentState, engine: &str, fields: Json_) -> Response {
    let g = state.current();
    if g.config.api.token.is_none() {
        return (
            StatusCode::FORBIDDEN,
            "operator actions over the API are off: set api.token_file to turn them on\n",
        )
            .into_response();
    }
    let command: Command = match serde_json::from_value(fields) {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("{e}; actions are acknowledge, shelve (with \"for\"), unshelve, out_of_service, in_service\n"),
            )
                .into_response();
        }
    };
    let action = command.action();
    match g.control.command(engine, command).await {
        Ok(answer) => {
            tracing::info!(engine, action, "operator action over the API");
            Json(answer).into_response()
        }
        Err(e) => {
            let status = match e {
                CommandError::NoSuchEngine(_) => StatusCode::NOT_FOUND,
                CommandError::Refused(_) => StatusCode::CONFLICT,
                CommandError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, format!("{e}\n")).into_response()
        }
    }
}
