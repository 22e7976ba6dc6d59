//! How a sample looks to InfluxDB: one line-protocol point per sample.
//!
//! `<device>,site=..,gateway=..,tag=<tag> value=<v>[,quality="bad",reason="timeout"] <ts>`: one series per
//! tag, so a resent sample lands on the same series and timestamp and the historian stores it once. Quality
//! travels as fields, never as a tag, so a tag going bad does not split its series.
//!
//! The field is named by the value's type, because InfluxDB fixes a field's type per measurement (shard)
//! and refuses a write that mixes them: a device's float tags write `value`, its counters `value_int`
//! (exact, with `i`), switches `value_bool`, texts `value_text`. InfluxDB 1.x has no unsigned type, so
//! unsigned values are written as integers, and the few above i64::MAX as floats.

use protocols::line_protocol::{FieldValue, LineError, Point, write_point};
use protocols::{Sample, TextPool, Value};

use crate::store::Dictionary;

/// Why a sample has no point.
#[derive(Debug, thiserror::Error)]
pub enum PointError {
    #[error("tag id {0} is not in the segment's dictionary")]
    UnknownTag(u32),
    #[error(transparent)]
    Line(#[from] LineError),
}

/// [`write_sample`] with the text values of a running generation.
pub fn write_live(
    out: &mut String,
    dict: &Dictionary,
    texts: &TextPool,
    sample: &Sample,
) -> Result<(), PointError> {
    let text = match sample.value {
        Value::Text(id) => texts.get(id),
        _ => None,
    };
    write_sample(out, dict, sample, text.as_deref())
}

/// Appends the point for `sample` (one line, with its newline) to `out`; `text` is the sample's text value,
/// if it has one. Nothing is appended on error.
pub fn write_sample(
    out: &mut String,
    dict: &Dictionary,
    sample: &Sample,
    text: Option<&str>,
) -> Result<(), PointError> {
    let (device, name) = dict.tags.get(sample.tag.0 as usize).ok_or(PointError::UnknownTag(sample.tag.0))?;
    let tags = [("site", dict.site.as_str()), ("gateway", dict.gateway.as_str()), ("tag", name.as_str())];
    let mut fields: Vec<(&str, FieldValue<'_>)> = Vec::with_capacity(3);
    match sample.value {
        Value::Bool(b) => fields.push(("value_bool", FieldValue::Bool(b))),
        Value::Int(i) => fields.push(("value_int", FieldValue::Int(i))),
        Value::UInt(u) => match i64::try_from(u) {
            Ok(i) => fields.push(("value_int", FieldValue::Int(i))),
            Err(_) => fields.push(("value", FieldValue::Float(u as f64))),
        },
        // A Bad sample's NaN has no line-protocol form; its quality fields carry the point.
        Value::Float(f) if f.is_finite() => fields.push(("value", FieldValue::Float(f))),
        Value::Float(_) => {}
        Value::Text(_) => {
            if let Some(t) = text {
                fields.push(("value_text", FieldValue::Str(t)));
            }
        }
    }
    let reason;
    if !sample.quality.is_good() {
        fields.push(("quality", FieldValue::Str(sample.quality.label())));
        if let Some(r) = sample.quality.reason() {
            reason = r.to_string();
            fields.push(("reason", FieldValue::Str(&reason)));
        }
    }
    let point =
        Point { measurement: device, tags: &tags, fields: &fields, timestamp_ns: Some(sample.ts.as_nanos()) };
    let mark = out.len();
    write_point(out, &point).inspect_err(|_| out.truncate(mark))?;
    Ok(())
}
