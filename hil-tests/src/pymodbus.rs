//! pymodbus serving a typed register map on 127.0.0.1 (hil-tests/modbus_sim.py), killed on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pymodbus {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

pub fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = root.join("hil-tests/.venv/bin/python");
    let python = std::env::var_os("EDGE_TEST_PYTHON").map(PathBuf::from).unwrap_or(venv);
    assert!(
        python.exists(),
        "{} is missing: run hil-tests/run.sh, which installs pymodbus in a venv",
        python.display()
    );
    python
}

impl Pymodbus {
    /// Serves `map` (the JSON modbus_sim.py reads) with `framer` "socket" (Modbus TCP) or "rtu".
    pub fn start(map: &serde_json::Value, framer: &str) -> Pymodbus {
        let dir = tempfile::tempdir().unwrap();
        let map_file = dir.path().join("map.json");
        std::fs::write(&map_file, map.to_string()).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("modbus_sim.py");
        let child = Command::new(python())
            .arg(script)
            .args(["--map", map_file.to_str().unwrap(), "--tcp", &addr.to_string(), "--framer", framer])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("sim.log")).unwrap())
            .spawn()
            .unwrap();
        let mut sim = Pymodbus { child, addr, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = sim.child.try_wait() {
                panic!("modbus_sim.py exited ({status}): {}", sim.log());
            }
            assert!(Instant::now() < deadline, "pymodbus did not listen on {addr}: {}", sim.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        sim
    }

    /// Serves `map` as RTU on serial port `tty` (one end of a pty pair) at 19200 baud, no parity (a Linux
    /// pty refuses parity once it is set up).
    pub fn start_serial(map: &serde_json::Value, tty: &std::path::Path) -> Pymodbus {
        let dir = tempfile::tempdir().unwrap();
        let map_file = dir.path().join("map.json");
        std::fs::write(&map_file, map.to_string()).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("modbus_sim.py");
        let child = Command::new(python())
            .arg(script)
            .args([
                "--map",
                map_file.to_str().unwrap(),
                "--rtu",
                tty.to_str().unwrap(),
                "--baud",
                "19200",
                "--parity",
                "none",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("sim.log")).unwrap())
            .spawn()
            .unwrap();
        let mut sim = Pymodbus { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), _dir: dir };
        // The serial server has no port to poll: wait for its "ready", then give it a moment to open the tty.
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(sim.child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready.trim(), "ready", "modbus_sim.py: {}", sim.log());
        std::thread::sleep(Duration::from_millis(500));
        sim
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("sim.log")).unwrap_or_default()
    }
}

impl Drop for Pymodbus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pair of connected pseudo-terminals made by socat, as a null-modem cable between two serial ports.
pub struct PtyPair {
    child: Child,
    pub a: PathBuf,
    pub b: PathBuf,
    _dir: tempfile::TempDir,
}

// It starts socat: not a value to make by default.
#[allow(clippy::new_without_default)]
impl PtyPair {
    pub fn new() -> PtyPair {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("ttyA"), dir.path().join("ttyB"));
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("socat: {e}; run hil-tests/run.sh, which installs it"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(a.exists() && b.exists()) {
            assert!(Instant::now() < deadline, "socat made no pty pair");
            std::thread::sleep(Duration::from_millis(20));
        }
        PtyPair { child, a, b, _dir: dir }
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
