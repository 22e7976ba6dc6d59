//! The HJ 212 platform simulator (`hil-tests/hj212_platform.py`) for the hj212 uplink tests: started on
//! a free port on 127.0.0.1, stopped on drop; what it received is read back from its JSON-lines log.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

use serde_json::Value as Json;

pub struct Platform(Child);

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn platform(port: u16, log: &std::path::Path, args: &[&str]) -> Platform {
    let python = std::env::var("EDGE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../hil-tests/hj212_platform.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(["--port", &port.to_string(), "--log", log.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the platform simulator");
    // It prints `listening` once bound.
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
        .unwrap();
    assert_eq!(line.trim(), "listening");
    Platform(child)
}

pub fn seen(log: &std::path::Path) -> Vec<Json> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
