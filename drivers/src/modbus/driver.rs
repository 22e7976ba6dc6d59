//! One task per link. One request at a time on the connection (most devices accept only one); the
//! (device, poll group) scans paced by [`crate::schedule`], staggered and the most overdue first, so units
//! share the link fairly. A unit that stops answering is skipped for a growing interval, so it costs the others at most one
//! timeout per retry of it, not one per read.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use protocols::modbus::pdu::Request;
use protocols::modbus::{DataType, Space};
use protocols::{Sample, Value};
use tokio::time::Instant;

use super::config::ModbusLinkConfig;
use super::device::{DevicePlan, Failure};
use super::transport::{Answer, Connection, LinkError};
use crate::backoff::{Backoff, Jitter, Retry};
use crate::context::DriverContext;
use crate::schedule::Schedule;
use crate::sim::rng::Rng;
use crate::telemetry::{DeviceStats, ErrorKind};
use crate::write::{WriteError, WriteRequest};
use crate::{BoxFuture, Driver, DriverError};

/// A dead unit or link is tried again after this, doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A unit that stopped answering: a predictable pace (no jitter), so it costs its neighbours one timeout
/// per try and the README can say when it is tried.
fn unit_retry() -> Retry {
    Retry::new(Backoff::new(FIRST_BACKOFF, MAX_BACKOFF).with_jitter(Jitter::None))
}

/// A lost connection: full jitter, so the gateways of a plant do not all reconnect to a rebooted PLC (with
/// its handful of connection slots) in the same instant.
fn link_retry() -> Retry {
    Retry::new(Backoff::new(FIRST_BACKOFF, MAX_BACKOFF))
}

pub struct ModbusDriver {
    name: String,
    conn: Connection,
    devices: Vec<DevicePlan>,
    retries: u32,
    /// Draws the link's reconnect jitter.
    rng: Rng,
}

impl ModbusLinkConfig {
    /// The config struct is the factory: plans every device's reads and returns the link's driver.
    pub fn build(
        &self,
        tag_id: impl Fn(&str) -> Option<protocols::TagId>,
    ) -> Result<Box<dyn Driver>, String> {
        if let Some((_, why)) = self.problems().into_iter().next() {
            return Err(why);
        }
        let devices =
            self.devices.iter().map(|d| DevicePlan::new(d, &tag_id)).collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(ModbusDriver {
            name: self.name.get_ref().clone(),
            conn: Connection::new(self.transport, &self.endpoint(), self.timeout.get())
                .with_serial(self.serial()),
            devices,
            retries: self.retries,
            rng: Rng::new(RandomState::new().hash_one(self.name.get_ref())),
        }))
    }
}

impl Driver for ModbusDriver {
    fn run(self: Box<Self>, cx: DriverContext) -> BoxFuture<'static, Result<(), DriverError>> {
        Box::pin(self.run_loop(cx))
    }
}

impl ModbusDriver {
    async fn run_loop(mut self, mut cx: DriverContext) -> Result<(), DriverError> {
        let stats: Vec<Arc<DeviceStats>> = self.devices.iter().map(|d| cx.device(&d.name)).collect();
        let slots = self
            .devices
            .iter()
            .enumerate()
            .flat_map(|(di, d)| d.groups.iter().enumerate().map(move |(gi, g)| ((di, gi), g.period)));
        let mut schedule = Schedule::new(Instant::now(), slots);
        let mut units: Vec<Retry> = self.devices.iter().map(|_| unit_retry()).collect();
        let mut link_backoff = link_retry();
        let mut shutdown = cx.shutdown.clone();
        let mut writes_open = true;
        loop {
            let Some(due) = schedule.next_due() else {
                shutdown.triggered().await;
                return Ok(());
            };
            tokio::select! {
                biased;
                _ = shutdown.triggered() => return Ok(()),
                req = cx.writes.recv(), if writes_open => match req {
                    Some(req) => self.serve_write(req, &stats).await,
                    None => writes_open = false,
                },
                _ = tokio::time::sleep_until(due) => {
                    let now = Instant::now();
                    let Some(scan) = schedule.next(now) else { continue };
                    let (di, gi) = *scan.key;
                    if scan.skipped > 0 {
                        stats[di].skipped(scan.skipped, self.devices[di].groups[gi].period);
                    }
                    // While the link or the unit is backed off, its scans still happen on time, as Bad
                    // samples: the historian sees the gap tag by tag, and nobody waits on a dead line.
                    let skipped = if link_backoff.holds(now) {
                        Some(Failure::Link)
                    } else if units[di].holds(now) {
                        Some(Failure::Timeout)
                    } else {
                        None
                    };
                    let samples = match skipped {
                        Some(why) => {
                            let group = &self.devices[di].groups[gi];
                            let mut out = Vec::new();
                            for r in 0..group.reads.len() {
                                group.fail(r, why, cx.clock.now(), &mut out);
                            }
                            out
                        }
                        None => self.scan(di, gi, &stats[di], &mut units[di], &mut link_backoff, &cx).await,
                    };
                    tokio::select! {
                        biased;
                        _ = shutdown.triggered() => return Ok(()),
                        open = cx.publisher.publish(&samples) => {
                            if !open {
                                return Err(DriverError::RingClosed { link: self.name.clone() });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Reads every planned read of one group; returns the samples (Bad ones for what failed).
    async fn scan(
        &mut self,
        di: usize,
        gi: usize,
        stats: &DeviceStats,
        unit_backoff: &mut Retry,
        link_backoff: &mut Retry,
        cx: &DriverContext,
    ) -> Vec<Sample> {
        let started = Instant::now();
        let ts = cx.clock.now();
        let mut out = Vec::new();
        if !self.conn.is_connected() {
            let was_down = link_backoff.is_failing();
            match self.conn.connect().await {
                Ok(()) => {
                    if was_down {
                        // A link event: every device on the link lost and regained its connection.
                        for d in &self.devices {
                            cx.device(&d.name).reconnects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        tracing::info!(link = %self.name, "link connected again");
                    }
                    link_backoff.succeeded();
                }
                Err(e) => {
                    let wait = link_backoff.failed(Instant::now(), self.rng.next_u64());
                    let group = &self.devices[di].groups[gi];
                    for r in 0..group.reads.len() {
                        group.fail(r, Failure::Link, ts, &mut out);
                    }
                    for d in &self.devices {
                        let s = cx.device(&d.name);
                        s.scan_failed(ErrorKind::Link, &format!("{e}; retrying in {wait:?}"));
                    }
                    return out;
                }
            }
        }
        let device = &self.devices[di];
        let group = &device.groups[gi];
        let (unit, reads) = (device.unit, group.reads.clone());
        let mut requests = 0u64;
        let mut answered = false;
        let mut timed_out = None;
        for (r, block) in reads.iter().enumerate() {
            let req = Request::Read { space: block.space, start: block.start, count: block.count };
            // A unit that was already failing gets no retries: it must not hold the link.
            let tries = if unit_backoff.is_failing() || timed_out.is_some() { 1 } else { self.retries + 1 };
            let mut outcome = Err(LinkError::Timeout(Duration::ZERO));
            for _ in 0..tries {
                let t = Instant::now();
                outcome = self.conn.request(unit, &req).await;
                self.count_stale(cx);
                requests += 1;
                stats.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                stats.request_latency.observe(t.elapsed());
                if !matches!(outcome, Err(LinkError::Timeout(_))) {
                    break;
                }
            }
            let group = &self.devices[di].groups[gi];
            match outcome {
                Ok(Ok(answer)) => {
                    answered = true;
                    if group.decode(r, &answer, ts, &cx.texts, &mut out) > 0 {
                        stats.request_failed(
                            ErrorKind::Decode,
                            &format!("read {block:?}: values that do not decode"),
                        );
                    }
                }
                Ok(Err(exception)) => {
                    answered = true;
                    group.fail(r, Failure::Exception(exception), ts, &mut out);
                    stats.request_failed(
                        ErrorKind::Exception,
                        &format!(
                            "{:?} {}..{}: {exception}",
                            block.space,
                            block.start,
                            block.start as u32 + block.count as u32
                        ),
                    );
                }
                Err(LinkError::Timeout(t)) => {
                    group.fail(r, Failure::Timeout, ts, &mut out);
                    timed_out = Some(t);
                    // A unit that did not answer this read will not answer the next: skip the rest.
                    for rest in r + 1..reads.len() {
                        group.fail(rest, Failure::Timeout, ts, &mut out);
                    }
                    break;
                }
                Err(e) => {
                    for rest in r..reads.len() {
                        group.fail(rest, Failure::Link, ts, &mut out);
                    }
                    let wait = link_backoff.failed(Instant::now(), self.rng.next_u64());
                    stats.scan_failed(ErrorKind::Link, &format!("{e}; reconnecting in {wait:?}"));
                    return out;
                }
            }
        }
        stats.requests_per_scan.store(requests, std::sync::atomic::Ordering::Relaxed);
        match (answered, timed_out) {
            (_, None) | (true, Some(_)) => {
                unit_backoff.succeeded();
                stats.scan_ok(out.len(), started.elapsed());
            }
            (false, Some(t)) => {
                let wait = unit_backoff.failed(Instant::now(), 0);
                stats.scan_failed(
                    ErrorKind::Timeout,
                    &format!("unit {unit} did not answer within {t:?}; next try in {wait:?}"),
                );
            }
        }
        out
    }

    /// Late answers count on the device that sent them (the unit in their header).
    fn count_stale(&mut self, cx: &DriverContext) {
        for unit in self.conn.take_stale() {
            if let Some(d) = self.devices.iter().find(|d| d.unit == unit) {
                cx.device(&d.name).stale_answer();
            }
        }
    }

    async fn serve_write(&mut self, req: WriteRequest, stats: &[Arc<DeviceStats>]) {
        let found =
            self.devices.iter().enumerate().find_map(|(di, d)| {
                d.writes.iter().find(|w| w.id == req.tag).map(|w| (di, d.unit, w.clone()))
            });
        let Some((di, unit, target)) = found else {
            let _ = req.reply.send(Err(WriteError::NotWritable { tag: format!("{:?}", req.tag) }));
            return;
        };
        // The agent checked the limits; checked again here, next to the actuator, in case it ever does not.
        let outcome = match target.limits.check(&target.name, req.value) {
            Ok(()) => self.write(unit, &target, req.value).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            stats[di].request_failed(ErrorKind::Write, &e.to_string());
        }
        let _ = req.reply.send(outcome);
    }

    async fn write(
        &mut self,
        unit: u8,
        t: &super::device::WriteTarget,
        value: Value,
    ) -> Result<(), WriteError> {
        let tag = t.name.clone();
        let link = |e: LinkError| WriteError::Link { tag: tag.clone(), reason: e.to_string() };
        let refused = |e: protocols::modbus::pdu::Exception| WriteError::Refused {
            tag: tag.clone(),
            reason: e.to_string(),
        };
        let answer = if t.space == Space::Coil {
            let on = value.as_f64().is_some_and(|v| v != 0.0);
            self.conn.request(unit, &Request::WriteCoil { address: t.wire, on }).await
        } else {
            let mut regs = [0u16; 4];
            if let DataType::Bit(_) = t.codec.data_type() {
                // Read-modify-write: only this tag's bit changes.
                match self
                    .conn
                    .request(unit, &Request::Read { space: Space::HoldingRegister, start: t.wire, count: 1 })
                    .await
                {
                    Ok(Ok(Answer::Registers(r))) if !r.is_empty() => regs[0] = r[0],
                    Ok(Ok(_)) => {
                        return Err(WriteError::Refused {
                            tag,
                            reason: "unexpected answer to the read before the write".into(),
                        });
                    }
                    Ok(Err(e)) => return Err(refused(e)),
                    Err(e) => return Err(link(e)),
                }
            }
            let n = t
                .codec
                .encode(value, &mut regs)
                .map_err(|e| WriteError::Refused { tag: tag.clone(), reason: e.to_string() })?;
            let req = if n == 1 {
                Request::WriteRegister { address: t.wire, value: regs[0] }
            } else {
                Request::WriteRegisters { start: t.wire, values: &regs[..n] }
            };
            self.conn.request(unit, &req).await
        };
        match answer {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(refused(e)),
            Err(e) => Err(link(e)),
        }
    }
}
