//! Real historians for integration tests: VictoriaMetrics and InfluxDB 1.x, each on free ports of
//! 127.0.0.1 with its data in a temp dir, killed and reaped on drop.
//!
//! The helpers are blocking (std only, a
//! tiny HTTP/1.0 client) so sync and async tests can use them alike.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Url;
use tempfile::TempDir;

const STARTUP_LIMIT: Duration = Duration::from_secs(20);
const MISSING: &str = "run hil-tests/run.sh, which installs victoria-metrics and influxdb";

/// One running server process and its files.
pub(crate) struct Process {
    name: &'static str,
    child: Child,
    pub(crate) dir: TempDir,
}

impl Process {
    pub(crate) fn spawn(name: &'static str, binary: &str, dir: TempDir, args: &[String]) -> Self {
        if !Path::new(binary).exists() {
            panic!("{binary} is missing: {MISSING}");
        }
        // A file, not a pipe: nobody drains a pipe, and a full one would stall the server.
        let log = File::create(dir.path().join("server.log")).expect("create server.log");
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup server.log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}; {MISSING}"));
        Self { name, child, dir }
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls `path` until it answers `want`; panics with the server's log if it exits or never does.
    fn wait_ready(&mut self, addr: SocketAddr, path: &str, want: u16) -> Duration {
        let what = format!("answer {want} on http://{addr}{path}");
        self.wait_until(&what, || http(addr, "GET", path, b"").is_ok_and(|(status, _)| status == want))
    }

    pub(crate) fn wait_listening(&mut self, addr: SocketAddr) -> Duration {
        self.wait_until(&format!("listen on {addr}"), || {
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        })
    }

    fn wait_until(&mut self, what: &str, ready: impl Fn() -> bool) -> Duration {
        let start = Instant::now();
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before it would {what}; its log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if start.elapsed() > STARTUP_LIMIT {
                panic!(
                    "{} did not {what} within {STARTUP_LIMIT:?}; its log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        start.elapsed()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now. Another process may take it before the server binds it; the
/// readiness check then fails loudly rather than talking to a stranger for long.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// Blocking HTTP/1.0 (so no chunked answers) with `Connection: close`: status and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "{method} {path_and_query} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || std::io::Error::other(format!("not an HTTP answer: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}

/// `/path?k=v&..` with the values percent-encoded.
fn path_with(path: &str, params: &[(&str, &str)]) -> String {
    let url = Url::parse_with_params(&format!("http://x{path}"), params).expect("test URL");
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

/// One stored sample: the series (`name{label="v",..}`, labels sorted) and its timestamp in ms.
pub type StoredSample = (String, i64);

/// VictoriaMetrics serving `addr` with its data under `dir`.
fn vm_args(addr: SocketAddr, dir: &Path) -> Vec<String> {
    vec![
        format!("-httpListenAddr={addr}"),
        format!("-storageDataPath={}", dir.join("data").display()),
        // Test points carry fixed timestamps from 2023; the default retention (1 month) drops them.
        "-retentionPeriod=100y".to_owned(),
        "-loggerLevel=WARN".to_owned(),
    ]
}

pub struct VictoriaMetrics {
    process: Process,
    pub addr: SocketAddr,
    pub startup: Duration,
}

impl VictoriaMetrics {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// For PromQL queries of data just written (dashboards): no 30 s latency offset, no response cache.
    pub fn start_queryable() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut args = vm_args(addr, dir.path());
        args.extend(["-search.latencyOffset=0s".to_owned(), "-search.disableCache".to_owned()]);
        let mut process = Process::spawn("victoria-metrics", "/usr/bin/victoria-metrics", dir, &args);
        let startup = process.wait_ready(addr, "/health", 200);
        Self { process, addr, startup }
    }

    /// Serving HTTPS with `pki`'s server certificate (for 127.0.0.1). The blocking helpers here speak plain
    /// HTTP only, so readiness is "the port accepts", and the test's own client waits for the first 2xx.
    pub fn start_tls(pki: &Pki) -> Self {
        Self::start_with(Some(pki))
    }

    fn start_with(tls: Option<&Pki>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut args = vm_args(addr, dir.path());
        if let Some(pki) = tls {
            args.push("-tls".to_owned());
            args.push(format!("-tlsCertFile={}", pki.cert.display()));
            args.push(format!("-tlsKeyFile={}", pki.key.display()));
        }
        let mut process = Process::spawn("victoria-metrics", "/usr/bin/victoria-metrics", dir, &args);
        let startup = match tls {
            None => process.wait_ready(addr, "/health", 200),
            Some(_) => process.wait_listening(addr),
        };
        Self { process, addr, startup }
    }

    /// `http://..`; a TLS instance answers on the same address with `https://`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Written points become queryable only after VictoriaMetrics flushes its in-memory buffers (about
    /// once a second on its own).
    pub fn flush(&self) {
        let (status, body) = http(self.addr, "GET", "/internal/force_flush", b"").expect("force_flush");
        assert_eq!(status, 200, "force_flush: {body}");
    }

    /// Every stored sample, duplicates kept (no dedup is configured), after a flush. An InfluxDB field
    /// becomes the series `<measurement>_<field>`, and a v1 write adds the label `db`.
    pub fn samples(&self) -> Vec<StoredSample> {
        self.flush();
        let path = path_with("/api/v1/export", &[("match[]", r#"{__name__=~".+"}"#)]);
        let (status, body) = http(self.addr, "GET", &path, b"").expect("export");
        assert_eq!(status, 200, "export: {body}");
        let mut out = Vec::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("export line is JSON");
            let labels: BTreeMap<&str, &str> = v["metric"]
                .as_object()
                .expect("metric")
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                .collect();
            let name = labels.get("__name__").copied().unwrap_or_default();
            let rest: Vec<String> =
                labels.iter().filter(|(k, _)| **k != "__name__").map(|(k, v)| format!("{k}={v:?}")).collect();
            let series = format!("{name}{{{}}}", rest.join(","));
            for ts in v["timestamps"].as_array().expect("timestamps") {
                out.push((series.clone(), ts.as_i64().expect("timestamp")));
            }
        }
        out.sort();
        out
    }

    pub fn count_points(&self) -> usize {
        self.samples().len()
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// Samples stored more than once for the same series and timestamp, with how often.
pub fn repeated(samples: &[StoredSample]) -> Vec<(StoredSample, usize)> {
    let mut counts: BTreeMap<&StoredSample, usize> = BTreeMap::new();
    for s in samples {
        *counts.entry(s).or_default() += 1;
    }
    counts.into_iter().filter(|(_, n)| *n > 1).map(|(s, n)| (s.clone(), n)).collect()
}

/// InfluxDB 1.x with one database, [`InfluxDb1::DB`], created.
pub struct InfluxDb1 {
    process: Process,
    pub addr: SocketAddr,
    pub startup: Duration,
}

impl InfluxDb1 {
    pub const DB: &'static str = "plant";

    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let rpc = free_port();
        let d = dir.path().display();
        // Everything but HTTP off: no usage reports, no self-monitoring database, no UDP/Graphite listeners.
        let config = format!(
            r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "{addr}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"#
        );
        let file = dir.path().join("influxdb.conf");
        std::fs::write(&file, config).expect("write influxdb.conf");
        let args = ["-config".to_owned(), file.display().to_string()];
        let mut process = Process::spawn("influxd", "/usr/bin/influxd", dir, &args);
        let startup = process.wait_ready(addr, "/ping", 204);
        let me = Self { process, addr, startup };
        me.query(&format!("CREATE DATABASE {}", Self::DB));
        me
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An outage: the server is gone, its port refuses connections.
    pub fn stop(&mut self) {
        self.process.terminate();
    }

    /// Back from the outage on the same port, with the data it had.
    pub fn restart(&mut self) {
        let file = self.process.dir.path().join("influxdb.conf");
        self.process.respawn("/usr/bin/influxd", &["-config".to_owned(), file.display().to_string()]);
        self.process.wait_ready(self.addr, "/ping", 204);
    }

    /// Runs InfluxQL against [`Self::DB`]; panics on an HTTP or statement error.
    pub fn query(&self, q: &str) -> serde_json::Value {
        let path = path_with("/query", &[("db", Self::DB), ("q", q)]);
        let (status, body) = http(self.addr, "POST", &path, b"").expect("query");
        assert_eq!(status, 200, "{q}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("query answer is JSON");
        assert!(v["results"][0]["error"].is_null(), "{q}: {body}");
        v
    }

    /// Stored points: one per series and timestamp (a rewrite of the same point replaces it).
    pub fn count_points(&self) -> usize {
        let v = self.query("SELECT * FROM /.*/");
        v["results"][0]["series"]
            .as_array()
            .map_or(0, |all| all.iter().map(|s| s["values"].as_array().map_or(0, Vec::len)).sum())
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

impl Process {
    /// Stops the server with SIGTERM, so it flushes what it acknowledged; its files stay.
    pub(crate) fn terminate(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    /// Starts the same server again on its files.
    pub(crate) fn respawn(&mut self, binary: &str, args: &[String]) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.path().join("server.log"))
            .expect("open server.log");
        self.child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup server.log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot restart {binary}: {e}"));
    }
}

impl VictoriaMetrics {
    /// An outage: the server is gone, its port refuses connections.
    pub fn stop(&mut self) {
        self.process.terminate();
    }

    /// Every stored point of the series whose name starts with `name` (e.g. `line_value`) with
    /// label `tag="<tag>"`: (timestamp ms, value), duplicates kept, by time.
    pub fn points(&self, name: &str, tag: &str) -> Vec<(i64, f64)> {
        self.flush();
        let selector = format!(r#"{{__name__="{name}",tag="{tag}"}}"#);
        let path = path_with("/api/v1/export", &[("match[]", selector.as_str())]);
        let (status, body) = http(self.addr, "GET", &path, b"").expect("export");
        assert_eq!(status, 200, "export: {body}");
        let mut out = Vec::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("export line is JSON");
            let ts = v["timestamps"].as_array().expect("timestamps");
            let vals = v["values"].as_array().expect("values");
            out.extend(ts.iter().zip(vals).map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap())));
        }
        out.sort_by(|a, b| a.partial_cmp(b).unwrap());
        out
    }

    /// Back from the outage on the same port, with the data it had.
    pub fn restart(&mut self) {
        let args = vm_args(self.addr, self.process.dir.path());
        self.process.respawn("/usr/bin/victoria-metrics", &args);
        self.process.wait_ready(self.addr, "/health", 200);
    }
}

/// A plant CA and a server certificate it signed for 127.0.0.1 and localhost (P-256, made by the openssl
/// CLI), in a temp dir that lives as long as this.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: TempDir,
}

// It starts openssl: not a value to make by default.
#[allow(clippy::new_without_default)]
impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write server.ext");
        let new_key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        let steps = [
            format!(
                "req -x509 {new_key} -keyout ca.key -out ca.pem -days 3650 -subj /CN=plant-test-ca \
                 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
            ),
            format!("req {new_key} -keyout server.key -out server.csr -subj /CN=localhost"),
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 3650 \
             -extfile server.ext"
                .to_owned(),
        ];
        for args in &steps {
            let out = Command::new("openssl")
                .current_dir(dir.path())
                .args(args.split_whitespace())
                .output()
                .unwrap_or_else(|e| {
                    panic!("cannot run openssl: {e}; run hil-tests/run.sh, which installs it")
                });
            assert!(out.status.success(), "openssl {args}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Self {
            ca: dir.path().join("ca.pem"),
            cert: dir.path().join("server.pem"),
            key: dir.path().join("server.key"),
            _dir: dir,
        }
    }
}

impl Pki {
    /// A client certificate for `name` signed by the plant CA (for brokers that require one): the
    /// certificate and key files.
    pub fn client(&self, name: &str) -> (PathBuf, PathBuf) {
        let dir = self._dir.path();
        std::fs::write(dir.join("client.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
            .expect("write client.ext");
        let (cert, key, csr) = (format!("{name}.pem"), format!("{name}.key"), format!("{name}.csr"));
        let steps = [
            format!(
                "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {key} -out {csr} -subj /CN={name}"
            ),
            format!(
                "x509 -req -in {csr} -CA ca.pem -CAkey ca.key -CAcreateserial -out {cert} -days 3650 -extfile client.ext"
            ),
        ];
        for args in &steps {
            let out = Command::new("openssl")
                .current_dir(dir)
                .args(args.split_whitespace())
                .output()
                .expect("openssl");
            assert!(out.status.success(), "openssl {args}: {}", String::from_utf8_lossy(&out.stderr));
        }
        (dir.join(cert), dir.join(key))
    }
}
