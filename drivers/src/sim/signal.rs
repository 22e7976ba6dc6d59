//! One simulated tag: a signal shape or a plant, and the state it carries from scan to scan.

use std::f64::consts::TAU;

use protocols::Value;

use super::config::{Shape, SimTagConfig};
use super::fopdt::Fopdt;
use super::rng::{Rng, name_hash};
use super::wood_berry::{Column, Composition};

#[derive(Debug, Clone)]
pub(crate) enum Signal {
    Sine {
        offset: f64,
        amplitude: f64,
        period_s: f64,
    },
    Ramp {
        offset: f64,
        amplitude: f64,
        period_s: f64,
    },
    Step {
        offset: f64,
        amplitude: f64,
        period_s: f64,
    },
    Noise {
        offset: f64,
        amplitude: f64,
        rng: Rng,
    },
    RandomWalk {
        value: f64,
        amplitude: f64,
        min: f64,
        max: f64,
        rng: Rng,
        started: bool,
    },
    Counter {
        value: u64,
        step: u64,
        rollover: u64,
        started: bool,
    },
    Constant {
        value: f64,
    },
    /// `input` is the index of the driving tag on the same device.
    Fopdt {
        plant: Box<Fopdt>,
        input: usize,
    },
    /// `reflux` and `steam` are the indices of the column's input tags.
    WoodBerry {
        column: Box<Column>,
        reflux: usize,
        steam: usize,
        offset: f64,
    },
}

/// Where `t` lies within its period, in [0, 1).
fn phase(t_s: f64, period_s: f64) -> f64 {
    let x = t_s / period_s;
    (x - x.floor()).clamp(0.0, 1.0 - f64::EPSILON)
}

impl Signal {
    /// The tag's state before its first scan. `inputs` are the resolved indices of a model's input tags.
    pub(crate) fn new(tag: &SimTagConfig, seed: u64, scan: std::time::Duration, inputs: &[usize]) -> Self {
        let input = |i: usize| inputs.get(i).copied().unwrap_or(0);
        let (offset, amplitude) = (tag.offset, tag.amplitude);
        let period_s = tag.period.get().as_secs_f64();
        let rng = || Rng::new(seed ^ name_hash(tag.name.get_ref()));
        match tag.shape {
            Shape::Sine => Signal::Sine { offset, amplitude, period_s },
            Shape::Ramp => Signal::Ramp { offset, amplitude, period_s },
            Shape::Step => Signal::Step { offset, amplitude, period_s },
            Shape::Noise => Signal::Noise { offset, amplitude, rng: rng() },
            Shape::RandomWalk => {
                let (min, max) = (tag.min.unwrap_or(f64::NEG_INFINITY), tag.max.unwrap_or(f64::INFINITY));
                Signal::RandomWalk {
                    value: offset.clamp(min, max),
                    amplitude,
                    min,
                    max,
                    rng: rng(),
                    started: false,
                }
            }
            Shape::Counter => {
                let start = offset.max(0.0).round() as u64;
                let value = if tag.rollover == u64::MAX { start } else { start % (tag.rollover + 1) };
                Signal::Counter { value, step: tag.step, rollover: tag.rollover, started: false }
            }
            Shape::Constant => Signal::Constant { value: offset },
            Shape::Fopdt => Signal::Fopdt {
                plant: Box::new(Fopdt::new(
                    tag.gain,
                    offset,
                    tag.time_constant.get(),
                    tag.dead_time.get(),
                    scan,
                )),
                input: input(0),
            },
            Shape::WoodBerry => Signal::WoodBerry {
                column: Box::new(Column::new(tag.composition.unwrap_or(Composition::Top), scan)),
                reflux: input(0),
                steam: input(1),
                offset,
            },
        }
    }

    /// The value before any scan, seen by a fopdt whose input is declared after it.
    pub(crate) fn initial(&self) -> Value {
        match self {
            Signal::Counter { value, .. } => Value::UInt(*value),
            Signal::Sine { offset, .. }
            | Signal::Ramp { offset, .. }
            | Signal::Step { offset, .. }
            | Signal::Noise { offset, .. } => Value::Float(*offset),
            Signal::RandomWalk { value, .. } | Signal::Constant { value } => Value::Float(*value),
            Signal::Fopdt { .. } => Value::Float(0.0),
            Signal::WoodBerry { column, offset, .. } => Value::Float(column.nominal() + offset),
        }
    }

    /// The value at `t_s` seconds after the device's first scan (`now_ns` on the device clock).
    /// `values` holds this scan's values of the tags before this one and the last scan's of the rest.
    pub(crate) fn next(&mut self, t_s: f64, now_ns: i64, values: &[Value]) -> Value {
        match self {
            Signal::Sine { offset, amplitude, period_s } => {
                Value::Float(*offset + *amplitude * (TAU * t_s / *period_s).sin())
            }
            Signal::Ramp { offset, amplitude, period_s } => {
                Value::Float(*offset + *amplitude * phase(t_s, *period_s))
            }
            Signal::Step { offset, amplitude, period_s } => {
                let high = phase(t_s, *period_s) >= 0.5;
                Value::Float(if high { *offset + *amplitude } else { *offset })
            }
            Signal::Noise { offset, amplitude, rng } => Value::Float(*offset + *amplitude * rng.gaussian()),
            Signal::RandomWalk { value, amplitude, min, max, rng, started } => {
                if *started {
                    *value = (*value + *amplitude * (2.0 * rng.uniform() - 1.0)).clamp(*min, *max);
                }
                *started = true;
                Value::Float(*value)
            }
            Signal::Counter { value, step, rollover, started } => {
                if *started {
                    *value = if *rollover == u64::MAX {
                        value.wrapping_add(*step)
                    } else {
                        ((*value as u128 + *step as u128) % (*rollover as u128 + 1)) as u64
                    };
                }
                *started = true;
                Value::UInt(*value)
            }
            Signal::Constant { value } => Value::Float(*value),
            Signal::Fopdt { plant, input } => {
                let u = values.get(*input).and_then(|v| v.as_f64()).unwrap_or(0.0);
                Value::Float(plant.step(now_ns, u))
            }
            Signal::WoodBerry { column, reflux, steam, offset } => {
                let input = |i: usize| values.get(i).and_then(|v| v.as_f64()).unwrap_or(0.0);
                Value::Float(column.step(now_ns, input(*reflux), input(*steam)) + *offset)
            }
        }
    }
}
