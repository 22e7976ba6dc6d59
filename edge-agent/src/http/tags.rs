//! /tags: the last value of every tag; `PUT /tags/{name}` writes a writable tag (commissioning).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use drivers::WriteError;
use protocols::{Sample, TagId, Value};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::AgentState;
use crate::runtime::Generation;

pub async fn list(State(state): State<Arc<AgentState>>) -> Json<Json_> {
    let g = state.current();
    let tags: Vec<Json_> =
        g.snapshot.all().iter().enumerate().map(|(i, s)| tag_json(&g, TagId(i as u32), *s)).collect();
    Json(json!({ "tags": tags }))
}

pub async fn one(State(state): State<Arc<AgentState>>, Path(name): Path<String>) -> Response {
    let g = state.current();
    match g.config.tags.registry.id(&name) {
        Some(id) => Json(tag_json(&g, id, g.snapshot.get(id))).into_response(),
        None => {
            (StatusCode::NOT_FOUND, format!("no tag named {name:?} in {}\n", g.config.origin)).into_response()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteBody {
    value: Json_,
}

pub async fn write(
    State(state): State<Arc<AgentState>>,
    Path(name): Path<String>,
    Json(body): Json<WriteBody>,
) -> Response {
    let g = state.current();
    if g.config.api.token.is_none() {
        return (StatusCode::FORBIDDEN, "writes over the API are off: set api.token_file to turn them on\n")
            .into_response();
    }
    let value = match body.value {
        Json_::Bool(b) => Value::Bool(b),
        Json_::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        _ => return (StatusCode::BAD_REQUEST, "value must be a number or a boolean\n").into_response(),
    };
    match g.writes.write(&name, value).await {
        Ok(()) => {
            tracing::info!(tag = %name, ?value, "written over the API");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            let status = match e {
                WriteError::NotWritable { .. } | WriteError::OutOfLimits { .. } | WriteError::Type { .. } => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                WriteError::Refused { .. } => StatusCode::CONFLICT,
                WriteError::Link { .. } => StatusCode::BAD_GATEWAY,
            };
            (status, format!("{e}\n")).into_response()
        }
    }
}

fn tag_json(g: &Generation, id: TagId, sample: Option<Sample>) -> Json_ {
    let info = &g.config.tags.info[id.0 as usize];
    let mut out = json!({ "name": info.name, "device": info.device, "writable": info.writable.is_some() });
    if let Some(s) = sample {
        out["ts_ns"] = json!(s.ts.as_nanos());
        out["quality"] = json!(s.quality.label());
        if let Some(r) = s.quality.reason() {
            out["reason"] = json!(r.to_string());
        }
        out["value"] = match s.value {
            Value::Bool(b) => json!(b),
            Value::Int(i) => json!(i),
            Value::UInt(u) => json!(u),
            Value::Float(f) if f.is_finite() => json!(f),
            Value::Float(_) => Json_::Null,
            Value::Text(t) => json!(g.texts.get(t).as_deref()),
        };
    }
    out
}
