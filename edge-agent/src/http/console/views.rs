//! What each console page shows, as rows keyed by name: the stream sends a row again only when it
//! changed. Rows carry only what a page draws (no sample counters that change every scan).

use std::sync::atomic::Ordering::Relaxed;

use protocols::{TagId, Timestamp, Value};
use serde_json::{Value as Json, json};

use crate::http::AgentState;
use crate::runtime::Generation;

/// Which page a stream feeds, from `?view=`.
#[derive(Debug, Clone, PartialEq)]
pub enum Page {
    Overview,
    /// `q` matches a tag's or its device's name (any part, as written); `device` picks one device.
    Tags {
        q: String,
        device: String,
        limit: usize,
    },
    Alarms,
    Loops,
    /// The config page needs only the header.
    Config,
}

/// Rows of a tag table at most: 50 rows changing every second stay within a few KB/s.
pub const MAX_TAG_ROWS: usize = 200;
pub const DEFAULT_TAG_ROWS: usize = 50;

impl Page {
    pub fn parse(query: &str) -> Result<Page, String> {
        let mut view = "overview".to_owned();
        let (mut q, mut device, mut limit) = (String::new(), String::new(), DEFAULT_TAG_ROWS);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v).ok_or_else(|| format!("`{k}` is not valid percent-encoded UTF-8"))?;
            match k {
                "view" => view = v,
                "q" => q = v,
                "device" => device = v,
                "limit" => {
                    limit = v.parse().ok().filter(|n| (1..=MAX_TAG_ROWS).contains(n)).ok_or_else(|| {
                        format!("limit {v:?}: give a number of rows from 1 to {MAX_TAG_ROWS}")
                    })?
                }
                _ => {}
            }
        }
        Ok(match view.as_str() {
            "overview" => Page::Overview,
            "tags" => Page::Tags { q, device, limit },
            "alarms" => Page::Alarms,
            "loops" => Page::Loops,
            "config" => Page::Config,
            other => return Err(format!("view {other:?}: expected overview, tags, alarms, loops or config")),
        })
    }
}

/// `%E9%94%85` and `+` as a query string writes them; None for bytes that are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// One section of a page: its name and its rows by key.
pub struct Section {
    pub name: &'static str,
    pub rows: Vec<(String, Json)>,
}

/// Everything `page` shows now. The header (`agent`) is on every page.
pub async fn sections(state: &AgentState, page: &Page) -> Vec<Section> {
    let g = state.current();
    let mut out = vec![Section { name: "agent", rows: vec![("agent".into(), agent(state, &g))] }];
    match page {
        Page::Overview => {
            out.push(Section { name: "device", rows: devices(&g) });
            out.push(Section { name: "uplink", rows: uplinks(&g) });
            out.push(Section { name: "component", rows: components(&g) });
        }
        Page::Tags { q, device, limit } => {
            let (rows, meta) = tags(&g, q, device, *limit);
            out.push(Section { name: "tag", rows });
            out.push(Section { name: "tagmeta", rows: vec![("tagmeta".into(), meta)] });
        }
        Page::Alarms => out.push(Section { name: "alarm", rows: alarms(&g).await }),
        Page::Loops => out.push(Section { name: "loop", rows: loops(&g) }),
        Page::Config => {}
    }
    out
}

fn agent(state: &AgentState, g: &Generation) -> Json {
    let ring = g.ring.stats();
    let all_up = g.devices.iter().all(|d| d.is_up())
        && g.uplinks.iter().all(|u| u.up.load(Relaxed))
        && g.components.iter().all(|c| c.is_up());
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(state.process_start.elapsed())
        .as_millis() as u64;
    // The ring's depth moves every scan: shown rounded to a percent so the header is not resent for it.
    let depth_pct = (ring.depth * 100).checked_div(ring.capacity as u64).unwrap_or(0);
    json!({
        "site": g.config.agent.site,
        "gateway": g.config.agent.gateway,
        "version": env!("CARGO_PKG_VERSION"),
        // Rounded to 10 s: the page counts uptime itself; this only corrects its clock.
        "started_ms": started_ms / 10_000 * 10_000,
        "status": if all_up { "ok" } else { "degraded" },
        "config": g.config.origin,
        "writes": g.config.api.token.is_some(),
        "devices": g.devices.len(),
        "devices_up": g.devices.iter().filter(|d| d.is_up()).count(),
        "ring": {
            "capacity": ring.capacity,
            "depth_pct": depth_pct,
            "skipped": ring.readers.iter().map(|r| r.skipped).sum::<u64>(),
            "back_pressure": ring.back_pressure_events,
        },
        "store": g.store.as_ref().map(|s| json!({ "records": s.head().saturating_sub(s.oldest()) })),
    })
}

fn devices(g: &Generation) -> Vec<(String, Json)> {
    g.devices
        .iter()
        .zip(&g.device_kinds)
        .map(|(d, kind)| {
            (
                d.name.clone(),
                json!({ "name": d.name, "kind": kind, "up": d.is_up(), "last_error": d.last_error() }),
            )
        })
        .collect()
}

fn uplinks(g: &Generation) -> Vec<(String, Json)> {
    let head = g.store.as_ref().map_or(0, |s| s.head());
    g.uplinks
        .iter()
        .map(|u| {
            let row = json!({
                "name": u.name,
                "up": u.up.load(Relaxed),
                "backlog": u.backlog(head),
                "last_error": u.last_error(),
            });
            (u.name.clone(), row)
        })
        .collect()
}

fn components(g: &Generation) -> Vec<(String, Json)> {
    g.components
        .iter()
        .map(|c| {
            let row = json!({
                "kind": c.kind,
                "name": c.name,
                "up": c.is_up(),
                "restarts": c.restarts.load(Relaxed),
                "last_error": c.last_error(),
            });
            (format!("{} {}", c.kind, c.name), row)
        })
        .collect()
}

/// The tags matching the filter, the first `limit` in config order, and how many matched in all.
fn tags(g: &Generation, q: &str, device: &str, limit: usize) -> (Vec<(String, Json)>, Json) {
    let q = q.to_lowercase();
    let mut matched = 0usize;
    let mut rows = Vec::new();
    let mut device_names: Vec<&str> = Vec::new();
    for (i, info) in g.config.tags.info.iter().enumerate() {
        if !device_names.contains(&info.device.as_str()) {
            device_names.push(&info.device);
        }
        let hit = (device.is_empty() || info.device == device)
            && (q.is_empty()
                || info.name.to_lowercase().contains(&q)
                || info.device.to_lowercase().contains(&q));
        if !hit {
            continue;
        }
        matched += 1;
        if rows.len() < limit {
            rows.push((info.name.clone(), tag_row(g, TagId(i as u32))));
        }
    }
    let meta = json!({ "matched": matched, "shown": rows.len(), "devices": device_names });
    (rows, meta)
}

fn tag_row(g: &Generation, id: TagId) -> Json {
    let info = &g.config.tags.info[id.0 as usize];
    let mut row = json!({ "name": info.name, "device": info.device, "writable": info.writable.is_some() });
    if let Some(s) = g.snapshot.get(id) {
        row["t"] = json!(s.ts.as_nanos() / 1_000_000);
        row["q"] = json!(s.quality.label());
        if let Some(r) = s.quality.reason() {
            row["reason"] = json!(r.to_string());
        }
        row["v"] = match s.value {
            Value::Bool(b) => json!(b),
            Value::Int(i) => json!(i),
            Value::UInt(u) => json!(u),
            Value::Float(f) if f.is_finite() => json!(f),
            Value::Float(_) => Json::Null,
            Value::Text(t) => json!(g.texts.get(t).as_deref()),
        };
    }
    row
}

/// The tag's last minutes as `[[ms, value], ..]`, sent once when a row first appears on a page.
pub fn tag_history(g: &Generation, name: &str) -> Json {
    let Some(id) = g.config.tags.registry.id(name) else { return json!([]) };
    let now = Timestamp::from_nanos(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
            as i64,
    );
    let points: Vec<Json> =
        g.history.points(id, now).into_iter().map(|(ns, v)| json!([ns / 1_000_000, v])).collect();
    Json::Array(points)
}

/// Every configured alarm; a quiet (normal) one without its value, which would resend it every scan.
async fn alarms(g: &Generation) -> Vec<(String, Json)> {
    g.control
        .status("alarm")
        .await
        .into_iter()
        .map(|mut a| {
            if a["state"] == "normal"
                && let Some(o) = a.as_object_mut()
            {
                o.remove("value");
            }
            (a["tag"].as_str().unwrap_or_default().to_owned(), a)
        })
        .collect()
}

fn loops(g: &Generation) -> Vec<(String, Json)> {
    g.loops
        .list
        .iter()
        .map(|l| {
            let row = json!({
                "name": l.name,
                "kind": l.kind,
                "period_s": l.group.period.as_secs_f64(),
                "status": l.status(),
                "deadlines_missed": l.group.missed.load(Relaxed),
                "writes_failed": l.writes_failed.load(Relaxed),
            });
            (l.name.clone(), row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_from_the_query_string() {
        assert_eq!(Page::parse("").unwrap(), Page::Overview);
        assert_eq!(
            Page::parse("view=tags&q=%E9%94%85%E7%82%89&device=%E6%B3%B53&limit=20").unwrap(),
            Page::Tags { q: "锅炉".into(), device: "泵3".into(), limit: 20 }
        );
        assert_eq!(Page::parse("view=alarms").unwrap(), Page::Alarms);
        let e = Page::parse("view=trends").unwrap_err();
        assert!(e.contains("\"trends\"") && e.contains("overview, tags"), "{e}");
        assert!(Page::parse("view=tags&limit=100000").unwrap_err().contains("1 to 200"));
        // Half a character, or bytes that are not UTF-8: refused, never sliced.
        assert!(Page::parse("view=tags&q=%E9%94").is_err());
        assert!(Page::parse("view=tags&q=%E").is_err());
    }
}
