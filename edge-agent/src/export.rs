//! How a sample looks outside the agent: one InfluxDB line-protocol point per sample.
//!
//! `<device>,site=..,gateway=..,tag=<tag> value=<v>[,quality="bad",reason="timeout"] <ts>`: one series per
//! tag, so a resent sample lands on the same series and timestamp and the historian stores it once. Quality
//! travels as fields, never as a tag, so a tag going bad does not split its series.

use protocols::line_protocol::{FieldValue, LineError, Point, write_point};
use protocols::{Sample, TextPool, Value};

use crate::config::Config;

/// Appends the point for `sample` (one line, with its newline) to `out`. Nothing is appended on error.
pub fn write_sample(
    out: &mut String,
    config: &Config,
    texts: &TextPool,
    sample: &Sample,
) -> Result<(), LineError> {
    let info = &config.tags.info[sample.tag.0 as usize];
    let tags = [
        ("site", config.agent.site.as_str()),
        ("gateway", config.agent.gateway.as_str()),
        ("tag", info.name.as_str()),
    ];
    let text;
    let mut fields: Vec<(&str, FieldValue<'_>)> = Vec::with_capacity(3);
    match sample.value {
        Value::Bool(b) => fields.push(("value", FieldValue::Bool(b))),
        Value::Int(i) => fields.push(("value", FieldValue::Int(i))),
        Value::UInt(u) => fields.push(("value", FieldValue::UInt(u))),
        // A Bad sample's NaN has no line-protocol form; its quality fields carry the point.
        Value::Float(f) if f.is_finite() => fields.push(("value", FieldValue::Float(f))),
        Value::Float(_) => {}
        Value::Text(id) => {
            text = texts.get(id);
            if let Some(t) = text.as_deref() {
                fields.push(("value", FieldValue::Str(t)));
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
    let point = Point {
        measurement: &info.device,
        tags: &tags,
        fields: &fields,
        timestamp_ns: Some(sample.ts.as_nanos()),
    };
    let mark = out.len();
    write_point(out, &point).inspect_err(|_| out.truncate(mark))
}
