//! Tests of the sim driver, reading like the plant: a kiln, its fuel valve, its fan, its gas meter.

mod device;
mod driver;
mod properties;
mod shapes;

use protocols::{Sample, TagId, Timestamp, Value};
use serde_spanned::Spanned;

use super::config::{Shape, SimDeviceConfig, SimFaultConfig, SimTagConfig, WritableConfig};
use super::device::SimDevice;
use crate::units::Span;

pub(super) fn tag(name: &str, shape: Shape) -> SimTagConfig {
    SimTagConfig {
        name: Spanned::new(0..0, name.to_owned()),
        shape,
        offset: 0.0,
        amplitude: 1.0,
        period: Span::secs(60),
        min: None,
        max: None,
        step: 1,
        rollover: u16::MAX as u64,
        input: None,
        gain: 1.0,
        time_constant: Span::secs(60),
        dead_time: Span::secs(0),
        composition: None,
        reflux: None,
        steam: None,
        writable: None,
    }
}

pub(super) fn device(seed: u64, tags: Vec<SimTagConfig>) -> SimDeviceConfig {
    SimDeviceConfig {
        name: Spanned::new(0..0, "kiln".to_owned()),
        scan: Span::secs(1),
        seed,
        fault: None,
        tags,
    }
}

pub(super) fn fault(every: u64, lasting: u64) -> Option<SimFaultConfig> {
    Some(SimFaultConfig { every: Span::secs(every), lasting: Span::secs(lasting), start: None })
}

pub(super) fn writable(min: f64, max: f64) -> Option<Spanned<WritableConfig>> {
    Some(Spanned::new(0..0, WritableConfig { min, max }))
}

/// Ids in declaration order, as the agent's registry hands them out.
pub(super) fn build(cfg: &SimDeviceConfig) -> SimDevice {
    let names: Vec<String> = cfg.tags.iter().map(|t| t.name.get_ref().clone()).collect();
    SimDevice::new(cfg, |n| names.iter().position(|x| x == n).map(|i| TagId(i as u32))).unwrap()
}

/// 10:00:00 on some day, as the plant's clock reads it.
pub(super) const T0: i64 = 1_700_000_000_000_000_000;

pub(super) fn at_s(s: f64) -> Timestamp {
    Timestamp(T0 + (s * 1e9).round() as i64)
}

pub(super) fn float(s: &Sample) -> f64 {
    match s.value {
        Value::Float(x) => x,
        other => panic!("expected a float, got {other:?}"),
    }
}

/// Scans at 0, 1, 2, .. `n - 1` seconds and returns each scan's samples.
pub(super) fn scan_seconds(dev: &mut SimDevice, n: usize) -> Vec<Vec<Sample>> {
    (0..n).map(|i| dev.scan(at_s(i as f64)).samples).collect()
}
