//! /healthz: is the agent alive, and which devices answer. Always 200 while the agent runs (a dead device
//! is not a dead agent); `status` says `ok` or `degraded`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value as Json_, json};

use super::AgentState;

pub async fn healthz(State(state): State<Arc<AgentState>>) -> Json<Json_> {
    Json(report(&state))
}

/// What /healthz answers.
pub fn report(state: &AgentState) -> Json_ {
    let generation = state.current();
    let devices: Vec<Json_> = generation
        .devices
        .iter()
        .zip(&generation.device_kinds)
        .map(|(d, kind)| {
            json!({
                "name": d.name,
                "kind": kind,
                "up": d.is_up(),
                "samples": d.samples.load(std::sync::atomic::Ordering::Relaxed),
                "last_error": d.last_error(),
            })
        })
        .collect();
    let uplinks: Vec<Json_> = generation
        .uplinks
        .iter()
        .map(|u| {
            json!({
                "name": u.name,
                "up": u.up.load(std::sync::atomic::Ordering::Relaxed),
                "backlog": u.backlog(generation.store.as_ref().map_or(0, |s| s.head())),
                "last_error": u.last_error(),
            })
        })
        .collect();
    let components: Vec<Json_> = generation
        .components
        .iter()
        .map(|c| {
            json!({
                "kind": c.kind,
                "name": c.name,
                "up": c.is_up(),
                "restarts": c.restarts.load(std::sync::atomic::Ordering::Relaxed),
                "last_error": c.last_error(),
            })
        })
        .collect();
    // Never `ok` while anything is down: a device, an uplink, or a task being restarted.
    let all_up = generation.devices.iter().all(|d| d.is_up())
        && generation.uplinks.iter().all(|u| u.up.load(std::sync::atomic::Ordering::Relaxed))
        && generation.components.iter().all(|c| c.is_up());
    let ring = generation.ring.stats();
    json!({
        "status": if all_up { "ok" } else { "degraded" },
        "site": generation.config.agent.site,
        "gateway": generation.config.agent.gateway,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.process_start.elapsed().as_secs(),
        "config": generation.config.origin,
        "devices": devices,
        "uplinks": uplinks,
        "components": components,
        "ring": { "capacity": ring.capacity, "depth": ring.depth },
    })
}
