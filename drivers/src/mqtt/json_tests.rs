//! Topics and payloads as a boiler house sends them.

use protocols::{Quality, Reason, Sample, TagId, TextPool, Timestamp, Value};

use super::{decode, match_topic};
use crate::mqtt::config::{Field, Kind, Level};

fn levels(t: &str) -> Vec<Level> {
    t.split('/')
        .map(|p| match p {
            "{device}" => Level::Device,
            "+" => Level::Plus,
            "#" => Level::Hash,
            p => Level::Literal(p.to_owned()),
        })
        .collect()
}

#[test]
fn a_topic_matches_its_template_and_gives_the_device_level() {
    let cases: &[(&str, &str, Option<Option<&str>>)] = &[
        ("厂区/{device}/遥测", "厂区/锅炉一号/遥测", Some(Some("锅炉一号"))),
        ("厂区/{device}/遥测", "厂区/锅炉一号/报警", None),
        ("厂区/{device}/遥测", "厂区/锅炉一号/遥测/多余", None),
        ("厂区/{device}/遥测", "厂区/锅炉一号", None),
        ("厂区/+/{device}", "厂区/二车间/锅炉二号", Some(Some("锅炉二号"))),
        ("厂区/{device}/#", "厂区/锅炉一号/a/b/c", Some(Some("锅炉一号"))),
        ("厂区/固定", "厂区/固定", Some(None)),
    ];
    for &(template, topic, want) in cases {
        assert_eq!(match_topic(&levels(template), topic), want, "{template} against {topic}");
    }
}

/// Decodes `payload` for the tags `(pointer, kind)`, tag ids in order, arrival at 1 s.
fn run(
    payload: &str,
    tags: &[(&str, Kind)],
    ts: Option<(&str, i64)>,
) -> (Result<Vec<String>, String>, Vec<Sample>) {
    let fields: Vec<Field> = tags.iter().map(|(p, k)| Field::Pointer((*p).to_owned(), *k)).collect();
    let ids: Vec<(TagId, &Field)> = fields.iter().enumerate().map(|(i, f)| (TagId(i as u32), f)).collect();
    let ts = ts.map(|(p, u)| (p.to_owned(), u));
    let mut out = Vec::new();
    let r =
        decode(payload.as_bytes(), &ids, ts.as_ref(), Timestamp(1_000_000_000), &TextPool::new(), &mut out);
    (r, out)
}

#[test]
fn pointers_reach_nested_fields_and_arrays_by_chinese_keys() {
    let body = r#"{"锅炉": {"温度": 81.5, "压力": [0.8, "1.25"]}, "运行": "on", "计数": 42}"#;
    let tags = [
        ("/锅炉/温度", Kind::Float),
        ("/锅炉/压力/1", Kind::Float),
        ("/运行", Kind::Bool),
        ("/计数", Kind::Int),
        ("/不存在", Kind::Float),
    ];
    let (r, out) = run(body, &tags, None);
    assert_eq!(r, Ok(vec![]));
    let values: Vec<(u32, Value)> = out.iter().map(|s| (s.tag.0, s.value)).collect();
    assert_eq!(
        values,
        [(0, Value::Float(81.5)), (1, Value::Float(1.25)), (2, Value::Bool(true)), (3, Value::Int(42))],
        "a missing field gives no sample"
    );
    assert!(out.iter().all(|s| s.quality == Quality::Good && s.ts == Timestamp(1_000_000_000)));
}

#[test]
fn timestamps_come_from_epoch_numbers_in_their_unit_or_from_rfc_3339() {
    // 2024-05-01T00:00:00Z
    let at = 1_714_521_600_000_000_000i64;
    let cases = [
        (r#"{"ts": 1714521600000, "v": 1}"#, 1_000_000, at),
        (r#"{"ts": "1714521600000", "v": 1}"#, 1_000_000, at),
        (r#"{"ts": 1714521600.5, "v": 1}"#, 1_000_000_000, at + 500_000_000),
        (r#"{"ts": "2024-05-01T08:00:00+08:00", "v": 1}"#, 1_000_000, at),
        (r#"{"ts": "2024-05-01T00:00:00.250Z", "v": 1}"#, 1_000_000, at + 250_000_000),
    ];
    for (body, unit, want) in cases {
        let (r, out) = run(body, &[("/v", Kind::Float)], Some(("/ts", unit)));
        assert_eq!(r, Ok(vec![]), "{body}");
        assert_eq!(out[0].ts, Timestamp(want), "{body}");
    }
}

#[test]
fn a_bad_timestamp_falls_back_to_arrival_and_says_so() {
    for body in [r#"{"v": 1}"#, r#"{"ts": "昨天", "v": 1}"#, r#"{"ts": true, "v": 1}"#] {
        let (r, out) = run(body, &[("/v", Kind::Float)], Some(("/ts", 1_000_000)));
        let problems = r.unwrap();
        assert_eq!(problems.len(), 1, "{body}");
        assert!(problems[0].contains("timestamp /ts") && problems[0].contains("RFC 3339"), "{problems:?}");
        assert_eq!(out[0].ts, Timestamp(1_000_000_000), "{body}");
    }
}

#[test]
fn wrong_shapes_are_bad_samples_with_a_problem_and_null_is_a_sensor_fault() {
    let body = r#"{"温度": {"x": 1}, "运行": "也许", "计数": 1.5, "备注": null}"#;
    let tags = [("/温度", Kind::Float), ("/运行", Kind::Bool), ("/计数", Kind::Int), ("/备注", Kind::Text)];
    let (r, out) = run(body, &tags, None);
    let problems = r.unwrap();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("/温度 is an object where Float is expected"), "{problems:?}");
    let q: Vec<Quality> = out.iter().map(|s| s.quality).collect();
    assert_eq!(
        q,
        [
            Quality::Bad(Reason::DecodeError),
            Quality::Bad(Reason::DecodeError),
            Quality::Bad(Reason::DecodeError),
            Quality::Bad(Reason::SensorFault)
        ]
    );
}

#[test]
fn a_payload_that_is_not_json_gives_no_sample_and_an_error() {
    for body in ["{\"温度\": 8", "", "温度=80", "\u{feff}{}x"] {
        let (r, out) = run(body, &[("/温度", Kind::Float)], None);
        assert!(r.as_ref().is_err_and(|e| e.starts_with("not JSON")), "{body:?}: {r:?}");
        assert!(out.is_empty());
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(protocols::testkit::cases()))]
    #[test]
    fn any_payload_decodes_or_errs_without_a_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200), text in "\\PC{0,60}") {
        let tags = [("/温度", Kind::Float), ("/a/0", Kind::Int), ("/b", Kind::Bool), ("/c", Kind::Text)];
        let _ = run(&String::from_utf8_lossy(&body), &tags, Some(("/ts", 1_000_000)));
        let _ = run(&format!(r#"{{"ts": "{text}", "温度": "{text}", "b": "{text}"}}"#), &tags, Some(("/ts", 1)));
    }
}
