//! The async shell around [`SimDevice`]: scans on the shared [`Schedule`], publishes, serves writes, stops.

use protocols::TagId;
use tokio::time::Instant;

use super::config::SimDeviceConfig;
use super::device::SimDevice;
use crate::context::DriverContext;
use crate::schedule::Schedule;
use crate::telemetry::{DeviceStats, ErrorKind};
use crate::write::WriteRequest;
use crate::{BoxFuture, Driver, DriverError};

/// A simulated device as a [`Driver`]: one device, one (imaginary) link.
pub struct SimDriver {
    device: SimDevice,
    name: String,
}

impl SimDriver {
    pub fn new(device: SimDevice, name: impl Into<String>) -> Self {
        SimDriver { device, name: name.into() }
    }

    fn serve_write(&mut self, req: WriteRequest, stats: &DeviceStats) {
        let outcome = self.device.write(req.tag, req.value);
        if let Err(e) = &outcome {
            stats.scan_failed(ErrorKind::Write, &e.to_string());
        }
        // The requester may have given up waiting; the write stands either way.
        let _ = req.reply.send(outcome);
    }

    async fn run_loop(mut self, mut cx: DriverContext) -> Result<(), DriverError> {
        let stats = cx.device(&self.name);
        let period = self.device.scan_period();
        // One slot: the device. A late scan (the ring held the driver back) skips, as a real poller would.
        let mut schedule = Schedule::new(Instant::now(), [((), period)]);
        let mut shutdown = cx.shutdown.clone();
        let mut writes_open = true;
        loop {
            let due = schedule.next_due().unwrap_or_else(Instant::now);
            tokio::select! {
                biased;
                _ = shutdown.triggered() => return Ok(()),
                req = cx.writes.recv(), if writes_open => match req {
                    Some(req) => self.serve_write(req, &stats),
                    None => writes_open = false,
                },
                _ = tokio::time::sleep_until(due) => {
                    let started = Instant::now();
                    let Some(scan) = schedule.next(started) else { continue };
                    if scan.skipped > 0 {
                        stats.skipped(scan.skipped, period);
                    }
                    let outcome = self.device.scan(cx.clock.now());
                    if outcome.answered {
                        stats.scan_ok(outcome.samples.len(), started.elapsed());
                    } else {
                        stats.scan_failed(ErrorKind::Timeout, "simulated fault: no answer");
                    }
                    tokio::select! {
                        biased;
                        _ = shutdown.triggered() => return Ok(()),
                        open = cx.publisher.publish(&outcome.samples) => {
                            if !open {
                                return Err(DriverError::RingClosed { link: self.name.clone() });
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Driver for SimDriver {
    fn run(self: Box<Self>, cx: DriverContext) -> BoxFuture<'static, Result<(), DriverError>> {
        Box::pin(self.run_loop(cx))
    }
}

impl SimDeviceConfig {
    /// The config struct is the factory: checks the device and returns its driver, ready to run.
    pub fn build(&self, tag_id: impl Fn(&str) -> Option<TagId>) -> Result<Box<dyn Driver>, String> {
        let device = SimDevice::new(self, tag_id)?;
        Ok(Box::new(SimDriver::new(device, self.name.get_ref().clone())))
    }
}
