//! A scripted ASCII instrument on one end of a pty pair: answers requests or streams lines, in pieces
//! and with pauses as a slow instrument's UART sends them, and can fall silent on command.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A piece of what the instrument sends.
#[derive(Clone, Debug)]
pub enum Chunk {
    Bytes(Vec<u8>),
    Pause(Duration),
}

pub fn text(s: &str) -> Chunk {
    Chunk::Bytes(s.as_bytes().to_vec())
}

pub fn pause(ms: u64) -> Chunk {
    Chunk::Pause(Duration::from_millis(ms))
}

pub struct ScriptedInstrument {
    /// Every request received, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    silent: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn open(tty: &Path) -> serialport::TTYPort {
    serialport::new(tty.to_string_lossy(), 9600)
        .timeout(Duration::from_millis(5))
        .open_native()
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", tty.display()))
}

fn send(port: &mut serialport::TTYPort, chunks: &[Chunk]) {
    for c in chunks {
        match c {
            Chunk::Bytes(b) => {
                let _ = port.write_all(b);
                let _ = port.flush();
            }
            Chunk::Pause(d) => std::thread::sleep(*d),
        }
    }
}

impl ScriptedInstrument {
    /// Answers each request, ended by `request_end`, with `answer(request, n)` (n counts from 0).
    pub fn polled(
        tty: &Path,
        request_end: u8,
        mut answer: impl FnMut(&str, usize) -> Vec<Chunk> + Send + 'static,
    ) -> ScriptedInstrument {
        let mut port = open(tty);
        ScriptedInstrument::spawn(move |requests, silent, stop| {
            let (mut pending, mut buf) = (Vec::new(), [0u8; 256]);
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = port.read(&mut buf) {
                    pending.extend_from_slice(&buf[..n]);
                }
                while let Some(end) = pending.iter().position(|&b| b == request_end) {
                    let request: Vec<u8> = pending.drain(..=end).collect();
                    let request = String::from_utf8_lossy(&request).into_owned();
                    let n = {
                        let mut all = requests.lock().unwrap();
                        all.push(request.clone());
                        all.len() - 1
                    };
                    if !silent.load(Ordering::Relaxed) {
                        send(&mut port, &answer(&request, n));
                    }
                }
            }
        })
    }

    /// Sends `line(n)` every `period` (n counts from 0).
    pub fn streaming(
        tty: &Path,
        period: Duration,
        mut line: impl FnMut(usize) -> Vec<Chunk> + Send + 'static,
    ) -> ScriptedInstrument {
        let mut port = open(tty);
        ScriptedInstrument::spawn(move |_, silent, stop| {
            let mut n = 0;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    if !silent.load(Ordering::Relaxed) {
                        send(&mut port, &line(n));
                    }
                    n += 1;
                    next += period;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    }

    fn spawn(
        body: impl FnOnce(Arc<Mutex<Vec<String>>>, Arc<AtomicBool>, Arc<AtomicBool>) + Send + 'static,
    ) -> ScriptedInstrument {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let silent = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (requests.clone(), silent.clone(), stop.clone());
        let thread = std::thread::spawn(move || body(r, s, st));
        ScriptedInstrument { requests, silent, stop, thread: Some(thread) }
    }

    /// Stops answering (and streaming) until [`ScriptedInstrument::speak`].
    pub fn go_silent(&self) {
        self.silent.store(true, Ordering::Relaxed);
    }

    pub fn speak(&self) {
        self.silent.store(false, Ordering::Relaxed);
    }

    /// A handle that silences the instrument from another thread (the driver contract's fault).
    pub fn silencer(&self) -> impl FnOnce() + Send + 'static {
        let silent = self.silent.clone();
        move || silent.store(true, Ordering::Relaxed)
    }
}

impl Drop for ScriptedInstrument {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // A helper thread that died would leave the test waiting on a silent line: say so.
        if let Some(t) = self.thread.take() {
            if t.join().is_err() && !std::thread::panicking() {
                panic!("a test peer's thread panicked (see its message above)");
            }
        }
    }
}
