//! The Modbus driver against pymodbus, an independent implementation: every type in every byte order,
//! over Modbus TCP and over RTU frames on TCP, read by `edge-agent test` and compared with the values
//! pymodbus packed with Python's struct module.

#[path = "support/agent.rs"]
mod agent;
#[path = "support/pymodbus.rs"]
mod pymodbus;

use std::collections::HashMap;
use std::process::Command;

use agent::{BIN, Scratch, one_scan};
use pymodbus::{PtyPair, Pymodbus};
use serde_json::json;

/// What a tag should read as, in line-protocol field form.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    Float(f64),
    Int(i64),
    Bool(bool),
    Text(&'static str),
}

struct Case {
    space: &'static str,
    ty: &'static str,
    order: &'static str,
    value: serde_json::Value,
    want: Want,
    registers: Option<u8>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let numeric: [(&str, serde_json::Value, Want); 8] = [
        ("u16", json!(51234), Want::Int(51234)),
        ("i16", json!(-1234), Want::Int(-1234)),
        ("u32", json!(3_000_000_123u64), Want::Int(3_000_000_123)),
        ("i32", json!(-2_000_000_123i64), Want::Int(-2_000_000_123)),
        ("u64", json!(1_234_567_890_123_456u64), Want::Int(1_234_567_890_123_456)),
        ("i64", json!(-1_234_567_890_123_456i64), Want::Int(-1_234_567_890_123_456)),
        ("f32", json!(-12.375), Want::Float(-12.375)),
        ("f64", json!(1234.56789012345), Want::Float(1234.56789012345)),
    ];
    for (ty, value, want) in numeric {
        for order in ["ABCD", "CDAB", "BADC", "DCBA"] {
            let space = if ty.starts_with('f') { "input" } else { "holding" };
            out.push(Case { space, ty, order, value: value.clone(), want: want.clone(), registers: None });
        }
    }
    for order in ["ABCD", "BADC"] {
        out.push(Case {
            space: "holding",
            ty: "string",
            order,
            value: json!("PUMP-7A"),
            want: Want::Text("PUMP-7A"),
            registers: Some(5),
        });
    }
    out.push(Case {
        space: "coil",
        ty: "bool",
        order: "ABCD",
        value: json!(true),
        want: Want::Bool(true),
        registers: None,
    });
    out.push(Case {
        space: "discrete",
        ty: "bool",
        order: "ABCD",
        value: json!(false),
        want: Want::Bool(false),
        registers: None,
    });
    out
}

/// The map for pymodbus and the tags for the agent, with gaps between tags so the planner must merge
/// across them (max_gap) or split.
fn layout(cases: &[Case], device: &str) -> (serde_json::Value, String, Vec<(String, Want)>) {
    let mut map = Vec::new();
    let mut tags = Vec::new();
    let mut wants = Vec::new();
    let mut next: HashMap<&str, u16> = HashMap::new();
    for (i, c) in cases.iter().enumerate() {
        let at = next.entry(c.space).or_insert(10);
        let address = *at;
        let width = match c.ty {
            "u32" | "i32" | "f32" => 2,
            "u64" | "i64" | "f64" => 4,
            "string" => c.registers.unwrap() as u16,
            _ => 1,
        };
        *at += width + 1;
        let space_name = if c.space == "discrete" { "discrete" } else { c.space };
        let mut entry =
            json!({"space": c.space, "address": address, "type": c.ty, "order": c.order, "value": c.value});
        if let Some(n) = c.registers {
            entry["registers"] = json!(n);
        }
        map.push(entry);
        let name = format!("{device}.{}_{}_{i}", c.ty, c.order.to_lowercase());
        let registers = c.registers.map(|n| format!(", registers = {n}")).unwrap_or_default();
        tags.push(format!(
            r#"{{ name = "{name}", address = "{space_name}:{address}", type = "{}", order = "{}"{registers} }}"#,
            c.ty, c.order
        ));
        wants.push((name, c.want.clone()));
    }
    (json!({"units": {"1": map}}), tags.join(",\n  "), wants)
}

/// The value field of each tag in `edge-agent test`'s line protocol.
fn fields(stdout: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| {
            let tag = l.split("tag=").nth(1)?.split([' ', ',']).next()?.to_owned();
            let field = l.split(' ').nth(1)?.split(',').next()?.to_owned();
            Some((tag, field))
        })
        .collect()
}

fn check(field: &str, want: &Want) -> bool {
    let Some((key, v)) = field.split_once('=') else { return false };
    match want {
        Want::Float(x) => key == "value" && v.parse::<f64>().is_ok_and(|f| f == *x),
        Want::Int(x) => {
            key == "value_int" && v.strip_suffix('i').and_then(|s| s.parse::<i64>().ok()) == Some(*x)
        }
        Want::Bool(b) => key == "value_bool" && v == b.to_string(),
        Want::Text(t) => key == "value_text" && v == format!("\"{t}\""),
    }
}

/// Every tag printed with the value pymodbus was given.
fn assert_all_read(stdout: &str, wants: &[(String, Want)]) {
    let got = fields(stdout);
    let wrong: Vec<String> = wants
        .iter()
        .filter(|(name, want)| !got.get(name).is_some_and(|f| check(f, want)))
        .map(|(name, want)| format!("{name}: want {want:?}, got {:?}", got.get(name)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} tags wrong:\n{}\n\nstdout:\n{stdout}",
        wrong.len(),
        wants.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_type_in_every_order_reads_as_pymodbus_wrote_it_over_tcp_and_rtu_over_tcp() {
    let cases = cases();
    let (map_tcp, tags_tcp, mut wants) = layout(&cases, "tcp");
    let (map_rtu, tags_rtu, wants_rtu) = layout(&cases, "rtu");
    wants.extend(wants_rtu);
    let tcp = Pymodbus::start(&map_tcp, "socket");
    let rtu = Pymodbus::start(&map_rtu, "rtu");
    let scratch = Scratch::new("pymodbus");
    let config = scratch.config(&format!(
        r#"
[[modbus.link]]
name = "tcp-link"
address = "{tcp}"
timeout = "2s"
[[modbus.link.device]]
name = "tcp"
unit = 1
max_gap = 1
tags = [
  {tags_tcp}
]

[[modbus.link]]
name = "serial-gateway"
transport = "rtu_over_tcp"
address = "{rtu}"
timeout = "2s"
[[modbus.link.device]]
name = "rtu"
unit = 1
tags = [
  {tags_rtu}
]
"#,
        tcp = tcp.addr,
        rtu = rtu.addr,
    ));
    let (ok, stdout, stderr) = one_scan(&config, "10s");
    assert!(ok, "edge-agent test failed:\n{stderr}\n{}\n{}", tcp.log(), rtu.log());
    assert_all_read(&stdout, &wants);
}

#[test]
fn every_type_in_every_order_reads_over_rtu_on_a_serial_line() {
    let cases = cases();
    let (map, tags, wants) = layout(&cases, "bus");
    let pty = PtyPair::new();
    let sim = Pymodbus::start_serial(&map, &pty.b);
    let scratch = Scratch::new("pymodbus-rtu");
    let config = scratch.config(&format!(
        r#"
[[modbus.link]]
name = "rs485-1"
transport = "rtu"
port = "{port}"
baud = 19200
parity = "none"
stop_bits = 1
timeout = "2s"
[[modbus.link.device]]
name = "bus"
unit = 1
tags = [
  {tags}
]
"#,
        port = pty.a.display(),
    ));
    let (ok, stdout, stderr) = one_scan(&config, "20s");
    assert!(ok, "edge-agent test failed:\n{stderr}\n{}", sim.log());
    assert_all_read(&stdout, &wants);
}

#[test]
fn modbus_read_shows_the_value_in_every_order_so_the_right_one_can_be_picked() {
    let map = json!({"units": {"7": [{"space": "holding", "address": 3054, "type": "f32", "order": "CDAB", "value": 231.5}]}});
    let sim = Pymodbus::start(&map, "socket");
    let out = Command::new(BIN)
        .args([
            "modbus",
            "read",
            "--address",
            &sim.addr.to_string(),
            "--unit",
            "7",
            "--register",
            "holding:3054",
            "--type",
            "f32",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("raw: 8000 4367"), "{stdout}");
    assert!(stdout.contains("CDAB: 231.5") && !stdout.contains("ABCD: 231.5"), "{stdout}");

    let refused = Command::new(BIN)
        .args([
            "modbus",
            "read",
            "--address",
            &sim.addr.to_string(),
            "--unit",
            "7",
            "--register",
            "holding:20000",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exception 2"));
}

/// What `edge-agent modbus read` prints for one register range of unit 1.
fn read_back(sim: &Pymodbus, register: &str, ty: &str) -> String {
    let out = Command::new(BIN)
        .args(["modbus", "read", "--address", &sim.addr.to_string(), "--register", register, "--type", ty])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn writes_reach_holding_registers_and_coils_within_their_limits() {
    let map = json!({"units": {"1": [
        {"space": "holding", "address": 40, "type": "f32", "order": "CDAB", "value": 0.0},
        {"space": "holding", "address": 50, "type": "u16", "value": 256},
        {"space": "coil", "address": 5, "type": "bool", "value": false},
    ]}});
    let sim = Pymodbus::start(&map, "socket");
    let scratch = Scratch::new("modbus-writes");
    let token = scratch.file("api.token", "s3cret\n");
    let config = scratch.config(
        &format!(
            r#"token_file = "{token}"

[[modbus.link]]
name = "plc"
address = "{addr}"
[[modbus.link.device]]
name = "dosing"
unit = 1
scan = "200ms"
tags = [
  {{ name = "dosing.setpoint", address = "holding:40", type = "f32", order = "CDAB", writable = {{ min = 0.0, max = 50.0 }} }},
  {{ name = "dosing.mode", address = "holding:50", type = "bit", bit = 2, writable = {{ min = 0, max = 1 }} }},
  {{ name = "dosing.pump", address = "coil:5", type = "bool", writable = {{ min = 0, max = 1 }} }},
]
"#,
            token = token.display(),
            addr = sim.addr,
        ),
    );
    let agent = agent::Agent::start(&config);
    let put = |tag: &str, v: &str| {
        agent.request("PUT", &format!("/tags/{tag}"), Some(&format!("{{\"value\":{v}}}")), Some("s3cret")).0
    };
    assert_eq!(put("dosing.setpoint", "37.25"), 204);
    assert_eq!(put("dosing.setpoint", "80"), 422, "above its limit: refused before it reaches the device");
    assert_eq!(put("dosing.mode", "1"), 204);
    assert_eq!(put("dosing.pump", "1"), 204);
    assert!(read_back(&sim, "holding:40", "f32").contains("CDAB: 37.25"));
    assert!(
        read_back(&sim, "holding:50", "u16").contains("ABCD: 260"),
        "bit 2 set, the rest of the register (256) kept"
    );
    assert!(read_back(&sim, "coil:5", "bool").contains("ABCD: true"));
}

/// A device that answers, but refuses one read: `edge-agent test` must not call that a success. It exits 1,
/// names the refused tag with its reason, and ends with the count of good and bad tags.
#[test]
fn test_exits_1_when_a_device_answers_but_refuses_a_tag() {
    let map = json!({"units": {"1": [{"space": "holding", "address": 10, "type": "u16", "value": 7}]}});
    let sim = Pymodbus::start(&map, "socket");
    let scratch = Scratch::new("pymodbus-refused");
    let config = scratch.config(&format!(
        r#"
[[modbus.link]]
name = "plc"
address = "{addr}"
timeout = "2s"
[[modbus.link.device]]
name = "锅炉一号"
unit = 1
tags = [
  {{ name = "锅炉一号.温度", address = "holding:10", type = "u16" }},
  {{ name = "锅炉一号.压力", address = "holding:20000", type = "u16" }},
]
"#,
        addr = sim.addr,
    ));
    let (ok, stdout, stderr) = one_scan(&config, "10s");
    assert!(!ok, "a refused tag must fail `edge-agent test`:\n{stderr}\n{}", sim.log());
    assert!(stdout.contains("tag=锅炉一号.温度 value_int=7i"), "{stdout}");
    let bad: Vec<&str> = stderr.lines().filter(|l| l.starts_with("tag ")).collect();
    assert_eq!(bad, ["tag 锅炉一号.压力 (device 锅炉一号): bad: exception 0x02"], "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("1 tags good, 0 uncertain, 1 bad, 0 without a sample; 0 device(s) failed"),
        "{stderr}"
    );
}
