//! `deploy/push-config` against a real sshd on 127.0.0.1 and a running agent: a good file is applied, a
//! file `check` refuses changes nothing, and a file that makes the agent unhealthy is rolled back.

#[path = "support/agent.rs"]
mod agent;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use agent::{Agent, BIN, Scratch, eventually};
use hil_tests::sshd::Sshd;

const BOILER: &str = r#"
[[sim.device]]
name = "锅炉一号"
scan = "100ms"
tags = [{ name = "锅炉一号.温度", shape = "sine", offset = 80.0, amplitude = 5.0, period = "10s" }]
"#;

fn push(sshd: &Sshd, agent: &Agent, remote_config: &Path, file: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/push-config");
    Command::new("bash")
        .arg(script)
        .arg(&sshd.host)
        .arg(file)
        .env("PUSH_SSH_OPTS", sshd.client_opts())
        .env("REMOTE_CONFIG", remote_config)
        .env("REMOTE_AGENT", BIN)
        .env("RELOAD", format!("kill -HUP {}", agent.child.id()))
        .env("API", format!("http://{}", agent.addr))
        .env("HEALTH_WAIT", "6")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), {
        String::from_utf8_lossy(&o.stderr)
    })
}

fn applied(agent: &Agent) -> f64 {
    agent.metric(r#"edge_config_reloads_total{result="applied"}"#)
}

fn devices(agent: &Agent) -> String {
    agent.get("/healthz").1
}

struct Gateway {
    _dir: Scratch,
    sshd: Sshd,
    agent: Agent,
    config: PathBuf,
    laptop: PathBuf,
}

fn gateway(name: &str) -> Gateway {
    let dir = Scratch::new(name);
    let config = dir.config(BOILER);
    let agent = Agent::start(&config);
    assert!(eventually(Duration::from_secs(10), || devices(&agent).contains(r#""status":"ok""#)));
    let sshd = Sshd::start();
    let laptop = dir.0.join("laptop");
    std::fs::create_dir_all(&laptop).unwrap();
    Gateway { _dir: dir, sshd, agent, config, laptop }
}

#[test]
fn a_good_file_is_checked_swapped_in_reloaded_and_healthy() {
    let gw = gateway("push-good");
    let before = std::fs::read_to_string(&gw.config).unwrap();
    let next = before.clone()
        + r#"
[[sim.device]]
name = "二号泵"
scan = "100ms"
tags = [{ name = "二号泵.电流", shape = "constant", offset = 12.5 }]
"#;
    let file = gw.laptop.join("agent.toml");
    std::fs::write(&file, &next).unwrap();
    let out = push(&gw.sshd, &gw.agent, &gw.config, &file);
    assert!(out.status.success(), "{}\nsshd: {}", text(&out), gw.sshd.log_tail());
    assert!(text(&out).contains("applied"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&gw.config).unwrap(), next, "the gateway runs the pushed file");
    assert_eq!(std::fs::read_to_string(gw.config.with_extension("toml.previous")).unwrap(), before);
    assert_eq!(applied(&gw.agent), 1.0);
    assert!(devices(&gw.agent).contains("二号泵"), "{}", devices(&gw.agent));
}

#[test]
fn a_file_check_refuses_changes_nothing_and_says_why() {
    let gw = gateway("push-refused");
    let before = std::fs::read_to_string(&gw.config).unwrap();
    let file = gw.laptop.join("agent.toml");
    std::fs::write(&file, before.replace("shape = \"sine\"", "shape = \"sinus\"")).unwrap();
    let out = push(&gw.sshd, &gw.agent, &gw.config, &file);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("step check") && said.contains("nothing was changed"), "{said}");
    assert!(said.contains("sinus"), "the check's own error comes through: {said}");
    assert_eq!(std::fs::read_to_string(&gw.config).unwrap(), before);
    assert_eq!(applied(&gw.agent), 0.0, "no reload");
}

#[test]
fn a_file_that_leaves_the_agent_unhealthy_is_rolled_back_with_the_reason() {
    let gw = gateway("push-rollback");
    let before = std::fs::read_to_string(&gw.config).unwrap();
    // Valid, but its PLC does not answer: a port nobody listens on.
    let port = hil_tests::historians::free_port();
    let next = before.clone()
        + &format!(
            r#"
[[modbus.link]]
name = "hall-2"
transport = "tcp"
address = "127.0.0.1:{port}"
timeout = "200ms"
[[modbus.link.device]]
name = "meter-3"
unit = 1
scan = "200ms"
tags = [{{ name = "meter3.kw", address = "holding:0", type = "u16" }}]
"#
        );
    let file = gw.laptop.join("agent.toml");
    std::fs::write(&file, &next).unwrap();
    let out = push(&gw.sshd, &gw.agent, &gw.config, &file);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("step health") && said.contains("meter-3"), "says which device: {said}");
    assert!(said.contains("rolled back: the previous config runs again, healthy"), "{said}");
    assert_eq!(std::fs::read_to_string(&gw.config).unwrap(), before, "the previous file is back");
    assert_eq!(applied(&gw.agent), 2.0, "applied, then rolled back");
    assert!(!devices(&gw.agent).contains("meter-3"), "{}", devices(&gw.agent));
}
