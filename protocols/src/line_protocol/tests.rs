use super::*;
use influxdb_line_protocol as reference;
use proptest::prelude::*;

use crate::testkit::{self, text};

fn line(p: &Point) -> Result<String, LineError> {
    let mut out = String::new();
    write_point(&mut out, p)?;
    Ok(out)
}

fn one_field<'a>(
    measurement: &'a str,
    tags: &'a [(&'a str, &'a str)],
    fields: &'a [(&'a str, FieldValue<'a>)],
) -> Point<'a> {
    Point { measurement, tags, fields, timestamp_ns: None }
}

#[test]
fn escaping_follows_the_reference_per_element() {
    let v = [("v", FieldValue::Int(1))];
    // (measurement, tag key, tag value, field key, string value, expected line)
    let cases: &[(&str, &str, &str, &str, &str, &str)] = &[
        ("kiln", "site", "north", "temp", "ok", "kiln,site=north temp=\"ok\",v=1i\n"),
        ("kiln line", "k", "v", "f", "s", "kiln\\ line,k=v f=\"s\",v=1i\n"),
        ("kiln,2", "k", "v", "f", "s", "kiln\\,2,k=v f=\"s\",v=1i\n"),
        ("kiln=2", "k", "v", "f", "s", "kiln=2,k=v f=\"s\",v=1i\n"),
        ("kiln\"2", "k", "v", "f", "s", "kiln\"2,k=v f=\"s\",v=1i\n"),
        ("m", "a b", "c,d", "e=f", "s", "m,a\\ b=c\\,d e\\=f=\"s\",v=1i\n"),
        ("m", "a=b", "c=d", "e,f g", "s", "m,a\\=b=c\\=d e\\,f\\ g=\"s\",v=1i\n"),
        ("m", "k", "v", "f", "say \"hi\"", "m,k=v f=\"say \\\"hi\\\"\",v=1i\n"),
        ("m", "k", "v", "f", "C:\\temp", "m,k=v f=\"C:\\\\temp\",v=1i\n"),
        ("m", "k", "v", "f", "a,b c=d", "m,k=v f=\"a,b c=d\",v=1i\n"),
        ("m\\x", "k\\x", "v", "f", "s\\", "m\\\\x,k\\\\x=v f=\"s\\\\\",v=1i\n"),
        ("m", "k", "\"q\"", "f\"", "s", "m,k=\"q\" f\"=\"s\",v=1i\n"),
        ("°C", "zone", "öst", "wärme", "日本", "°C,zone=öst wärme=\"日本\",v=1i\n"),
    ];
    for &(m, tk, tv, fk, sv, expected) in cases {
        let tags = [(tk, tv)];
        let fields = [(fk, FieldValue::Str(sv)), v[0]];
        assert_eq!(
            line(&one_field(m, &tags, &fields)).unwrap(),
            expected,
            "{m:?} {tk:?} {tv:?} {fk:?} {sv:?}"
        );
    }
}

#[test]
fn field_types_have_their_suffixes() {
    let cases: &[(FieldValue, &str)] = &[
        (FieldValue::Int(-42), "-42i"),
        (FieldValue::Int(i64::MIN), "-9223372036854775808i"),
        (FieldValue::UInt(u64::MAX), "18446744073709551615u"),
        (FieldValue::Bool(true), "true"),
        (FieldValue::Bool(false), "false"),
        (FieldValue::Float(1.0), "1"),
        (FieldValue::Float(-0.5), "-0.5"),
        (FieldValue::Float(0.1), "0.1"),
        (FieldValue::Float(-0.0), "-0"),
        (FieldValue::Float(952.3), "952.3"),
        (FieldValue::Float(1e300), "1e300"),
        (FieldValue::Float(1.5e-7), "1.5e-7"),
        (FieldValue::Float(f64::MAX), "1.7976931348623157e308"),
        (FieldValue::Float(5e-324), "5e-324"),
        (FieldValue::Str(""), "\"\""),
    ];
    for (value, text) in cases {
        let fields = [("x", *value)];
        let p = Point {
            measurement: "m",
            tags: &[],
            fields: &fields,
            timestamp_ns: Some(1_700_000_000_000_000_000),
        };
        assert_eq!(line(&p).unwrap(), format!("m x={text} 1700000000000000000\n"), "{value:?}");
    }
}

#[test]
fn empty_tag_values_are_left_out() {
    let tags = [("site", ""), ("line", "2"), ("", "")];
    let fields = [("v", FieldValue::Float(3.5))];
    assert_eq!(line(&one_field("m", &tags, &fields)).unwrap(), "m,line=2 v=3.5\n");
}

#[test]
fn non_finite_floats_are_skipped_and_an_empty_point_is_not_written() {
    let fields = [
        ("a", FieldValue::Float(f64::NAN)),
        ("b", FieldValue::Int(2)),
        ("c", FieldValue::Float(f64::INFINITY)),
    ];
    assert_eq!(line(&one_field("m", &[], &fields)).unwrap(), "m b=2i\n");

    let fields = [("a", FieldValue::Float(f64::NAN)), ("c", FieldValue::Float(f64::NEG_INFINITY))];
    let mut out = String::from("before\n");
    assert_eq!(write_point(&mut out, &one_field("m", &[], &fields)), Err(LineError::NoFields));
    assert_eq!(out, "before\n", "a refused point writes nothing");
    assert_eq!(line(&one_field("m", &[], &[])), Err(LineError::NoFields));
}

/// (measurement, second tag, second field, expected error)
type Refusal<'a> = (&'a str, (&'a str, &'a str), (&'a str, FieldValue<'a>), LineError);

#[test]
fn what_cannot_be_escaped_is_refused_with_its_place() {
    use Element::*;
    let ok = FieldValue::Int(1);
    let cases: &[Refusal] = &[
        ("a\nb", ("k", "v"), ("f", ok), LineError::ControlChar { element: Measurement, index: 0 }),
        ("m", ("k\n", "v"), ("f", ok), LineError::ControlChar { element: TagKey, index: 1 }),
        ("m", ("k", "v\r"), ("f", ok), LineError::ControlChar { element: TagValue, index: 1 }),
        ("m", ("k", "v\tw"), ("f", ok), LineError::ControlChar { element: TagValue, index: 1 }),
        ("m", ("k", "v"), ("f\n", ok), LineError::ControlChar { element: FieldKey, index: 1 }),
        (
            "m",
            ("k", "v"),
            ("f", FieldValue::Str("x\ny")),
            LineError::ControlChar { element: StringValue, index: 1 },
        ),
        ("", ("k", "v"), ("f", ok), LineError::Empty { element: Measurement, index: 0 }),
        ("m", ("", "v"), ("f", ok), LineError::Empty { element: TagKey, index: 1 }),
        ("m", ("k", "v"), ("", ok), LineError::Empty { element: FieldKey, index: 1 }),
        ("m\\", ("k", "v"), ("f", ok), LineError::TrailingBackslash { element: Measurement, index: 0 }),
        ("m", ("k", "v\\"), ("f", ok), LineError::TrailingBackslash { element: TagValue, index: 1 }),
        ("#m", ("k", "v"), ("f", ok), LineError::CommentMeasurement),
    ];
    for (m, tag, field, err) in cases {
        let tags = [("site", "a"), *tag];
        let fields = [("g", ok), *field];
        let mut out = String::new();
        assert_eq!(
            write_point(&mut out, &one_field(m, &tags, &fields)),
            Err(*err),
            "{m:?} {tag:?} {field:?}"
        );
        assert!(out.is_empty());
    }
    let msg = LineError::ControlChar { element: TagValue, index: 3 }.to_string();
    assert!(msg.contains("tag value #3") && msg.contains("newline"), "{msg}");
}

#[test]
fn a_full_buffer_is_reported() {
    struct Full;
    impl fmt::Write for Full {
        fn write_str(&mut self, _: &str) -> fmt::Result {
            Err(fmt::Error)
        }
    }
    let fields = [("v", FieldValue::Bool(true))];
    assert_eq!(write_point(&mut Full, &one_field("m", &[], &fields)), Err(LineError::Write));
}

/// A field value as the reference parser returns it, owned for comparison.
#[derive(Debug, PartialEq)]
enum Owned {
    Float(u64),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Str(String),
}

impl From<&FieldValue<'_>> for Owned {
    fn from(v: &FieldValue) -> Self {
        match *v {
            FieldValue::Float(x) => Owned::Float(x.to_bits()),
            FieldValue::Int(i) => Owned::Int(i),
            FieldValue::UInt(u) => Owned::UInt(u),
            FieldValue::Bool(b) => Owned::Bool(b),
            FieldValue::Str(s) => Owned::Str(s.to_owned()),
        }
    }
}

type Parsed = (String, Vec<(String, String)>, Vec<(String, Owned)>, Option<i64>);

/// Reads a line back with InfluxDB's own Rust parser (the one InfluxDB 3 uses), not with our code.
fn read_back(text: &str) -> Parsed {
    let mut lines = reference::parse_lines(text);
    let parsed = lines.next().expect("one line").unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"));
    assert!(lines.next().is_none(), "exactly one line in {text:?}");
    let tags = parsed
        .series
        .tag_set
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
        .collect();
    let fields = parsed
        .field_set
        .iter()
        .map(|(k, v)| {
            let v = match v {
                reference::FieldValue::F64(x) => Owned::Float(x.to_bits()),
                reference::FieldValue::I64(i) => Owned::Int(*i),
                reference::FieldValue::U64(u) => Owned::UInt(*u),
                reference::FieldValue::Boolean(b) => Owned::Bool(*b),
                reference::FieldValue::String(s) => Owned::Str(s.as_str().to_owned()),
            };
            (k.as_str().to_owned(), v)
        })
        .collect();
    (parsed.series.measurement.as_str().to_owned(), tags, fields, parsed.timestamp)
}

/// Names made mostly of the characters line protocol treats specially.
fn name() -> impl Strategy<Value = String> {
    text("[a-z ,=\"\\\\#_.°ö日]{1,12}").prop_filter("valid name", |s| !s.ends_with('\\'))
}

fn value() -> impl Strategy<Value = (u8, i64, u64, f64, String)> {
    (0u8..5, any::<i64>(), any::<u64>(), any::<f64>(), text("[a-z ,=\"\\\\\t'{}日]{0,16}"))
}

fn field_value(v: &(u8, i64, u64, f64, String)) -> FieldValue<'_> {
    match v.0 {
        0 => FieldValue::Int(v.1),
        1 => FieldValue::UInt(v.2),
        2 => FieldValue::Float(v.3),
        3 => FieldValue::Bool(v.1 % 2 == 0),
        _ => FieldValue::Str(&v.4),
    }
}

/// Text for any element: line protocol's specials, control characters, a comment mark, Chinese.
const ANY: &str = "[a-z ,=\"\\\\#\n\r\t\u{0}\u{7f}日锅炉°]{0,6}";

/// Whether the element a refusal names has the fault it names.
fn refusal_is_true(e: &LineError, p: &Point) -> bool {
    let shown = e.to_string();
    let (element, index) = match *e {
        LineError::ControlChar { element, index }
        | LineError::Empty { element, index }
        | LineError::TrailingBackslash { element, index } => (element, index),
        LineError::CommentMeasurement => return p.measurement.starts_with('#'),
        LineError::NoFields => return !p.fields.iter().any(|(_, v)| writable(v)),
        LineError::Write => return false,
    };
    let s = match element {
        Element::Measurement => p.measurement,
        Element::TagKey => p.tags[index].0,
        Element::TagValue => p.tags[index].1,
        Element::FieldKey => p.fields[index].0,
        Element::StringValue => match p.fields[index].1 {
            FieldValue::Str(s) => s,
            _ => return false,
        },
    };
    let fault = match e {
        LineError::ControlChar { element: Element::StringValue, .. } => s.contains(['\n', '\r']),
        LineError::ControlChar { .. } => s.chars().any(char::is_control),
        LineError::Empty { .. } => s.is_empty(),
        _ => s.ends_with('\\'),
    };
    fault && shown.contains(&format!("{} #{index}", element.label()))
}

mod fuzz {
    //! The encoder under any text and value a device, a config or a peer can hand it: written so
    //! InfluxDB's own parser reads back exactly that, or refused naming the element at fault.
    use super::*;

    proptest! {
        #![proptest_config(testkit::config())]

        #[test]
        fn the_reference_parser_reads_back_what_was_written(
            measurement in name().prop_filter("not a comment", |m| !m.starts_with('#')),
            tags in proptest::collection::vec((name(), proptest::option::of(name())), 0..4),
            fields in proptest::collection::vec((name(), value()), 1..4),
            ts in proptest::option::of(any::<i64>()),
        ) {
            let tags: Vec<(&str, &str)> =
                tags.iter().map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or(""))).collect();
            let fields: Vec<(&str, FieldValue)> = fields.iter().map(|(k, v)| (k.as_str(), field_value(v))).collect();
            let p = Point { measurement: &measurement, tags: &tags, fields: &fields, timestamp_ns: ts };
            let kept: Vec<(String, Owned)> = fields
                .iter()
                .filter(|(_, v)| !matches!(v, FieldValue::Float(x) if !x.is_finite()))
                .map(|(k, v)| ((*k).to_owned(), Owned::from(v)))
                .collect();
            match write_point(&mut String::new(), &p) {
                Err(LineError::NoFields) => prop_assert!(kept.is_empty()),
                Err(e) => prop_assert!(false, "valid point refused: {e}"),
                Ok(()) => {
                    let text = line(&p).unwrap();
                    prop_assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
                    let (m, t, f, back_ts) = read_back(&text);
                    prop_assert_eq!(m, measurement.clone());
                    let expected_tags: Vec<(String, String)> = tags
                        .iter()
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect();
                    prop_assert_eq!(t, expected_tags);
                    prop_assert_eq!(f, kept);
                    prop_assert_eq!(back_ts, ts);
                }
            }
        }

        #[test]
        fn finite_floats_round_trip_bit_for_bit(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let fields = [("v", FieldValue::Float(x))];
            let text = line(&one_field("m", &[], &fields)).unwrap();
            let (_, _, f, _) = read_back(&text);
            prop_assert_eq!(f, vec![("v".to_owned(), Owned::Float(x.to_bits()))]);
        }

        #[test]
        fn any_text_is_written_cleanly_or_refused_naming_the_element(
            m in text(ANY),
            tags in proptest::collection::vec((text(ANY), text(ANY)), 0..3),
            fields in proptest::collection::vec((text(ANY), value()), 0..3),
        ) {
            let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let fields: Vec<(&str, FieldValue)> = fields.iter().map(|(k, v)| (k.as_str(), field_value(v))).collect();
            let p = Point { measurement: &m, tags: &tags, fields: &fields, timestamp_ns: None };
            let mut out = String::new();
            match write_point(&mut out, &p) {
                Ok(()) => {
                    let (back_m, back_tags, _, _) = read_back(&out);
                    prop_assert_eq!(back_m, m.clone());
                    let written: Vec<(String, String)> = tags.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
                    prop_assert_eq!(back_tags, written);
                }
                Err(e) => {
                    prop_assert!(out.is_empty());
                    prop_assert!(refusal_is_true(&e, &p), "{:?} for {:?}", e, p);
                }
            }
        }
    }
}
