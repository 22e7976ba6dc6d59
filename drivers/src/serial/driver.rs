//! One task per serial port. Polled instruments are asked in turn on the scan schedule
//! ([`crate::schedule`]), one request on the line at a time; streamed lines go to the instrument whose
//! `starts_with` they carry, and an instrument silent for its timeout turns Bad. A port that cannot be
//! opened or breaks is reopened after a growing, jittered wait; its instruments read Bad(comms_lost).

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use protocols::{Reason, Sample, TagId, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_serial::SerialStream;

use super::config::{Parity, SerialPortConfig};
use super::line::{Line, LineReader};
use super::parse::{FieldError, LineParser};
use crate::backoff::{Backoff, Retry};
use crate::context::DriverContext;
use crate::schedule::Schedule;
use crate::sim::rng::Rng;
use crate::telemetry::{DeviceStats, ErrorKind};
use crate::write::WriteError;
use crate::{BoxFuture, Driver, DriverError};

struct Instrument {
    name: String,
    request: Option<Vec<u8>>,
    terminator: Vec<u8>,
    scan: Duration,
    timeout: Duration,
    parser: LineParser,
    /// Per tag, in the parser's field order: its id and scaling.
    tags: Vec<(TagId, f64, f64)>,
}

pub struct SerialDriver {
    name: String,
    port: String,
    settings: (u32, Parity, u8, u8),
    instruments: Vec<Instrument>,
    link: Retry,
    rng: Rng,
}

impl SerialPortConfig {
    /// The config struct is the factory: each instrument's line parser and tag ids.
    pub fn build(&self, tag_id: impl Fn(&str) -> Option<TagId>) -> Result<Box<dyn Driver>, String> {
        if let Some((_, why)) = self.problems().into_iter().next() {
            return Err(why);
        }
        let mut instruments = Vec::new();
        for i in &self.instruments {
            let tags = i
                .tags
                .iter()
                .map(|t| {
                    let id = tag_id(t.name.get_ref())
                        .ok_or_else(|| format!("tag {} has no id", t.name.get_ref()))?;
                    Ok((id, t.scale, t.offset))
                })
                .collect::<Result<Vec<_>, String>>()?;
            instruments.push(Instrument {
                name: i.name.get_ref().clone(),
                request: i.request.as_ref().map(|r| r.get_ref().as_bytes().to_vec()),
                terminator: i.terminator.get_ref().as_bytes().to_vec(),
                scan: i.scan.get(),
                timeout: i.timeout.get(),
                parser: i.parser()?,
                tags,
            });
        }
        Ok(Box::new(SerialDriver {
            name: self.name.get_ref().clone(),
            port: self.port.get_ref().clone(),
            settings: (
                *self.baud.get_ref(),
                self.parity,
                *self.stop_bits.get_ref(),
                *self.data_bits.get_ref(),
            ),
            instruments,
            link: Retry::new(Backoff::new(Duration::from_secs(1), Duration::from_secs(30))),
            rng: Rng::new(RandomState::new().hash_one(self.name.get_ref())),
        }))
    }
}

impl Driver for SerialDriver {
    fn run(self: Box<Self>, cx: DriverContext) -> BoxFuture<'static, Result<(), DriverError>> {
        Box::pin(self.run_loop(cx))
    }
}

/// What a polled instrument gave for one request.
enum Answer {
    Line(Vec<Result<f64, FieldError>>),
    /// No line of its own in time; how many other lines came, and the last one's problem.
    Silent {
        noise: usize,
        last: Option<String>,
    },
}

impl SerialDriver {
    fn open(&self) -> Result<SerialStream, String> {
        let (baud, parity, stop, data) = self.settings;
        let parity = match parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        };
        let stop = if stop == 2 { tokio_serial::StopBits::Two } else { tokio_serial::StopBits::One };
        let data = if data == 7 { tokio_serial::DataBits::Seven } else { tokio_serial::DataBits::Eight };
        let builder = tokio_serial::new(&self.port, baud).parity(parity).stop_bits(stop).data_bits(data);
        SerialStream::open(&builder).map_err(|e| format!("cannot open {}: {e}", self.port))
    }

    /// Opens the port unless it is open or waiting out its backoff; on failure every instrument is down.
    fn ensure_open(&mut self, port: &mut Option<SerialStream>, stats: &[Arc<DeviceStats>]) {
        let now = Instant::now();
        if port.is_some() || self.link.holds(now) {
            return;
        }
        match self.open() {
            Ok(p) => {
                if self.link.is_failing() {
                    stats.iter().for_each(|s| {
                        s.reconnects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    });
                    tracing::info!(link = %self.name, "serial port open again");
                }
                self.link.succeeded();
                *port = Some(p);
            }
            Err(why) => {
                let wait = self.link.failed(now, self.rng.next_u64());
                stats
                    .iter()
                    .for_each(|s| s.scan_failed(ErrorKind::Link, &format!("{why}; retrying in {wait:?}")));
            }
        }
    }

    async fn run_loop(mut self, mut cx: DriverContext) -> Result<(), DriverError> {
        let stats: Vec<Arc<DeviceStats>> = self.instruments.iter().map(|i| cx.device(&i.name)).collect();
        let streaming = self.instruments.iter().all(|i| i.request.is_none());
        let slots = self.instruments.iter().enumerate().map(|(n, i)| (n, i.scan));
        let mut schedule =
            Schedule::new(Instant::now(), if streaming { Vec::new() } else { slots.collect() });
        let mut deadlines: Vec<Instant> =
            self.instruments.iter().map(|i| Instant::now() + i.timeout).collect();
        let terminator = self.instruments.first().map(|i| i.terminator.clone()).unwrap_or_default();
        let mut reader = LineReader::new(&terminator);
        let mut port: Option<SerialStream> = None;
        let mut shutdown = cx.shutdown.clone();
        let mut writes_open = true;
        let mut buf = [0u8; 512];
        loop {
            self.ensure_open(&mut port, &stats);
            let next = if streaming {
                deadlines.iter().min().copied().unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
            } else {
                schedule.next_due().unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
            };
            // A closed port is retried at least this often while streaming (its instruments are Bad).
            let next =
                if port.is_none() { next.min(Instant::now() + Duration::from_millis(250)) } else { next };
            let mut samples = Vec::new();
            tokio::select! {
                biased;
                _ = shutdown.triggered() => return Ok(()),
                req = cx.writes.recv(), if writes_open => match req {
                    // Serial instruments here are read-only: `devices()` declares no writable tag.
                    Some(req) => {
                        let _ = req.reply.send(Err(WriteError::NotWritable { tag: format!("{:?}", req.tag) }));
                    }
                    None => writes_open = false,
                },
                read = read_some(&mut port, &mut buf), if streaming && port.is_some() => match read {
                    Ok(n) => {
                        reader.push(&buf[..n]);
                        self.take_streamed(&mut reader, &stats, &mut deadlines, &cx, &mut samples);
                    }
                    Err(why) => {
                        port = None;
                        reader.clear();
                        let wait = self.link.failed(Instant::now(), self.rng.next_u64());
                        for (i, s) in self.instruments.iter().zip(&stats) {
                            s.scan_failed(ErrorKind::Link, &format!("{}: {why}; reopening in {wait:?}", self.port));
                            fail(i, Reason::CommsLost, &cx, &mut samples);
                        }
                    }
                },
                _ = tokio::time::sleep_until(next) => {
                    let now = Instant::now();
                    if streaming {
                        for (n, i) in self.instruments.iter().enumerate() {
                            if deadlines[n] <= now {
                                deadlines[n] = now + i.timeout;
                                let reason = if port.is_some() { Reason::Timeout } else { Reason::CommsLost };
                                if port.is_some() {
                                    stats[n].scan_failed(ErrorKind::Timeout, &format!("no line within {:?}", i.timeout));
                                }
                                fail(i, reason, &cx, &mut samples);
                            }
                        }
                    } else if let Some(scan) = schedule.next(now) {
                        let n = *scan.key;
                        if scan.skipped > 0 {
                            stats[n].skipped(scan.skipped, self.instruments[n].scan);
                        }
                        let asked = tokio::select! {
                            biased;
                            _ = shutdown.triggered() => return Ok(()),
                            asked = self.poll(n, &mut port, &stats[n], &cx) => asked,
                        };
                        samples = asked;
                    }
                }
            }
            if !samples.is_empty() {
                tokio::select! {
                    biased;
                    _ = shutdown.triggered() => return Ok(()),
                    open = cx.publisher.publish(&samples) => if !open {
                        return Err(DriverError::RingClosed { link: self.name.clone() });
                    }
                }
            }
        }
    }

    /// One request to polled instrument `n` and its answer as samples.
    async fn poll(
        &mut self,
        n: usize,
        port: &mut Option<SerialStream>,
        stats: &DeviceStats,
        cx: &DriverContext,
    ) -> Vec<Sample> {
        let mut out = Vec::new();
        let inst = &self.instruments[n];
        let Some(p) = port.as_mut() else {
            fail(inst, Reason::CommsLost, cx, &mut out);
            return out;
        };
        let started = Instant::now();
        match ask(p, inst).await {
            Ok(Answer::Line(values)) => {
                let ts = cx.clock.now();
                stats.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                stats.request_latency.observe(started.elapsed());
                for ((id, scale, offset), v) in inst.tags.iter().zip(&values) {
                    out.push(match v {
                        Ok(v) => Sample::good(*id, ts, Value::Float(v * scale + offset)),
                        Err(_) => Sample::bad(*id, ts, Reason::DecodeError),
                    });
                }
                if let Some((_, e)) =
                    inst.tags.iter().zip(&values).find_map(|(t, v)| v.as_ref().err().map(|e| (t, e)))
                {
                    stats.request_failed(ErrorKind::Decode, &format!("instrument {}: {e}", inst.name));
                }
                stats.scan_ok(out.len(), started.elapsed());
            }
            Ok(Answer::Silent { noise, last }) => {
                let why = match last {
                    Some(last) => format!(
                        "no valid answer within {:?}; {noise} other lines, the last: {last}",
                        inst.timeout
                    ),
                    None => format!("no answer within {:?}", inst.timeout),
                };
                stats.scan_failed(if noise > 0 { ErrorKind::Decode } else { ErrorKind::Timeout }, &why);
                fail(inst, if noise > 0 { Reason::DecodeError } else { Reason::Timeout }, cx, &mut out);
            }
            Err(why) => {
                *port = None;
                let wait = self.link.failed(Instant::now(), self.rng.next_u64());
                stats.scan_failed(ErrorKind::Link, &format!("{}: {why}; reopening in {wait:?}", self.port));
                fail(&self.instruments[n], Reason::CommsLost, cx, &mut out);
            }
        }
        out
    }

    /// Every whole streamed line to its instrument.
    fn take_streamed(
        &self,
        reader: &mut LineReader,
        stats: &[Arc<DeviceStats>],
        deadlines: &mut [Instant],
        cx: &DriverContext,
        out: &mut Vec<Sample>,
    ) {
        while let Some(line) = reader.next_line() {
            let Line::Text(text) = line else {
                stats.iter().for_each(|s| {
                    s.request_failed(
                        ErrorKind::Decode,
                        "a line longer than any instrument sends: noise on the port",
                    )
                });
                continue;
            };
            let Some(n) = self.instruments.iter().position(|i| i.parser.claims(&text)) else { continue };
            let inst = &self.instruments[n];
            match inst.parser.parse(&text) {
                Ok(values) => {
                    let ts = cx.clock.now();
                    let before = out.len();
                    for ((id, scale, offset), v) in inst.tags.iter().zip(&values) {
                        out.push(match v {
                            Ok(v) => Sample::good(*id, ts, Value::Float(v * scale + offset)),
                            Err(_) => Sample::bad(*id, ts, Reason::DecodeError),
                        });
                    }
                    if let Some(e) = values.iter().find_map(|v| v.as_ref().err()) {
                        stats[n].request_failed(ErrorKind::Decode, &format!("instrument {}: {e}", inst.name));
                    }
                    stats[n].received(out.len() - before);
                    deadlines[n] = Instant::now() + inst.timeout;
                }
                Err(e) => stats[n].request_failed(ErrorKind::Decode, &e.to_string()),
            }
        }
    }
}

/// Bad samples for every tag of `inst`.
fn fail(inst: &Instrument, reason: Reason, cx: &DriverContext, out: &mut Vec<Sample>) {
    let ts = cx.clock.now();
    out.extend(inst.tags.iter().map(|(id, _, _)| Sample::bad(*id, ts, reason)));
}

async fn read_some(port: &mut Option<SerialStream>, buf: &mut [u8]) -> Result<usize, String> {
    let Some(p) = port.as_mut() else { return std::future::pending().await };
    match p.read(buf).await {
        Ok(0) => Err("the port closed".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Sends the instrument's request and reads lines until one is its answer or the timeout passes.
async fn ask(port: &mut SerialStream, inst: &Instrument) -> Result<Answer, String> {
    let mut buf = [0u8; 512];
    // A late answer to a request that timed out is not this request's.
    while let Ok(read) = tokio::time::timeout(Duration::ZERO, port.read(&mut buf)).await {
        if read.map_err(|e| e.to_string())? == 0 {
            return Err("the port closed".into());
        }
    }
    let request = inst.request.as_deref().unwrap_or_default();
    port.write_all(request).await.map_err(|e| e.to_string())?;
    let deadline = Instant::now() + inst.timeout;
    let mut reader = LineReader::new(&inst.terminator);
    let (mut noise, mut last) = (0, None);
    loop {
        while let Some(line) = reader.next_line() {
            match line {
                Line::Text(text) => match inst.parser.parse(&text) {
                    Ok(values) => return Ok(Answer::Line(values)),
                    Err(e) => (noise, last) = (noise + 1, Some(e.to_string())),
                },
                Line::TooLong(n) => {
                    (noise, last) = (noise + 1, Some(format!("{n} bytes without a terminator")))
                }
            }
        }
        match tokio::time::timeout_at(deadline, port.read(&mut buf)).await {
            Err(_) => return Ok(Answer::Silent { noise, last }),
            Ok(Ok(0)) => return Err("the port closed".into()),
            Ok(Ok(n)) => reader.push(&buf[..n]),
            Ok(Err(e)) => return Err(e.to_string()),
        }
    }
}
