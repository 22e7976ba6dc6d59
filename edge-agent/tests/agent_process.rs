//! The built `edge-agent` binary, as an engineer drives it: check, test, run, reload, stop.

#[path = "support/agent.rs"]
mod agent;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use agent::{Agent, BIN, Scratch, eventually};

fn plant(data_dir: &Path, extra: &str) -> String {
    format!(
        r#"
[agent]
site = "test-site"
gateway = "gw-test"
data_dir = "{}"

[api]
listen = "127.0.0.1:0"
{extra}

[[sim.device]]
name = "kiln"
scan = "100ms"
seed = 7
tags = [
  {{ name = "kiln.fuel_valve", shape = "constant", offset = 40.0, writable = {{ min = 0.0, max = 100.0 }} }},
  {{ name = "kiln.temp", shape = "fopdt", input = "kiln.fuel_valve", gain = 20.0, offset = 25.0, time_constant = "2s" }},
]

[[sim.device]]
name = "meter"
scan = "100ms"
tags = [
  {{ name = "meter.kwh", shape = "counter", step = 3, rollover = 65535 }},
  {{ name = "meter.kw", shape = "sine", offset = 50.0, amplitude = 10.0, period = "10s" }},
]

[[alarm]]
tag = "kiln.temp"
high = 10.0
"#,
        data_dir.display()
    )
}

#[test]
fn check_accepts_the_demo_config() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/demo.toml");
    let out = Command::new(BIN).args(["check", "-c"]).arg(&demo).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("is valid"), "{stdout}");
}

#[test]
fn check_reports_every_error_with_its_location_and_exits_2() {
    let dir = Scratch::new("check-errors");
    let text = plant(&dir.0, "")
        .replace("listen = \"127.0.0.1:0\"", "listen = \"localhost\"")
        .replace("tag = \"kiln.temp\"", "tag = \"kiln.tmp\"");
    let path = dir.file("agent.toml", &text);
    let out = Command::new(BIN).args(["check", "-c"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    let at = format!("error: {}:", path.display());
    assert!(errors.iter().all(|e| e.starts_with(&at)), "every error names file:line:col: {stderr}");
    assert!(stderr.contains("kiln.temp"), "the unknown tag error suggests the close name: {stderr}");
    assert!(stderr.contains("2 errors; nothing was changed"), "{stderr}");
}

#[test]
fn test_prints_one_scan_as_line_protocol() {
    let dir = Scratch::new("test-cmd");
    let path = dir.file("agent.toml", &plant(&dir.0, ""));
    let out = Command::new(BIN).args(["test", "-c"]).arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for tag in ["kiln.fuel_valve", "kiln.temp", "meter.kwh", "meter.kw"] {
        let lines: Vec<&str> = stdout.lines().filter(|l| l.contains(&format!("tag={tag} "))).collect();
        assert_eq!(lines.len(), 1, "one sample of {tag} per scan:\n{stdout}");
        assert!(lines[0].contains("site=test-site") && lines[0].contains("gateway=gw-test"), "{}", lines[0]);
    }
    assert!(
        stdout.lines().any(|l| l.starts_with("kiln,") && l.contains("tag=kiln.fuel_valve value=40")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("meter,") && l.contains("tag=meter.kwh value_int=")),
        "{stdout}"
    );
}

#[test]
fn test_exits_1_and_names_the_device_that_failed() {
    let dir = Scratch::new("test-fail");
    let text = plant(&dir.0, "").replace(
        "name = \"meter\"\nscan = \"100ms\"",
        "name = \"meter\"\nscan = \"100ms\"\nfault = { every = \"10s\", lasting = \"5s\", start = \"0s\" }",
    );
    let path = dir.file("agent.toml", &text);
    let out = Command::new(BIN).args(["test", "-c"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("device meter:") && l.contains("timeout")), "{stderr}");
    assert!(!stderr.contains("device kiln:"), "{stderr}");
}

#[test]
fn run_serves_health_and_metrics_reloads_on_sighup_and_stops_on_sigterm() {
    let dir = Scratch::new("run");
    let token = dir.file("api.token", "s3cret\n");
    let config = dir.file("agent.toml", &plant(&dir.0, &format!("token_file = \"{}\"", token.display())));
    let mut agent = Agent::start(&config);

    // Health: both devices up once they have scanned.
    assert!(
        eventually(Duration::from_secs(10), || {
            let (status, body) = agent.get("/healthz");
            status == 200 && body.contains("\"status\":\"ok\"")
        }),
        "devices never came up: {:?}",
        agent.get("/healthz")
    );
    let (_, health) = agent.get("/healthz");
    assert!(health.contains("\"name\":\"kiln\"") && health.contains("\"name\":\"meter\""), "{health}");

    // Metrics need the token.
    assert_eq!(agent.get("/metrics").0, 401);
    let (status, metrics) = agent.request("GET", "/metrics", None, Some("s3cret"));
    assert_eq!(status, 200);
    for family in [
        "edge_device_samples_total{device=\"kiln\"}",
        "edge_ring_depth",
        "edge_device_scan_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(family), "missing {family} in:\n{metrics}");
    }

    // Writes: limits hold, a good write reaches the simulated actuator.
    let put = |v: &str| {
        agent.request("PUT", "/tags/kiln.fuel_valve", Some(&format!("{{\"value\":{v}}}")), Some("s3cret"))
    };
    assert_eq!(put("150").0, 422, "outside writable limits");
    assert_eq!(agent.request("PUT", "/tags/kiln.temp", Some("{\"value\":1}"), Some("s3cret")).0, 422);
    assert_eq!(put("75.5").0, 204);
    assert!(eventually(Duration::from_secs(5), || {
        agent.request("GET", "/tags/kiln.fuel_valve", None, Some("s3cret")).1.contains("\"value\":75.5")
    }));

    // A broken config on SIGHUP is refused; the agent keeps running the old one.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.replace("shape = \"sine\"", "shape = \"sinus\"")).unwrap();
    agent.signal("HUP");
    agent.wait_for_log("refused", Duration::from_secs(10));
    assert_eq!(agent.get("/healthz").0, 200);

    // A good one is applied: the new device appears.
    let grown = format!(
        "{good}\n[[sim.device]]\nname = \"conveyor\"\nscan = \"100ms\"\ntags = [{{ name = \"conveyor.speed\", shape = \"ramp\" }}]\n"
    );
    std::fs::write(&config, grown).unwrap();
    agent.signal("HUP");
    agent.wait_for_log("config reloaded", Duration::from_secs(10));
    assert!(agent.get("/healthz").1.contains("\"name\":\"conveyor\""));
    let auth = Some("s3cret");
    let reloads = agent.request("GET", "/metrics", None, auth).1;
    assert!(reloads.contains("edge_config_reloads_total{result=\"applied\"} 1"), "{reloads}");
    assert!(reloads.contains("edge_config_reloads_total{result=\"refused\"} 1"), "{reloads}");

    // SIGTERM: a clean exit well inside 5 s.
    let stopping = Instant::now();
    agent.signal("TERM");
    let status = loop {
        if let Some(status) = agent.child.try_wait().unwrap() {
            break status;
        }
        assert!(stopping.elapsed() < Duration::from_secs(5), "still running 5 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
