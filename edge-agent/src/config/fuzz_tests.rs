//! The config loader on text an engineer could have mistyped: a valid plant file with characters cut,
//! inserted or replaced at any char boundary, lines swapped or doubled. Never a panic; either a config,
//! or errors that each name the file, and, where they point into it, a line and column inside it.

use proptest::prelude::*;

use super::parse;

const PLANT: &str = r#"[agent]
site = "华东一厂"
gateway = "三号网关"

[[sim.device]]
name = "锅炉一号"
scan = "500ms"
tags = [
  { name = "锅炉一号.阀位", shape = "constant", offset = 40.0, writable = { min = 0.0, max = 100.0 } },
  { name = "锅炉一号.温度", shape = "fopdt", input = "锅炉一号.阀位", gain = 2.0, time_constant = "5s" },
]

[[modbus.link]]
name = "电表总线"
address = "127.0.0.1:5020"
[[modbus.link.device]]
name = "进线柜"
unit = 3
tags = [{ name = "进线柜.有功功率", address = "holding:100", type = "f32", order = "CDAB" }]

[[alarm]]
tag = "锅炉一号.温度"
high = 90.0
deadband = 1.0

[[uplink]]
name = "vm"
type = "influxdb_v2"
url = "http://127.0.0.1:8428"
org = "plant"
bucket = "edge"
token = "t"
"#;

#[derive(Debug, Clone)]
enum Edit {
    Cut { at: prop::sample::Index, len: usize },
    Insert { at: prop::sample::Index, text: String },
    Replace { at: prop::sample::Index, with: char },
    SwapLines { a: prop::sample::Index, b: prop::sample::Index },
    DoubleLine { at: prop::sample::Index },
}

fn edit() -> impl Strategy<Value = Edit> {
    let toml_bits = prop::sample::select(vec![
        "=", "[", "]", "{", "}", "\"", ",", "\n", "#", "[[", "\\", "${X}", "1e999", "\u{0}",
    ]);
    prop_oneof![
        (any::<prop::sample::Index>(), 1usize..12).prop_map(|(at, len)| Edit::Cut { at, len }),
        (
            any::<prop::sample::Index>(),
            prop_oneof!["\\PC{1,8}".boxed(), toml_bits.prop_map(str::to_owned).boxed()]
        )
            .prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<prop::sample::Index>(), any::<char>()).prop_map(|(at, with)| Edit::Replace { at, with }),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Edit::SwapLines { a, b }),
        any::<prop::sample::Index>().prop_map(|at| Edit::DoubleLine { at }),
    ]
}

/// Applies an edit on chars and lines, never on bytes.
fn apply(text: &str, e: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.lines().collect();
    match e {
        Edit::Cut { at, len } => {
            let i = at.index(chars.len());
            chars[..i].iter().chain(chars[(i + len).min(chars.len())..].iter()).collect()
        }
        Edit::Insert { at, text } => {
            let i = at.index(chars.len() + 1);
            chars[..i].iter().collect::<String>() + text + &chars[i..].iter().collect::<String>()
        }
        Edit::Replace { at, with } => {
            let i = at.index(chars.len());
            chars.iter().enumerate().map(|(j, c)| if j == i { *with } else { *c }).collect()
        }
        Edit::SwapLines { a, b } => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            lines.join("\n")
        }
        Edit::DoubleLine { at } => {
            let i = at.index(lines.len());
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
    }
}

#[test]
fn the_unedited_plant_is_valid() {
    parse(PLANT, "t.toml", &|_| None).unwrap_or_else(|e| panic!("{}", e.lines().join("\n")));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(protocols::testkit::cases()))]
    #[test]
    fn a_mistyped_config_is_a_config_or_errors_that_say_where(edits in prop::collection::vec(edit(), 1..4)) {
        let text = edits.iter().fold(PLANT.to_owned(), |t, e| apply(&t, e));
        let lines = text.lines().count() + 1;
        if let Err(errors) = parse(&text, "t.toml", &|_| None) {
            let all = errors.lines();
            prop_assert!(!all.is_empty(), "an error without a message for {:?}", text);
            for line in all {
                let rest = line.strip_prefix("t.toml:");
                prop_assert!(rest.is_some(), "{:?} does not name the file", line);
                let rest = rest.unwrap();
                // `L:C: what`: the place must be inside the text.
                let mut parts = rest.splitn(3, ':');
                if let (Some(l), Some(c), Some(what)) = (parts.next(), parts.next(), parts.next())
                    && let (Ok(l), Ok(_)) = (l.trim().parse::<usize>(), c.trim().parse::<usize>())
                {
                    prop_assert!(l >= 1 && l <= lines, "{:?}: line {} of {}", line, l, lines);
                    prop_assert!(!what.trim().is_empty(), "{:?} says nothing", line);
                }
            }
        }
    }
}
