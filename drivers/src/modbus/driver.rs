//! One task per link. One request at a time on the connection (most devices accept only one); the
//! (device, poll group) scans paced by [`crate::schedule`], staggered and the most overdue first, so
//! units share the link fairly. A unit that stops answering is skipped for a growing interval, so it
//! costs the others at most one timeout per retry of it, not one per read. The scan itself: `scan.rs`.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use protocols::Value;
use protocols::modbus::pdu::Request;
use protocols::modbus::{DataType, Space};
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
    pub(super) name: String,
    pub(super) conn: Connection,
    pub(super) devices: Vec<DevicePlan>,
    pub(super) retries: u32,
    /// Draws the link's reconnect jitter.
    rng: Rng,
    /// Per device, as the agent registered them; filled when the driver starts.
    pub(super) stats: Vec<Arc<DeviceStats>>,
    /// Per device: a unit that stopped answering.
    pub(super) units: Vec<Retry>,
    pub(super) link: Retry,
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
            stats: Vec::new(),
            units: self.devices.iter().map(|_| unit_retry()).collect(),
            link: link_retry(),
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
        self.stats = self.devices.iter().map(|d| cx.device(&d.name)).collect();
        let slots = self
            .devices
            .iter()
            .enumerate()
            .flat_map(|(di, d)| d.groups.iter().enumerate().map(move |(gi, g)| ((di, gi), g.period)));
        let mut schedule = Schedule::new(Instant::now(), slots);
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
                    Some(req) => self.serve_write(req).await,
                    None => writes_open = false,
                },
                _ = tokio::time::sleep_until(due) => {
                    let now = Instant::now();
                    let Some(scan) = schedule.next(now) else { continue };
                    let (di, gi) = *scan.key;
                    if scan.skipped > 0 {
                        self.stats[di].skipped(scan.skipped, self.devices[di].groups[gi].period);
                    }
                    // While the link or the unit is backed off, its scans still happen on time, as Bad
                    // samples: the historian sees the gap tag by tag, and nobody waits on a dead line.
                    let held = if self.link.holds(now) {
                        Some(Failure::Link)
                    } else if self.units[di].holds(now) {
                        Some(Failure::Timeout)
                    } else {
                        None
                    };
                    let samples = match held {
                        Some(why) => {
                            let mut out = Vec::new();
                            self.devices[di].groups[gi].fail_all(why, cx.clock.now(), &mut out);
                            out
                        }
                        None => self.scan(di, gi, &cx).await,
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

    /// Connects if the link is down. A connection regained after a loss is a link event: it counts on
    /// every device of the link, as does a failure to connect.
    pub(super) async fn connect(&mut self) -> bool {
        if self.conn.is_connected() {
            return true;
        }
        match self.conn.connect().await {
            Ok(()) => {
                if self.link.is_failing() {
                    for s in &self.stats {
                        s.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::info!(link = %self.name, "link connected again");
                }
                self.link.succeeded();
                true
            }
            Err(e) => {
                let wait = self.link_failed();
                for s in &self.stats {
                    s.scan_failed(ErrorKind::Link, &format!("{e}; retrying in {wait:?}"));
                }
                false
            }
        }
    }

    /// The link broke: how long until it is tried again.
    pub(super) fn link_failed(&mut self) -> Duration {
        self.link.failed(Instant::now(), self.rng.next_u64())
    }

    /// Late answers count on the device that sent them (the unit in their header).
    pub(super) fn count_stale(&mut self) {
        for unit in self.conn.take_stale() {
            if let Some(di) = self.devices.iter().position(|d| d.unit == unit) {
                self.stats[di].stale_answer();
            }
        }
    }

    async fn serve_write(&mut self, req: WriteRequest) {
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
        self.count_stale();
        if let Err(e) = &outcome {
            self.stats[di].request_failed(ErrorKind::Write, &e.to_string());
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
