//! The agent under systemd: the unit's hardening figure, the sd_notify messages the agent sends to a
//! real notify socket (READY, WATCHDOG, RELOADING, STOPPING) as systemd would receive them, and its
//! journald line format.

#[path = "support/agent.rs"]
mod agent;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use agent::{Agent, BIN, Scratch};

/// What issue 18 allows: `systemd-analyze security` rates 0 (locked down) to 10 (exposed).
const MAX_EXPOSURE: f64 = 2.0;

fn unit() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/edge-agent.service")
}

#[test]
fn the_unit_is_hardened_to_an_exposure_of_at_most_2() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit())
        .output()
        .expect("systemd-analyze runs (Debian package systemd; hil-tests/run.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure in:\n{text}"));
    let score: f64 = line
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure from {line:?}"));
    println!("exposure: {score}");
    assert!(score <= MAX_EXPOSURE, "exposure {score} > {MAX_EXPOSURE}:\n{text}");
}

#[test]
fn the_unit_declares_notify_watchdog_its_own_user_and_device_groups() {
    let text = std::fs::read_to_string(unit()).unwrap();
    let has = |line: &str| text.lines().any(|l| l.trim() == line);
    for line in [
        "Type=notify",
        "User=edge-agent",
        "StateDirectory=edge-agent",
        "ConfigurationDirectory=edge-agent",
        "Restart=always",
        "SupplementaryGroups=dialout gpio",
    ] {
        assert!(has(line), "the unit lacks {line:?}");
    }
    assert!(text.lines().any(|l| l.starts_with("WatchdogSec=")), "the unit has no watchdog");
}

/// Reads datagrams until one contains `want`, failing with all that came.
fn wait_for(sock: &UnixDatagram, want: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = msg.lines().any(|l| l == want);
                seen.push(msg);
                if done {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no {want:?} within {within:?}; received: {seen:?}");
}

#[test]
fn the_agent_tells_systemd_it_is_ready_alive_reloading_and_stopping() {
    let dir = Scratch::new("sd-notify");
    let socket = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&socket).unwrap();
    let config = dir.config(
        r#"[[sim.device]]
name = "锅炉一号"
scan = "100ms"
tags = [{ name = "锅炉一号.温度", shape = "sine", offset = 80.0, amplitude = 5.0, period = "10s" }]
"#,
    );
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "-c"]).arg(&config);
    // systemd sets these for a unit with Type=notify and WatchdogSec=400ms, and JOURNAL_STREAM when
    // stderr goes to the journal.
    cmd.env("NOTIFY_SOCKET", &socket).env("WATCHDOG_USEC", "400000").env("JOURNAL_STREAM", "8:12345");
    let mut agent = Agent::start_with(cmd);
    let line = agent.wait_for_log("edge-agent running", Duration::from_secs(10));
    assert!(line.starts_with("<6>"), "journald reads the priority from the line: {line:?}");
    assert!(!line.contains("\x1b["), "no colour codes in the journal: {line:?}");
    cmd_is_ready(&sock);
    // Pings at half the timeout: several within a second.
    let started = Instant::now();
    for _ in 0..3 {
        wait_for(&sock, "WATCHDOG=1", Duration::from_secs(2));
    }
    assert!(started.elapsed() < Duration::from_secs(2), "watchdog pings too slow: {:?}", started.elapsed());

    agent.signal("HUP");
    wait_for(&sock, "RELOADING=1", Duration::from_secs(10));
    wait_for(&sock, "READY=1", Duration::from_secs(10));
    agent.wait_for_log("reloaded", Duration::from_secs(10));

    agent.signal("TERM");
    wait_for(&sock, "STOPPING=1", Duration::from_secs(10));
    let status = agent.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

fn cmd_is_ready(sock: &UnixDatagram) {
    let got = wait_for(sock, "READY=1", Duration::from_secs(10));
    let ready = got.last().unwrap();
    assert!(ready.contains("STATUS=running"), "READY carries a status: {ready:?}");
}
