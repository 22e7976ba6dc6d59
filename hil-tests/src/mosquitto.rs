//! Mosquitto, the broker the MQTT tests talk to: on a free 127.0.0.1 port with its own config file and
//! persistence in a temp dir, optionally TLS-only with client certificates from a plant [`Pki`];
//! stopped on drop. [`Probe`] is an independent MQTT client (rumqttc, used directly) that records
//! everything on the topics it subscribes to, and publishes what a test's field devices would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::historians::{Pki, Process, free_port};

const BINARY: &str = "/usr/sbin/mosquitto";

pub struct Mosquitto {
    process: Process,
    pub port: u16,
    pub tls: bool,
    /// Plain MQTT for the test's own [`Probe`]: the port itself, or beside a TLS port a second one.
    pub probe_port: u16,
    config: std::path::PathBuf,
}

impl Mosquitto {
    /// Plain MQTT, anonymous clients allowed.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// TLS only, with a server certificate from `pki` and a client certificate from its CA required.
    pub fn start_tls(pki: &Pki) -> Self {
        Self::start_with(Some(pki))
    }

    fn start_with(pki: Option<&Pki>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let d = dir.path().display();
        // `user root`: as root, mosquitto would switch to its own user, which cannot read the temp dir.
        let mut text = format!(
            "user root\nallow_anonymous true\npersistence true\npersistence_location {d}/\nlog_dest stdout\nlog_type error\nlog_type warning\nmax_queued_messages 0\nqueue_qos0_messages true\n"
        );
        let probe_port = if pki.is_some() { free_port() } else { port };
        if probe_port != port {
            text.push_str(&format!("listener {probe_port} 127.0.0.1\n"));
        }
        // A listener's TLS keys follow its `listener` line.
        text.push_str(&format!("listener {port} 127.0.0.1\n"));
        if let Some(p) = pki {
            text.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nuse_identity_as_username true\n",
                p.ca.display(),
                p.cert.display(),
                p.key.display()
            ));
        }
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(&config, text).expect("write mosquitto.conf");
        let args = ["-c".to_owned(), config.display().to_string()];
        if !std::path::Path::new(BINARY).exists() {
            panic!("{BINARY} is missing: run hil-tests/run.sh, which installs mosquitto");
        }
        let mut process = Process::spawn("mosquitto", BINARY, dir, &args);
        process.wait_listening(SocketAddr::from(([127, 0, 0, 1], port)));
        process.wait_listening(SocketAddr::from(([127, 0, 0, 1], probe_port)));
        Mosquitto { process, port, tls: pki.is_some(), probe_port, config }
    }

    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls { "mqtts" } else { "mqtt" }, self.port)
    }

    /// An outage: SIGTERM (it saves its persistent sessions), the port refuses connections.
    pub fn stop(&mut self) {
        self.process.terminate();
    }

    /// Back on the same port with the sessions and queued messages it saved.
    pub fn restart(&mut self) {
        let args = ["-c".to_owned(), self.config.display().to_string()];
        self.process.respawn(BINARY, &args);
        self.process.wait_listening(SocketAddr::from(([127, 0, 0, 1], self.port)));
        self.process.wait_listening(SocketAddr::from(([127, 0, 0, 1], self.probe_port)));
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// One message as the probe received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// An MQTT client of the test's own: subscribes with a persistent session (so a broker restart loses
/// nothing queued for it) and keeps every message in arrival order.
pub struct Probe {
    pub client: rumqttc::AsyncClient,
    pub received: Arc<Mutex<Vec<Received>>>,
    connected: Arc<Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Probe {
    /// Connects to `broker` as `client_id`, subscribed (QoS 1) to `filters`; waits for the connection.
    pub async fn connect(broker: &Mosquitto, client_id: &str, filters: &[&str]) -> Probe {
        let mut o = rumqttc::MqttOptions::new(client_id, "127.0.0.1", broker.probe_port);
        o.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(16 << 20, 16 << 20);
        let (client, mut events) = rumqttc::AsyncClient::new(o, 1024);
        let received = Arc::new(Mutex::new(Vec::new()));
        let connected = Arc::new(Mutex::new(false));
        let (rx, up) = (received.clone(), connected.clone());
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let resubscribe = client.clone();
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => rx
                        .lock()
                        .unwrap()
                        .push(Received { topic: p.topic, payload: p.payload.to_vec(), retain: p.retain }),
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => *up.lock().unwrap() = true,
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a))) => {
                        if filters.is_empty() {
                            *up.lock().unwrap() = true;
                        }
                        if !a.session_present {
                            for f in &filters {
                                let _ = resubscribe.try_subscribe(f, rumqttc::QoS::AtLeastOnce);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        *up.lock().unwrap() = false;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        let probe = Probe { client, received, connected, task };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !*probe.connected.lock().unwrap() {
            assert!(Instant::now() < deadline, "the probe did not connect to {}", broker.url());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        probe
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload.into())
            .await
            .expect("queue a publish");
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to `within` until `cond` holds for the messages so far.
    pub async fn until(&self, within: Duration, what: &str, cond: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + within;
        while !cond(&self.received.lock().unwrap()) {
            assert!(Instant::now() < deadline, "not within {within:?}: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Decodes each payload with Eclipse Tahu's JavaScript Sparkplug library (`hil-tests/sparkplug-decoder`,
/// installed by run.sh): an implementation independent of the agent's. One JSON value per payload.
pub fn tahu_decode(payloads: &[Vec<u8>]) -> Vec<serde_json::Value> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sparkplug-decoder");
    assert!(
        dir.join("node_modules/sparkplug-payload").exists(),
        "run hil-tests/run.sh, which installs the Tahu decoder into {}",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg(dir.join("decode.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs the decoder");
    let mut input = String::new();
    for p in payloads {
        input.extend(p.iter().map(|b| format!("{b:02x}")));
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("the decoder ends");
    writer.join().unwrap().expect("the decoder reads its input");
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let values: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(values.len(), payloads.len(), "one answer per payload");
    values
}
