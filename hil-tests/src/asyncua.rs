//! asyncua serving hil-tests/opcua_server.py on 127.0.0.1, killed on drop; its nodes can be deleted,
//! added and set while the agent reads them, and the server restarted on the same port.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Asyncua {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
    pub port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl Asyncua {
    /// Serves the test namespace without security.
    pub fn start() -> Asyncua {
        Asyncua::start_with(&[])
    }

    /// Serves with extra arguments of opcua_server.py (`--cert`, `--many`, ...).
    pub fn start_with(args: &[&str]) -> Asyncua {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, stdin, answers) = spawn(port, &args, &dir);
        Asyncua { child, stdin, answers, port, args, dir }
    }

    pub fn endpoint(&self) -> String {
        format!("opc.tcp://127.0.0.1:{}/", self.port)
    }

    /// Runs one command of opcua_server.py; panics on its error.
    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        let answer = self
            .answers
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no answer to {line}: {}", self.log()));
        assert!(answer.starts_with("ok"), "{line}: {answer}");
    }

    /// Kills the server (no goodbye to its clients).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, with fresh nodes.
    pub fn restart(&mut self) {
        self.kill();
        let (child, stdin, answers) = spawn(self.port, &self.args, &self.dir);
        (self.child, self.stdin, self.answers) = (child, stdin, answers);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

fn spawn(port: u16, args: &[String], dir: &tempfile::TempDir) -> (Child, ChildStdin, mpsc::Receiver<String>) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("opcua_server.py");
    let mut child = Command::new(crate::pymodbus::python())
        .arg(script)
        .args(["--port", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let (tx, answers) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let ready = answers.recv_timeout(Duration::from_secs(60));
    let log = || std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert_eq!(ready.as_deref().map(str::trim), Ok("ready"), "opcua_server.py did not start: {}", log());
    (child, stdin, answers)
}

impl Drop for Asyncua {
    fn drop(&mut self) {
        self.kill();
    }
}
