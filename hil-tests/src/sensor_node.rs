//! The sensor-node firmware's register map and RTU slave on the host, serving one end of a pty pair as
//! the node's main loop serves its UART, and a relay between two pty pairs that puts line faults (noise,
//! pauses inside a frame) between a master and the node.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use firmware::{Node, Slave, SlaveStats};
use serialport::{SerialPort, TTYPort};

fn open(tty: &Path, baud: u32) -> TTYPort {
    serialport::new(tty.to_string_lossy(), baud)
        .timeout(Duration::from_millis(1))
        .open_native()
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", tty.display()))
}

/// A pty as the node's UART.
struct Uart(TTYPort);

impl embedded_io::ErrorType for Uart {
    type Error = std::io::Error;
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        match self.0.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(0),
            other => other,
        }
    }
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.0.bytes_to_read().map_err(std::io::Error::other)? > 0)
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.flush()
    }
}

/// How long answers took on the host, per request answered.
#[derive(Clone, Debug, Default)]
pub struct AnswerTimes {
    /// From reading the request's last byte to the answer written: includes the t3.5 the slave must
    /// wait to know the frame has ended.
    pub turnaround: Vec<Duration>,
    /// From the end of that silence to the answer written: the slave's own work (decode, serve, encode,
    /// write).
    pub work: Vec<Duration>,
}

pub struct SensorNode {
    pub node: Arc<Mutex<Node>>,
    pub stats: Arc<Mutex<SlaveStats>>,
    pub times: Arc<Mutex<AnswerTimes>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SensorNode {
    /// Serves `node` as `unit` on `tty` at `baud` (8N1: 10 bits a character, which sets t3.5).
    pub fn start(tty: &Path, unit: u8, baud: u32, node: Node) -> SensorNode {
        let mut uart = Uart(open(tty, baud));
        let node = Arc::new(Mutex::new(node));
        let stats = Arc::new(Mutex::new(SlaveStats::default()));
        let times = Arc::new(Mutex::new(AnswerTimes::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, s, t, halt) = (node.clone(), stats.clone(), times.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut slave = Slave::new(unit, baud, 10);
            let silence = Duration::from_micros(u64::from(slave.silence_us()));
            let epoch = Instant::now();
            let mut last_byte = Instant::now();
            while !halt.load(Ordering::Relaxed) {
                let before = slave.buffered();
                let turn = Instant::now();
                let now_us = epoch.elapsed().as_micros() as u32;
                let sent = slave.serve(&mut uart, &mut *n.lock().unwrap(), now_us).expect("the pty");
                let done = Instant::now();
                if sent.is_some() {
                    let mut times = t.lock().unwrap();
                    times.turnaround.push(done - last_byte);
                    times.work.push(done - turn.max(last_byte + silence));
                }
                if slave.buffered() != before {
                    last_byte = turn;
                }
                *s.lock().unwrap() = slave.stats;
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        SensorNode { node, stats, times, stop, thread: Some(thread) }
    }

    pub fn stats(&self) -> SlaveStats {
        *self.stats.lock().unwrap()
    }
}

impl Drop for SensorNode {
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

/// A fault the relay puts on the line, at the n-th request (counted from 0).
#[derive(Clone, Debug)]
pub enum LineFault {
    /// Noise toward the node, then a silence of `then`, then the request.
    NoiseBefore { bytes: Vec<u8>, then: Duration },
    /// The request's first `after` bytes, a pause, the rest.
    PauseInside { after: usize, pause: Duration },
    /// Noise toward the master just before the node's answer.
    NoiseBeforeAnswer(Vec<u8>),
}

/// Forwards bytes between a master's pty and a node's, applying a script of faults.
pub struct Relay {
    /// Requests forwarded so far.
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    pub fn start(master: &Path, node: &Path, baud: u32, script: Vec<(usize, LineFault)>) -> Relay {
        let (mut m, mut n) = (open(master, baud), open(node, baud));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut answer_noise: Option<Vec<u8>> = None;
            let mut buf = [0u8; 512];
            while !halt.load(Ordering::Relaxed) {
                // A request is what the master wrote until 2 ms of quiet.
                let mut request = Vec::new();
                let mut quiet_since = Instant::now();
                loop {
                    match m.read(&mut buf) {
                        Ok(k) if k > 0 => {
                            request.extend_from_slice(&buf[..k]);
                            quiet_since = Instant::now();
                        }
                        _ => {}
                    }
                    if request.is_empty() || quiet_since.elapsed() >= Duration::from_millis(2) {
                        break;
                    }
                }
                if !request.is_empty() {
                    let i = count.fetch_add(1, Ordering::Relaxed);
                    let fault = script.iter().find(|(at, _)| *at == i).map(|(_, f)| f.clone());
                    match fault {
                        Some(LineFault::NoiseBefore { bytes, then }) => {
                            n.write_all(&bytes).unwrap();
                            std::thread::sleep(then);
                            n.write_all(&request).unwrap();
                        }
                        Some(LineFault::PauseInside { after, pause }) => {
                            let (head, tail) = request.split_at(after.min(request.len()));
                            n.write_all(head).unwrap();
                            n.flush().unwrap();
                            std::thread::sleep(pause);
                            n.write_all(tail).unwrap();
                        }
                        Some(LineFault::NoiseBeforeAnswer(bytes)) => {
                            answer_noise = Some(bytes);
                            n.write_all(&request).unwrap();
                        }
                        None => n.write_all(&request).unwrap(),
                    }
                    n.flush().unwrap();
                }
                if let Ok(k) = n.read(&mut buf) {
                    if k > 0 {
                        if let Some(noise) = answer_noise.take() {
                            m.write_all(&noise).unwrap();
                        }
                        m.write_all(&buf[..k]).unwrap();
                        m.flush().unwrap();
                    }
                }
            }
        });
        Relay { requests, stop, thread: Some(thread) }
    }
}

impl Drop for Relay {
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
