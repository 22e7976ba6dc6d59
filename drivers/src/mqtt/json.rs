//! A JSON message as samples, sans-IO: which subscribed device a topic belongs to, and each declared
//! tag's value by its JSON pointer (RFC 6901). A missing field gives no sample; a field of the wrong
//! shape gives a Bad sample and a problem to count; a payload that is not JSON gives nothing at all.

use protocols::{Reason, Sample, TagId, TextPool, Timestamp, Value};
use serde_json::Value as Json;

use super::config::{Field, Kind, Level};

/// Whether `topic` matches the template, and the `{device}` level if it has one.
pub fn match_topic<'t>(levels: &[Level], topic: &'t str) -> Option<Option<&'t str>> {
    let mut device = None;
    let mut parts = topic.split('/');
    for level in levels {
        match level {
            Level::Hash => return Some(device),
            _ => {
                let part = parts.next()?;
                match level {
                    Level::Literal(l) if l != part => return None,
                    Level::Device => device = Some(part),
                    _ => {}
                }
            }
        }
    }
    parts.next().is_none().then_some(device)
}

/// The samples of one message for one device's tags (`ids` beside `tags`), appended to `out`.
/// `Err` when the payload is not JSON; the `Ok` list holds the fields that were of the wrong shape.
pub fn decode(
    payload: &[u8],
    tags: &[(TagId, &Field)],
    timestamp: Option<&(String, i64)>,
    arrival: Timestamp,
    texts: &TextPool,
    out: &mut Vec<Sample>,
) -> Result<Vec<String>, String> {
    let doc: Json = serde_json::from_slice(payload).map_err(|e| format!("not JSON ({e})"))?;
    let mut problems = Vec::new();
    let ts = match timestamp {
        None => arrival,
        Some((pointer, unit)) => match doc.pointer(pointer).and_then(|v| instant(v, *unit)) {
            Some(t) => t,
            None => {
                problems.push(format!(
                    "timestamp {pointer} is missing, or neither epoch time nor RFC 3339 \
                     (\"2024-05-01T08:00:00+08:00\"); the time of arrival is used"
                ));
                arrival
            }
        },
    };
    for &(tag, field) in tags {
        let Field::Pointer(pointer, kind) = field else { continue };
        let Some(v) = doc.pointer(pointer) else { continue };
        out.push(match value(v, *kind, texts) {
            Ok(Some(value)) => Sample::good(tag, ts, value),
            Ok(None) => Sample::bad(tag, ts, Reason::SensorFault),
            Err(()) => {
                problems.push(format!("{pointer} is {} where {kind:?} is expected", shape(v)));
                Sample::bad(tag, ts, Reason::DecodeError)
            }
        });
    }
    Ok(problems)
}

/// Epoch time in `unit` (nanoseconds per unit), as a number or a numeric string, or an RFC 3339 text.
fn instant(v: &Json, unit: i64) -> Option<Timestamp> {
    let epoch = v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    if let Some(t) = epoch.filter(|t| t.is_finite()) {
        // `as` saturates: a timestamp past year 2262 is pinned, not wrapped.
        return Some(Timestamp((t * unit as f64) as i64));
    }
    let t: jiff::Timestamp = v.as_str()?.trim().parse().ok()?;
    i64::try_from(t.as_nanosecond()).ok().map(Timestamp)
}

/// `Ok(None)` for `null`: the device says it has no value.
fn value(v: &Json, kind: Kind, texts: &TextPool) -> Result<Option<Value>, ()> {
    if v.is_null() {
        return Ok(None);
    }
    let number = || v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    Ok(Some(match kind {
        Kind::Float => match v {
            Json::Bool(b) => Value::Float(f64::from(u8::from(*b))),
            _ => Value::Float(number().ok_or(())?),
        },
        Kind::Int => match (v.as_i64(), v.as_u64(), number()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => Value::UInt(u),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Int(f as i64),
            _ => return Err(()),
        },
        Kind::Bool => match v {
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) if n.as_f64() == Some(0.0) || n.as_f64() == Some(1.0) => {
                Value::Bool(n.as_f64() == Some(1.0))
            }
            Json::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "on" | "1" => Value::Bool(true),
                "false" | "off" | "0" => Value::Bool(false),
                _ => return Err(()),
            },
            _ => return Err(()),
        },
        Kind::Text => match v {
            Json::String(s) => Value::Text(texts.intern(s)),
            Json::Number(_) | Json::Bool(_) => Value::Text(texts.intern(&v.to_string())),
            _ => return Err(()),
        },
    }))
}

fn shape(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
