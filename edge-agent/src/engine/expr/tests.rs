//! The expression language, table-driven, on a boiler whose tags are named in Chinese; and fuzzed.

use proptest::prelude::*;
use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};

use super::*;
use crate::engine::{Emitter, Engine};

fn value(text: &str, tags: &[f64]) -> Result<Val, String> {
    let p = parse(text).map_err(|f| f.what)?;
    eval(&p.root, tags).map_err(|f| f.what)
}

#[test]
fn arithmetic_comparisons_functions_and_conditions_evaluate() {
    let cases: &[(&str, &[f64], Val)] = &[
        ("1 + 2 * 3", &[], Val::Num(7.0)),
        ("(1 + 2) * 3", &[], Val::Num(9.0)),
        ("2 ^ 3 ^ 2", &[], Val::Num(512.0)),
        ("-2 ^ 2", &[], Val::Num(-4.0)),
        ("7 % 4 - 10 / 4", &[], Val::Num(0.5)),
        ("1.5e3 + .5", &[], Val::Num(1500.5)),
        ("锅炉一号.流量 * (锅炉一号.出水温度 - 锅炉一号.回水温度)", &[2.0, 80.0, 60.0], Val::Num(40.0)),
        ("{meter-3.kw} + {meter-4.kw}", &[1.25, 2.5], Val::Num(3.75)),
        ("min(3, a, 2) + max(a, 0.5)", &[1.0], Val::Num(2.0)),
        ("abs(a) + sqrt(16) + pow(a, 2)", &[-3.0], Val::Num(3.0 + 4.0 + 9.0)),
        ("if a > 5 then 1 else 0", &[6.0], Val::Num(1.0)),
        ("if a > 5 and not (a >= 10) then a else -a", &[12.0], Val::Num(-12.0)),
        ("a == 1 or a != a", &[2.0], Val::Bool(false)),
        ("1 + if a <= 0 then 10 else 20", &[0.0], Val::Num(11.0)),
        ("true and false or true", &[], Val::Bool(true)),
    ];
    for (text, tags, expected) in cases {
        assert_eq!(value(text, tags), Ok(*expected), "{text}");
    }
}

#[test]
fn arithmetic_faults_say_what_happened_and_never_panic() {
    let cases: &[(&str, &[f64], &str)] = &[
        ("a / b", &[1.0, 0.0], "division by zero"),
        ("a % 0", &[1.0], "division by zero"),
        ("sqrt(a - 10)", &[1.0], "square root of a negative number (-9)"),
        ("pow(0, -1)", &[], "division by zero"),
        ("pow(a, 0.5)", &[-8.0], "is not a real number"),
        ("10 ^ 400", &[], "too large"),
        ("a * 1e308 * 10", &[1.0], "the product is inf"),
        ("a + 1", &[f64::NAN], "the tag's value is NaN"),
    ];
    for (text, tags, expected) in cases {
        let got = value(text, tags).unwrap_err();
        assert!(got.contains(expected), "{text}: {got:?} should say {expected:?}");
    }
}

#[test]
fn mistakes_are_found_at_their_place_before_the_agent_starts() {
    // (expression, the text at the reported place, what the message says)
    let cases: &[(&str, &str, &str)] = &[
        ("a +", "", "ends where a value is expected"),
        ("a = 1", "=", "write `==`"),
        ("(a + 1", "", "expected `)`"),
        ("a + b c", "c", "after a whole expression"),
        ("if a then 1 else 0", "a", "the condition of `if` must be a condition"),
        ("if a > 1 then 1", "", "expected `else`"),
        ("if a > 1 then 1 else a > 2", "a > 2", "both branches must agree"),
        ("a > 1 + 2 < 3", "<", "do not chain"),
        ("(a > 1) * 2", "(a > 1)", "must be a number"),
        ("not a", "a", "must be a condition"),
        ("abs(1, 2)", "abs(1, 2)", "takes 1 argument"),
        ("max(1)", "max(1)", "at least 2"),
        ("log(a)", "log", "no function `log`"),
        ("meter-3.kw", "3.kw", "goes in braces"),
        ("温度 # 注释", "#", "unexpected `#`"),
        ("{温度", "{温度", "no `}` closes"),
        ("", "", "empty"),
    ];
    for (text, at, what) in cases {
        match parse(text) {
            Ok(p) => panic!("{text} parsed as {p:?}"),
            Err(f) => {
                assert_eq!(&text[f.at.clone()], *at, "{text}: {f:?}");
                assert!(f.what.contains(what), "{text}: {:?} should say {what:?}", f.what);
            }
        }
    }
}

#[test]
fn the_file_place_of_a_mistake_is_past_the_opening_quote() {
    let expr = Spanned::new(100..116, "锅炉 + ".to_owned());
    let (at, why) = checked(&expr, Ty::Num, "derived x").unwrap_err();
    assert_eq!(why, "derived x: the expression ends where a value is expected");
    assert!(at.start > 100 && at.end <= 116, "{at:?}");
    let cond = Spanned::new(0..10, "a + 1".to_owned());
    let (_, why) = checked(&cond, Ty::Bool, "equipment press").unwrap_err();
    assert!(why.contains("must give a condition"), "{why}");
}

const 流量: TagId = TagId(0);
const 出水: TagId = TagId(1);
const 热功率: TagId = TagId(2);

fn boiler() -> DerivedEngine {
    let p = parse("锅炉一号.流量 * 锅炉一号.出水温度 / (锅炉一号.出水温度 - 60)").unwrap();
    DerivedEngine::new("锅炉一号.热功率", p, vec![流量, 出水], 热功率)
}

fn at(s: i64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + s)
}

#[test]
fn the_derived_tag_follows_its_inputs_and_marks_bad_inputs_and_faults() {
    let mut e = boiler();
    let mut out = Emitter::default();
    e.on_sample(&Sample::good(流量, at(0), Value::Float(2.0)), &mut out);
    assert!(out.samples.is_empty(), "nothing until every input has a value");
    e.on_sample(&Sample::good(出水, at(1), Value::Int(80)), &mut out);
    assert_eq!(out.samples.pop(), Some(Sample::good(热功率, at(1), Value::Float(8.0))));
    e.on_sample(&Sample::bad(流量, at(2), Reason::Timeout), &mut out);
    let s = out.samples.pop().unwrap();
    assert_eq!((s.ts, s.quality), (at(2), Quality::Bad(Reason::Timeout)), "the input's reason");
    let uncertain = Sample {
        quality: Quality::Uncertain(Reason::Substituted),
        ..Sample::good(流量, at(3), Value::Float(1.0))
    };
    e.on_sample(&uncertain, &mut out);
    assert_eq!(out.samples.pop().unwrap().quality, Quality::Uncertain(Reason::Substituted));
    assert!(out.events.is_empty());
    for t in [4, 5] {
        e.on_sample(&Sample::good(出水, at(t), Value::Float(60.0)), &mut out);
        assert_eq!(out.samples.pop().unwrap().quality, Quality::Bad(Reason::OutOfRange));
    }
    assert_eq!(out.events.len(), 1, "one event per episode: {:?}", out.events);
    assert!(out.events[0].message.contains("division by zero"), "{:?}", out.events[0]);
    e.on_sample(&Sample::good(出水, at(6), Value::Float(70.0)), &mut out);
    assert_eq!(
        out.samples.pop(),
        Some(Sample {
            quality: Quality::Uncertain(Reason::Substituted),
            ..Sample::good(热功率, at(6), Value::Float(7.0))
        })
    );
    assert_eq!(out.events[1].message, "derived 锅炉一号.热功率: good again");
    e.on_sample(&Sample::good(TagId(9), at(7), Value::Float(1.0)), &mut out);
    assert!(out.samples.is_empty(), "other tags are not its business");
}

/// Expressions built from the grammar, with tag names in several scripts.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (-1e6f64..1e6).prop_map(|n| format!("{n}")),
        Just("0".to_owned()),
        prop::sample::select(vec!["锅炉一号.温度", "a", "{meter-3.kw}", "Ölpumpe.druck"])
            .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(6, 64, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "%", "^", "<", "==", "and", "or"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("sqrt({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("pow({a}, {b})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("if {c} > 0 then {a} else {b}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("min({a}, {b})")),
        ]
    })
}

proptest! {
    #[test]
    fn any_text_parses_or_is_refused_without_a_panic_and_at_char_boundaries(text in "\\PC{0,40}") {
        if let Err(f) = parse(&text) {
            prop_assert!(text.is_char_boundary(f.at.start) && text.is_char_boundary(f.at.end), "{:?}", f);
            prop_assert!(f.at.start <= f.at.end && f.at.end <= text.len());
        }
    }

    #[test]
    fn generated_expressions_evaluate_to_a_finite_value_or_a_fault(
        text in expression(),
        values in prop::collection::vec(prop_oneof![Just(0.0), Just(f64::NAN), -1e9f64..1e9], 4),
    ) {
        if let Ok(p) = parse(&text) {
            match eval(&p.root, &values) {
                Ok(Val::Num(n)) => prop_assert!(n.is_finite(), "{} gave {}", text, n),
                Ok(Val::Bool(_)) => {}
                Err(f) => prop_assert!(f.at.end <= text.len() && text.is_char_boundary(f.at.start)),
            }
        }
    }

    #[test]
    fn the_engine_never_emits_a_good_non_finite_sample(
        values in prop::collection::vec((0u32..2, prop_oneof![Just(0.0), Just(60.0), Just(f64::NAN), Just(f64::INFINITY), -1e300f64..1e300]), 1..40),
    ) {
        let mut e = boiler();
        let mut out = Emitter::default();
        for (i, (tag, v)) in values.into_iter().enumerate() {
            e.on_sample(&Sample::good(TagId(tag), at(i as i64), Value::Float(v)), &mut out);
        }
        for s in out.samples {
            if let Value::Float(v) = s.value && s.quality != Quality::Bad(Reason::OutOfRange) && !matches!(s.quality, Quality::Bad(_)) {
                prop_assert!(v.is_finite(), "{:?}", s);
            }
        }
    }
}

use serde_spanned::Spanned;

#[test]
fn check_points_at_the_mistake_inside_the_expression_and_at_unknown_tags() {
    let plant = |expr: &str| {
        format!(
            "[[sim.device]]\nname = \"锅炉\"\ntags = [{{ name = \"锅炉一号.温度\", shape = \"sine\" }}]\n\n[[derived]]\ntag = \"锅炉一号.温差\"\nexpr = '{expr}'\n"
        )
    };
    let errors = |expr: &str| match crate::config::parse(&plant(expr), "t.toml", &|_| None) {
        Ok(_) => Vec::new(),
        Err(e) => e.lines(),
    };
    assert_eq!(errors("锅炉一号.温度 - 20"), Vec::<String>::new());
    assert_eq!(
        errors("锅炉一号.温度 * / 2"),
        ["t.toml:7:19: derived 锅炉一号.温差: unexpected `/` where a value is expected"]
    );
    assert_eq!(
        errors("锅炉一号.温渡 - 20"),
        [
            "t.toml:7:9: derived 锅炉一号.温差 reads tag \"锅炉一号.温渡\", which no device declares; did you mean \"锅炉一号.温度\"?"
        ]
    );
}
