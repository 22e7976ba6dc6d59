//! InfluxDB line protocol encoder: one point, one line, written into any `core::fmt::Write`.
//!
//! `measurement,tag=value field=1.5,count=3i 1700000000000000000\n`
//!
//! Sans-IO and allocation-free, so the firmware build can use it. Escaping follows the InfluxDB line
//! protocol reference: a backslash goes before a comma or space in the measurement, before a comma, equals
//! sign or space in tag keys, tag values and field keys, and before a double quote in string field values.
//! The reference reads two backslashes as one, so every literal backslash is doubled as well; without that
//! a name like `a\` followed by the tag separator would read as an escaped comma.
//!
//! What cannot be escaped is refused with a [`LineError`] naming the element: newlines (they end the line),
//! other control characters in names (a tab separates elements for InfluxDB's parser), an empty name, a
//! name ending in a backslash (InfluxDB's parser refuses it), a measurement starting with `#` (a comment).
//!
//! A float field that is NaN or infinite is **skipped** (line protocol has no spelling for it); the point
//! is still written with its other fields. If no field remains the point is **not written** at all and
//! [`LineError::NoFields`] is returned. Validation runs before the first character is written, so a
//! refused point leaves `out` untouched.

use core::fmt;

/// One field value. Integers keep their sign class so the historian stores `i` and `u` columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Float(f64),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Str(&'a str),
}

/// One line: a measurement, its tags, at least one field, and an optional timestamp in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point<'a> {
    pub measurement: &'a str,
    /// Tags with an empty value are left out (line protocol has no empty tag value).
    pub tags: &'a [(&'a str, &'a str)],
    pub fields: &'a [(&'a str, FieldValue<'a>)],
    /// Nanoseconds since the Unix epoch; `None` lets the server stamp the point on arrival.
    pub timestamp_ns: Option<i64>,
}

/// Which part of a point an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    Measurement,
    TagKey,
    TagValue,
    FieldKey,
    StringValue,
}

impl Element {
    fn label(self) -> &'static str {
        match self {
            Element::Measurement => "measurement",
            Element::TagKey => "tag key",
            Element::TagValue => "tag value",
            Element::FieldKey => "field key",
            Element::StringValue => "string field value",
        }
    }
}

/// Why a point could not be written. `index` is the position in `tags` or `fields` (0 for the measurement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// A newline or other control character that line protocol cannot escape.
    ControlChar {
        element: Element,
        index: usize,
    },
    Empty {
        element: Element,
        index: usize,
    },
    TrailingBackslash {
        element: Element,
        index: usize,
    },
    /// A measurement starting with `#` would be read as a comment line.
    CommentMeasurement,
    /// No field left to write (none given, or every float was NaN or infinite).
    NoFields,
    /// The writer refused the text.
    Write,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LineError::ControlChar { element, index } => write!(
                f,
                "line protocol: {} #{index} holds a newline or control character, which cannot be escaped; \
                 remove it from the name or value",
                element.label()
            ),
            LineError::Empty { element, index } => {
                write!(f, "line protocol: {} #{index} is empty; give it a name", element.label())
            }
            LineError::TrailingBackslash { element, index } => write!(
                f,
                "line protocol: {} #{index} ends with a backslash, which InfluxDB refuses; rename it",
                element.label()
            ),
            LineError::CommentMeasurement => {
                f.write_str("line protocol: a measurement starting with '#' reads as a comment; rename it")
            }
            LineError::NoFields => f.write_str(
                "line protocol: no field to write (none given, or all were NaN or infinite); point skipped",
            ),
            LineError::Write => f.write_str("line protocol: the output buffer refused the text (full?)"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LineError {}

const MEASUREMENT_SPECIALS: &[u8] = b", \\";
const KEY_SPECIALS: &[u8] = b",= \\";
const STRING_SPECIALS: &[u8] = b"\"\\";

/// Writes `p` as one line ending in `\n`. A point that fails validation writes nothing; a writer that
/// fails midway ([`LineError::Write`]) may hold part of the line.
///
/// ```
/// use protocols::line_protocol::{FieldValue, Point, write_point};
///
/// let tags = [("site", "north"), ("line", "")];
/// let fields = [("temp", FieldValue::Float(952.3)), ("burner_on", FieldValue::Bool(true))];
/// let kiln = Point { measurement: "kiln", tags: &tags, fields: &fields, timestamp_ns: Some(1_700_000_000_000_000_000) };
/// let mut line = String::new();
/// write_point(&mut line, &kiln).unwrap();
/// assert_eq!(line, "kiln,site=north temp=952.3,burner_on=true 1700000000000000000\n");
/// ```
pub fn write_point(out: &mut impl fmt::Write, p: &Point) -> Result<(), LineError> {
    validate(p)?;
    write_valid(out, p).map_err(|_| LineError::Write)
}

fn writable(value: &FieldValue) -> bool {
    match value {
        FieldValue::Float(x) => x.is_finite(),
        _ => true,
    }
}

fn check_name(s: &str, element: Element, index: usize) -> Result<(), LineError> {
    if s.is_empty() {
        return Err(LineError::Empty { element, index });
    }
    if s.chars().any(char::is_control) {
        return Err(LineError::ControlChar { element, index });
    }
    if s.ends_with('\\') {
        return Err(LineError::TrailingBackslash { element, index });
    }
    Ok(())
}

fn validate(p: &Point) -> Result<(), LineError> {
    check_name(p.measurement, Element::Measurement, 0)?;
    if p.measurement.starts_with('#') {
        return Err(LineError::CommentMeasurement);
    }
    for (index, (key, value)) in p.tags.iter().enumerate() {
        if value.is_empty() {
            continue;
        }
        check_name(key, Element::TagKey, index)?;
        check_name(value, Element::TagValue, index)?;
    }
    let mut any = false;
    for (index, (key, value)) in p.fields.iter().enumerate() {
        if !writable(value) {
            continue;
        }
        check_name(key, Element::FieldKey, index)?;
        if matches!(value, FieldValue::Str(s) if s.contains(['\n', '\r'])) {
            return Err(LineError::ControlChar { element: Element::StringValue, index });
        }
        any = true;
    }
    if any { Ok(()) } else { Err(LineError::NoFields) }
}

fn write_escaped(out: &mut impl fmt::Write, s: &str, specials: &[u8]) -> fmt::Result {
    // Every special is ASCII, so a byte match is always a char boundary and the slices stay valid UTF-8.
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if specials.contains(&b) {
            out.write_str(&s[start..i])?;
            out.write_char('\\')?;
            out.write_char(b as char)?;
            start = i + 1;
        }
    }
    out.write_str(&s[start..])
}

/// Shortest text that parses back to the same bits. Rust's `Display` never uses an exponent, which would
/// spell 1e-300 with 300 zeros, so very small and very large magnitudes use `LowerExp` instead.
fn write_float(out: &mut impl fmt::Write, x: f64) -> fmt::Result {
    let m = x.abs();
    if m == 0.0 || (1e-5..1e16).contains(&m) { write!(out, "{x}") } else { write!(out, "{x:e}") }
}

fn write_valid(out: &mut impl fmt::Write, p: &Point) -> fmt::Result {
    write_escaped(out, p.measurement, MEASUREMENT_SPECIALS)?;
    for (key, value) in p.tags.iter().filter(|(_, v)| !v.is_empty()) {
        out.write_char(',')?;
        write_escaped(out, key, KEY_SPECIALS)?;
        out.write_char('=')?;
        write_escaped(out, value, KEY_SPECIALS)?;
    }
    let mut sep = ' ';
    for (key, value) in p.fields.iter().filter(|(_, v)| writable(v)) {
        out.write_char(sep)?;
        sep = ',';
        write_escaped(out, key, KEY_SPECIALS)?;
        out.write_char('=')?;
        match *value {
            FieldValue::Float(x) => write_float(out, x)?,
            FieldValue::Int(i) => write!(out, "{i}i")?,
            FieldValue::UInt(u) => write!(out, "{u}u")?,
            FieldValue::Bool(b) => out.write_str(if b { "true" } else { "false" })?,
            FieldValue::Str(s) => {
                out.write_char('"')?;
                write_escaped(out, s, STRING_SPECIALS)?;
                out.write_char('"')?;
            }
        }
    }
    if let Some(ts) = p.timestamp_ns {
        write!(out, " {ts}")?;
    }
    out.write_char('\n')
}

#[cfg(test)]
mod tests;
