use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

const PLANT: &str = r#"
[agent]
site = "plant-a"
gateway = "gw1"

[[sim.device]]
name = "kiln"
tags = [
  { name = "kiln.valve", shape = "constant", offset = 40.0, writable = { min = 0.0, max = 100.0 } },
  { name = "kiln.temp", shape = "fopdt", input = "kiln.valve", gain = 20.0 },
]

[[alarm]]
tag = "kiln.temp"
high = 900.0
"#;

/// The `line:col: message` of each error, without the file name.
fn errors_of(text: &str) -> Vec<String> {
    match parse(text, "t.toml", &no_env) {
        Ok(_) => Vec::new(),
        Err(e) => e.lines().into_iter().map(|l| l.trim_start_matches("t.toml:").to_owned()).collect(),
    }
}

#[test]
fn a_good_plant_resolves_tags_in_order_then_derived_ones() {
    let cfg = parse(PLANT, "t.toml", &no_env).unwrap();
    let names: Vec<&str> = cfg.tags.registry.iter().map(|(_, n)| n).collect();
    assert_eq!(
        names,
        ["kiln.valve", "kiln.temp", "kiln.temp.alarm", "kiln.temp.alarm.state", "kiln.temp.alarm.event"]
    );
    assert_eq!(cfg.tags.info[0].writable, Some(WritableSpec { min: 0.0, max: 100.0 }));
    assert_eq!(cfg.tags.info[1].device, "kiln");
    assert_eq!(cfg.tags.info[2].device, "alarm");
    assert_eq!(cfg.api.listen, "127.0.0.1:9100".parse().unwrap());
    assert_eq!(*cfg.agent.ring_capacity.get_ref(), 65_536);
    assert!(cfg.summary().contains("tags: 5 (1 writable: kiln.valve)"), "{}", cfg.summary());
}

#[test]
fn each_mistake_is_reported_where_it_is() {
    // (what to change in PLANT, the expected `line:col: message` start)
    let cases: &[(&str, &str, &str)] = &[
        (
            "site = \"plant-a\"",
            "site = \"plant-a\"\ncolour = 1",
            "4:1: unknown field `colour`, expected one of `site`, `gateway`",
        ),
        (
            "gateway = \"gw1\"",
            "gateway = \"gw1\"\nring_capacity = 1000",
            "5:17: ring_capacity 1000 must be a power of two",
        ),
        (
            "name = \"kiln\"",
            "name = \"kiln\"\nscan = \"5ms\"",
            "7:8: sim device kiln: `scan` 5ms is below the 10ms minimum",
        ),
        (
            "name = \"kiln\"",
            "name = \"kiln\"\nscan = \"fast\"",
            "8:8: \"fast\" is not a duration; write a number and a unit",
        ),
        ("shape = \"fopdt\"", "shape = \"fopd\"", "10:33: unknown variant `fopd`, expected one of `sine`"),
        (
            "input = \"kiln.valve\"",
            "input = \"kiln.valv\"",
            "10:12: sim device kiln / tag kiln.temp: input \"kiln.valv\" is not a tag of this device",
        ),
        (
            "max = 100.0",
            "max = -1.0",
            "9:12: sim device kiln / tag kiln.valve: writable `min` 0 is above `max` -1",
        ),
        (
            "shape = \"constant\"",
            "shape = \"sine\"",
            "9:12: sim device kiln / tag kiln.valve: only `constant` tags accept writes",
        ),
        (
            "tag = \"kiln.temp\"",
            "tag = \"kiln.tmp\"",
            "14:7: alarm on tag \"kiln.tmp\", which no device declares; did you mean \"kiln.temp\"?",
        ),
        ("high = 900.0", "deadband = 1.0", "14:7: alarm on kiln.temp"),
        (
            "[[alarm]]",
            "[alarms]\nx = 1\n[[alarm]]",
            "13:2: unknown section `alarms`; expected one of agent, api, store, uplink, sim, modbus,",
        ),
        (
            "[agent]",
            "[[modbus.link]]\nname = \"plc\"\naddress = \"10.0.0.5:502\"\n[[modbus.link.device]]\nname = \"m3\"\nunit = 1\ntags = [{ name = \"m3.kw\", address = \"holding:3054\", type = \"f23\" }]\n[agent]",
            "8:60: modbus device m3 / tag m3.kw: type \"f23\": expected bool",
        ),
        (
            "[agent]",
            "[[modbus.link]]\nname = \"plc\"\naddress = \"10.0.0.5\"\n[[modbus.link.device]]\nname = \"m3\"\nunit = 1\ntags = [{ name = \"m3.kw\", address = \"input:7\" }]\n[agent]",
            "4:11: modbus link plc: address \"10.0.0.5\" needs host:port",
        ),
        ("[agent]", "[store]\nmax_bytes = \"1 TB\"\n[agent]", "3:13: `1 TB` is not a size"),
        ("[agent]", "[store]\nsync = \"sometimes\"\n[agent]", "3:8: sync `sometimes`: write \"always\""),
        (
            "[agent]",
            "[[uplink]]\nname = \"h\"\ntype = \"influxdb_v2\"\nurl = \"http://h:8086\"\norg = \"o\"\nbucket = \"b\"\n[agent]",
            "4:8: an influxdb_v2 uplink needs `token`",
        ),
        (
            "[agent]",
            "[[uplink]]\nname = \"h\"\ntype = \"influx\"\nurl = \"http://h:8086\"\n[agent]",
            "4:8: uplink type `influx`",
        ),
        (
            "[agent]",
            "[api]\nlisten = \"localhost\"\n[agent]",
            "3:10: listen \"localhost\" is not an address and port",
        ),
        ("[agent]", "[agent\n", "2:7: unclosed table, expected `]` (TOML syntax)"),
    ];
    for (from, to, want) in cases {
        let text = PLANT.replacen(from, to, 1);
        let got = errors_of(&text);
        assert_eq!(got.len(), 1, "{to:?}: expected one error, got {got:#?}");
        assert!(got[0].starts_with(want), "{to:?}:\n got  {}\n want {want}", got[0]);
    }
}

#[test]
fn duplicates_point_at_the_second_and_name_the_first() {
    let text = format!(
        "{PLANT}\n[[sim.device]]\nname = \"kiln\"\ntags = [{{ name = \"kiln.temp\", shape = \"sine\" }}]\n"
    );
    let got = errors_of(&text);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[0].starts_with("18:8: device \"kiln\" is declared twice (first at line 7)"), "{}", got[0]);
    assert!(got[1].starts_with("19:18: tag \"kiln.temp\" is already declared at line 10"), "{}", got[1]);
}

#[test]
fn every_error_of_a_file_is_reported_together() {
    let text = PLANT
        .replace("site = \"plant-a\"", "site = \"plant-a\"\nsurprise = true")
        .replace("shape = \"fopdt\"", "shape = \"fopd\"")
        .replace("tag = \"kiln.temp\"", "tag = \"nowhere\"")
        + "\n[[alarm]]\ntag = \"kiln.valve\"\n";
    let err = parse(&text, "t.toml", &no_env).unwrap_err();
    // The unknown key, the bad shape, the alarm on a tag nobody declares (reported although a tag of the
    // device could not be read: it is another name), and the second alarm's missing limit.
    assert_eq!(err.len(), 4, "{err}");
    assert!(err.to_string().ends_with("4 errors; nothing was changed\n"), "{err}");
}

/// Three bad tags in one device are three errors, each at its place; the good tags are still declared,
/// and a reference to a bad tag is not reported twice.
#[test]
fn every_bad_tag_of_a_device_is_reported_and_the_good_ones_kept() {
    let sim = r#"
[[sim.device]]
name = "锅炉一号"
tags = [
  { name = "锅炉一号.温度", shape = "sine" },
  { name = "锅炉一号.压力", shape = "sinus" },
  { name = "锅炉一号.流量", shape = "ramp", colour = "red" },
  { name = "锅炉一号.液位", shape = "noise", amplitude = "high" },
]
[[alarm]]
tag = "锅炉一号.温度"
high = 90.0
[[alarm]]
tag = "锅炉一号.压力"
high = 1.6
"#;
    let got = errors_of(sim);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got[0].starts_with("6:31: unknown variant `sinus`"), "{}", got[0]);
    assert!(got[1].starts_with("7:39: unknown field `colour`"), "{}", got[1]);
    assert!(got[2].starts_with("8:52: invalid type: string \"high\""), "{}", got[2]);

    let modbus = r#"
[[modbus.link]]
name = "plc"
address = "10.0.0.5:502"
[[modbus.link.device]]
name = "m3"
unit = 1
tags = [
  { name = "m3.kw", address = "holding:3054", type = "f32" },
  { name = "m3.kwh", address = "holding:3204", tpye = "u32" },
  { name = "m3.pf", address = "holding:3100", scale = "x" },
]
[[modbus.link.device]]
name = "m4"
unit = 2
colour = "blue"
tags = [{ name = "m4.kw", address = "holding:1", kind = "f32" }]
[[alarm]]
tag = "m4.kw"
high = 1.0
"#;
    let got = errors_of(modbus);
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got[0].starts_with("10:48: unknown field `tpye`"), "{}", got[0]);
    assert!(got[1].starts_with("11:55: invalid type: string \"x\""), "{}", got[1]);
    assert!(got[2].starts_with("16:1: unknown field `colour`"), "{}", got[2]);
    assert!(got[3].starts_with("17:50: unknown field `kind`"), "{}", got[3]);
}

#[test]
fn environment_variables_fill_strings_and_missing_ones_are_located() {
    let text = PLANT.replace("site = \"plant-a\"", "site = \"${SITE}-${LINE}\"");
    let env = |n: &str| match n {
        "SITE" => Some("plant-b".to_owned()),
        "LINE" => Some("3".to_owned()),
        _ => None,
    };
    assert_eq!(parse(&text, "t.toml", &env).unwrap().agent.site, "plant-b-3");
    let got = errors_of(&text);
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("3:8: environment variable SITE is not set"), "{}", got[0]);
}

#[test]
fn secrets_come_from_files() {
    let dir = std::env::temp_dir().join(format!("edge-agent-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "  s3cret\n").unwrap();
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let with = |file: &std::path::Path| format!("[api]\ntoken_file = \"{}\"\n{PLANT}", file.display());
    assert_eq!(parse(&with(&token), "t.toml", &no_env).unwrap().api.token.as_deref(), Some("s3cret"));
    assert!(errors_of(&with(&empty))[0].contains("is empty; put the secret in it"));
    assert!(errors_of(&with(&dir.join("missing")))[0].contains("cannot be read"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_demo_config_is_valid() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/demo.toml");
    let cfg = load(std::path::Path::new(demo)).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.links.iter().filter(|l| l.kind() == "sim").count() >= 3);
    assert!(cfg.tags.info.iter().any(|t| t.writable.is_some()));
}

#[test]
fn a_missing_file_says_so() {
    let err = load(std::path::Path::new("/nonexistent/agent.toml")).unwrap_err();
    assert_eq!(
        err.lines(),
        [
            "/nonexistent/agent.toml: cannot read the config: No such file or directory (os error 2); check the path given with -c"
        ]
    );
}

/// Names that cannot be exported on one line are refused where they are written, instead of passing
/// `check` and then failing every sample on its way out.
#[test]
fn names_the_historian_cannot_take_are_refused_at_their_place() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "{ name = \"kiln.valve\"",
            "{ name = \"kiln\\nvalve\"",
            "9:12: tag name \"kiln\\nvalve\" has a control character",
        ),
        (
            "{ name = \"kiln.valve\"",
            "{ name = \"kiln.valve\\\\\"",
            "9:12: tag name \"kiln.valve\\\\\" ends with a backslash",
        ),
        ("{ name = \"kiln.valve\"", "{ name = \"\"", "9:12: tag name is empty"),
        ("name = \"kiln\"", "name = \"#3 kiln\"", "7:8: device name \"#3 kiln\" starts with `#`"),
        (
            "site = \"plant-a\"",
            "site = \"plant\\ta\"",
            "3:8: site \"plant\\ta\" has a control character (a line break or tab) at character 6",
        ),
        ("gateway = \"gw1\"", "gateway = \"\"", "4:11: gateway is empty"),
    ];
    for (from, to, want) in cases {
        let text = PLANT.replacen(from, to, 1);
        let got = errors_of(&text);
        assert!(got.iter().any(|g| g.starts_with(want)), "{to:?}:\n got  {got:#?}\n want {want}");
    }
    // Chinese names are names like any other.
    let text = PLANT.replace("kiln.temp", "锅炉一号.温度").replace("name = \"kiln\"", "name = \"锅炉一号\"");
    assert_eq!(errors_of(&text), Vec::<String>::new());
}
