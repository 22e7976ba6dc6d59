//! The web console in a real browser: the agent runs the demo config (its Chinese device names, its
//! conveyor that drops off its fieldbus every minute) with an API token and an uplink carrying a
//! secret, and hil-tests/console-tests/console.js drives Debian's chromium headless against it.
//! Needs chromium (`apt-get install chromium`) and `npm ci` in hil-tests/console-tests; run.sh does both.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hil_tests::agent::{Agent, Scratch};

const TOKEN: &str = "console-token-5f3a9c";
const INFLUX_TOKEN: &str = "influx-s3cret-8d21e7";

#[test]
fn the_console_in_chromium_against_the_demo_plant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tests = root.join("hil-tests/console-tests");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: `apt-get install -y chromium` (hil-tests/run.sh installs it)"
    );
    assert!(
        tests.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci` in {} (hil-tests/run.sh does)",
        tests.display()
    );
    let scratch = Scratch::new("console");
    let token_file = scratch.file("api.token", &format!("{TOKEN}\n"));
    let demo = std::fs::read_to_string(root.join("deploy/examples/demo.toml")).unwrap();
    // The demo as shipped, with its data here, a free port, the token on, and an uplink whose
    // historian is not there (shown down, with its error) and whose token must never reach a page.
    let text = demo
        .replace("data_dir = \"./data\"", &format!("data_dir = \"{}\"", scratch.0.join("data").display()))
        .replace("listen = \"127.0.0.1:9100\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "# token_file = \"/etc/edge-agent/api.token\"",
            &format!("token_file = \"{}\"", token_file.display()),
        )
        + &format!(
            "\n[[uplink]]\nname = \"historian\"\ntype = \"influxdb_v2\"\nurl = \"http://127.0.0.1:9\"\norg = \"plant\"\n\
             bucket = \"edge\"\ntoken = \"{INFLUX_TOKEN}\"\nmax_retry_wait = \"1s\"\n"
        );
    assert!(text.contains("token_file = "), "the demo's commented token_file line moved; update this test");
    let config = scratch.file("agent.toml", &text);
    let mut agent = Agent::start(&config);
    agent.wait_for_log("first sample acquired", Duration::from_secs(20));

    let out = Command::new("node")
        .arg(tests.join("console.js"))
        .env("AGENT_URL", format!("http://{}", agent.addr))
        .env("AGENT_TOKEN", TOKEN)
        .env("SECRETS", format!("[\"{TOKEN}\", \"{INFLUX_TOKEN}\"]"))
        .env("FAULT_DEVICE", "conveyor")
        .env("DOWN_UPLINK", "historian")
        // The demo's conveyor faults every 60 s: the first fault is at most a minute and a scan away.
        .env("FAULT_WITHIN_MS", "70000")
        .output()
        .expect("node runs (apt-get install nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "the console test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("figures: "), "the script ran to its end:\n{stdout}");
}
