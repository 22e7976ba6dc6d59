//! The chip's task: reads the inputs every `sample`, publishes a changed input or pulse total at once and
//! every tag every `scan`, saves pulse totals each scan they changed and at shutdown, drives outputs on
//! writes. A kill loses at most the pulses of the last scan.

use std::sync::Arc;
use std::time::Duration;

use protocols::{Reason, Sample, TagId, Value};
use tokio::time::{Instant, MissedTickBehavior};

use super::config::{GpioChipConfig, PinMode};
use super::logic::{Debouncer, Totals};
use super::pins::Gpio;
use crate::context::DriverContext;
use crate::kind::BuildContext;
use crate::telemetry::{DeviceStats, ErrorKind};
use crate::write::{WritableSpec, WriteError, WriteRequest};
use crate::{BoxFuture, Driver, DriverError};

struct Pin {
    tag: String,
    id: TagId,
    line: u8,
    mode: PinMode,
    active_low: bool,
    per_pulse: f64,
    debounce: Debouncer,
    limits: Option<WritableSpec>,
    /// The line's last read failed.
    failed: bool,
}

pub struct GpioDriver {
    name: String,
    scan: Duration,
    sample: Duration,
    pins: Vec<Pin>,
    gpio: Box<dyn Gpio>,
    totals: Totals,
}

impl GpioChipConfig {
    /// The driver on `gpio`: the Raspberry Pi's pins, or a test's.
    pub fn build_on(
        &self,
        mut gpio: Box<dyn Gpio>,
        cx: &BuildContext<'_>,
    ) -> Result<Box<dyn Driver>, String> {
        if let Some((_, why)) = self.pin_problems().into_iter().next() {
            return Err(why);
        }
        let totals = Totals::load(Totals::path_for(cx.data_dir, self.name.get_ref()))?;
        let now = Instant::now();
        let mut pins = Vec::new();
        for p in &self.pins {
            let line = *p.line.get_ref();
            match p.mode {
                PinMode::Output => gpio.setup_output(line)?,
                PinMode::Input | PinMode::Pulse => gpio.setup_input(line, p.pull)?,
            }
            let tag = p.name.get_ref().clone();
            let id = (cx.tag_id)(&tag).ok_or_else(|| format!("tag {tag} has no id"))?;
            let level = gpio.read(line).map(|high| high != p.active_low).unwrap_or(false);
            pins.push(Pin {
                tag,
                id,
                line,
                mode: p.mode,
                active_low: p.active_low,
                per_pulse: p.per_pulse,
                debounce: Debouncer::new(p.debounce.get(), level, now),
                limits: p.writable.as_ref().map(|w| w.get_ref().into()),
                failed: false,
            });
        }
        Ok(Box::new(GpioDriver {
            name: self.name.get_ref().clone(),
            scan: self.scan.get(),
            sample: self.sample.get(),
            pins,
            gpio,
            totals,
        }))
    }
}

impl Driver for GpioDriver {
    fn run(self: Box<Self>, cx: DriverContext) -> BoxFuture<'static, Result<(), DriverError>> {
        Box::pin(self.run_loop(cx))
    }
}

impl GpioDriver {
    fn value(&self, pin: &Pin) -> Value {
        match pin.mode {
            PinMode::Pulse => Value::Float(self.totals.get(&pin.tag) as f64 * pin.per_pulse),
            _ => Value::Bool(pin.debounce.level()),
        }
    }

    async fn run_loop(mut self, mut cx: DriverContext) -> Result<(), DriverError> {
        let stats = cx.device(&self.name);
        let mut sampling = tokio::time::interval(self.sample);
        sampling.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut scanning = tokio::time::interval(self.scan);
        scanning.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut shutdown = cx.shutdown.clone();
        let mut writes_open = true;
        loop {
            let mut out = Vec::new();
            tokio::select! {
                biased;
                _ = shutdown.triggered() => {
                    self.save(&stats);
                    return Ok(());
                }
                req = cx.writes.recv(), if writes_open => match req {
                    Some(req) => self.serve_write(req, &stats, &cx, &mut out),
                    None => writes_open = false,
                },
                _ = sampling.tick() => self.sample_inputs(&stats, &cx, &mut out),
                _ = scanning.tick() => {
                    let started = Instant::now();
                    let ts = cx.clock.now();
                    for p in &self.pins {
                        out.push(if p.failed {
                            Sample::bad(p.id, ts, Reason::SensorFault)
                        } else {
                            Sample::good(p.id, ts, self.value(p))
                        });
                    }
                    if self.pins.iter().all(|p| !p.failed) {
                        stats.scan_ok(out.len(), started.elapsed());
                    }
                    self.save(&stats);
                }
            }
            if !out.is_empty() && !cx.publisher.publish(&out).await {
                self.save(&stats);
                return Err(DriverError::RingClosed { link: self.name.clone() });
            }
        }
    }

    fn save(&mut self, stats: &DeviceStats) {
        if let Err(why) = self.totals.save() {
            stats.request_failed(ErrorKind::Write, &why);
        }
    }

    fn sample_inputs(&mut self, stats: &Arc<DeviceStats>, cx: &DriverContext, out: &mut Vec<Sample>) {
        let now = Instant::now();
        for i in 0..self.pins.len() {
            let p = &mut self.pins[i];
            if p.mode == PinMode::Output {
                continue;
            }
            let raw = match self.gpio.read(p.line) {
                Ok(high) => high != p.active_low,
                Err(why) => {
                    // Counted once per failure, not once per sample (a thousand a second).
                    if !p.failed {
                        out.push(Sample::bad(p.id, cx.clock.now(), Reason::SensorFault));
                        stats.scan_failed(ErrorKind::Link, &format!("pin {}: {why}", p.tag));
                    }
                    p.failed = true;
                    continue;
                }
            };
            p.failed = false;
            let Some(level) = p.debounce.update(raw, now) else { continue };
            if p.mode == PinMode::Pulse && level {
                self.totals.add(&p.tag);
            }
            if p.mode == PinMode::Input || level {
                let p = &self.pins[i];
                out.push(Sample::good(p.id, cx.clock.now(), self.value(p)));
            }
        }
        // A chip with a failed line stays down until every line reads again.
        if !out.is_empty() && self.pins.iter().all(|p| !p.failed) {
            stats.received(out.len());
        }
    }

    fn serve_write(
        &mut self,
        req: WriteRequest,
        stats: &DeviceStats,
        cx: &DriverContext,
        out: &mut Vec<Sample>,
    ) {
        let Some(p) = self.pins.iter_mut().find(|p| p.id == req.tag && p.mode == PinMode::Output) else {
            let _ = req.reply.send(Err(WriteError::NotWritable { tag: format!("{:?}", req.tag) }));
            return;
        };
        // The agent checked the limits; checked again here, next to the actuator.
        let checked = match &p.limits {
            Some(limits) => limits.check(&p.tag, req.value),
            None => Err(WriteError::NotWritable { tag: p.tag.clone() }),
        };
        let outcome = checked.and_then(|()| {
            let on = req.value.as_f64().is_some_and(|v| v != 0.0);
            self.gpio
                .write(p.line, on != p.active_low)
                .map(|()| on)
                .map_err(|reason| WriteError::Link { tag: p.tag.clone(), reason })
        });
        match &outcome {
            Ok(on) => {
                let now = Instant::now();
                p.debounce = Debouncer::new(Duration::ZERO, *on, now);
                out.push(Sample::good(p.id, cx.clock.now(), Value::Bool(*on)));
            }
            Err(e) => stats.request_failed(ErrorKind::Write, &e.to_string()),
        }
        let _ = req.reply.send(outcome.map(|_| ()));
    }
}
