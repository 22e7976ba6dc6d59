//! The running agent as tests drive it: a scratch dir, the `edge-agent run` process, its log and HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `edge-agent` binary under test: `EDGE_AGENT_BIN`, or the one cargo built beside this test
/// (`target/<profile>/edge-agent`, built before any integration test of the edge-agent crate runs).
pub fn bin() -> PathBuf {
    if let Some(path) = std::env::var_os("EDGE_AGENT_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test knows where it runs from");
    // target/<profile>/deps/<test>-<hash>: the binary is two levels up.
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("tests run from target/<profile>/deps");
    let bin = dir.join("edge-agent");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p edge-agent`, or set EDGE_AGENT_BIN",
        bin.display()
    );
    bin
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("edge-agent-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    /// `agent.toml` with the agent's data under this dir and its API on a free port, then `body` (which
    /// may go on with `[api]` keys).
    pub fn config(&self, body: &str) -> PathBuf {
        let data = self.0.join("data");
        self.file(
            "agent.toml",
            &format!("[agent]\ndata_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:0\"\n{body}", data.display()),
        )
    }

    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running agent; killed on drop if a test fails midway.
pub struct Agent {
    pub child: Child,
    pub addr: String,
    stderr: mpsc::Receiver<String>,
}

impl Agent {
    pub fn start(config: &Path) -> Agent {
        let mut cmd = Command::new(bin());
        cmd.args(["run", "-c"]).arg(config);
        Agent::start_with(cmd)
    }

    /// Starts `cmd`, which must end up running `edge-agent run` (e.g. through `unshare`).
    pub fn start_with(mut cmd: Command) -> Agent {
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut agent = Agent { child, addr: String::new(), stderr: rx };
        let line = agent.wait_for_log("serving /healthz", Duration::from_secs(20));
        let addr = line.split("addr=").nth(1).expect("the listener logs its address");
        agent.addr = addr.split_whitespace().next().unwrap().to_owned();
        agent
    }

    /// Waits for a log line containing `needle`, failing with everything logged so far.
    pub fn wait_for_log(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?} within {within:?}; logged:\n{}", seen.join("\n"));
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, None, None)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ));
        } else {
            req.push_str("\r\n");
        }
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args(["-s", sig, &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }
}

/// `edge-agent test -c config`: whether it succeeded, its stdout and its stderr.
pub fn one_scan(config: &Path, timeout: &str) -> (bool, String, String) {
    let out =
        Command::new(bin()).args(["test", "-c"]).arg(config).args(["--timeout", timeout]).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

impl Agent {
    /// The value of one /metrics line, e.g. `edge_store_appended_samples_total` or
    /// `edge_uplink_backlog_samples{uplink="vm"}`.
    pub fn metric(&self, series: &str) -> f64 {
        let (status, text) = self.get("/metrics");
        assert_eq!(status, 200);
        let prefix = format!("{series} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
            .parse()
            .unwrap()
    }
}

impl Agent {
    /// `/tags/{tag}` as (quality, reason, value); the name is percent-encoded, so `锅炉一号.温度` works.
    pub fn tag(&self, tag: &str) -> (String, Option<String>, serde_json::Value) {
        let mut url = reqwest::Url::parse("http://agent/tags/").expect("a base URL");
        url.path_segments_mut().expect("a base URL").pop_if_empty().push(tag);
        let (status, body) = self.get(url.path());
        assert_eq!(status, 200, "/tags/{tag}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("/tags answers JSON");
        let text = |k: &str| json[k].as_str().map(str::to_owned);
        (text("quality").unwrap_or_default(), text("reason"), json["value"].clone())
    }

    /// SIGTERM, then waits (at most 10 s) for the agent to exit.
    pub fn stop(mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the agent did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The agent's resident set size now, from /proc/PID/status.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"));
        line.and_then(|l| l.split_whitespace().next()?.parse().ok()).unwrap_or(0)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The next number of a xorshift sequence: kill moments that differ run to run, the same each test run.
pub fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Polls `f` until it returns true or `within` passes.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
