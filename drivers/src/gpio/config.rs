//! `[[gpio.chip]]`: the board's GPIO and the pins used on it.

use serde::Deserialize;
use serde_spanned::Spanned;

use super::pins::Pull;
use crate::sections::Problem;
use crate::units::Span;
use crate::write::WritableConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinMode {
    /// A contact read as a boolean tag.
    Input,
    /// An S0 pulse output counted into a total: pulses × `per_pulse`.
    Pulse,
    /// Driven by writes to its tag (non-zero is on).
    Output,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioChipConfig {
    pub name: Spanned<String>,
    /// How often every pin's tag is published, changed or not.
    #[serde(default = "default_scan")]
    pub scan: Span,
    /// How often the inputs are read; well under the shortest pulse (S0: 30 ms).
    #[serde(default = "default_sample")]
    pub sample: Span,
    #[serde(default)]
    pub pins: Vec<GpioPinConfig>,
}

fn default_scan() -> Span {
    Span::secs(1)
}
fn default_sample() -> Span {
    Span::millis(2)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioPinConfig {
    /// The tag.
    pub name: Spanned<String>,
    /// BCM line number (GPIO17 is 17), 0 to 27 on a 40-pin header.
    pub line: Spanned<u8>,
    pub mode: PinMode,
    #[serde(default = "pull_up")]
    pub pull: Pull,
    /// The contact closes to ground: a low line is on.
    #[serde(default)]
    pub active_low: bool,
    #[serde(default = "default_debounce")]
    pub debounce: Span,
    /// Engineering units per pulse (0.001 kWh for a 1000 imp/kWh meter).
    #[serde(default = "one")]
    pub per_pulse: f64,
    pub writable: Option<Spanned<WritableConfig>>,
}

fn pull_up() -> Pull {
    Pull::Up
}
fn default_debounce() -> Span {
    Span::millis(10)
}
fn one() -> f64 {
    1.0
}

impl GpioChipConfig {
    /// Everything wrong, as `edge-agent check` reports it.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = self.pin_problems();
        if !cfg!(feature = "rpi-gpio") {
            out.push((
                self.name.span(),
                format!(
                    "gpio chip {}: this agent was built without GPIO support; build it with \
                     `--features drivers/rpi-gpio` for the Raspberry Pi",
                    self.name.get_ref()
                ),
            ));
        }
        out
    }

    /// What is wrong with the chip's settings and pins, whatever the pins are driven by.
    pub fn pin_problems(&self) -> Vec<Problem> {
        let chip = self.name.get_ref();
        let mut out: Vec<Problem> = Vec::new();
        if self.pins.is_empty() {
            out.push((self.name.span(), format!("gpio chip {chip}: declare its `pins`")));
        }
        if self.sample.get().is_zero() || self.scan.get().is_zero() {
            out.push((self.name.span(), format!("gpio chip {chip}: scan and sample must be above 0")));
        }
        let mut lines = Vec::new();
        for p in &self.pins {
            let tag = p.name.get_ref();
            let line = *p.line.get_ref();
            if line > 27 {
                out.push((
                    p.line.span(),
                    format!("pin {tag}: line {line}; the header's GPIO lines are 0 to 27 (BCM)"),
                ));
            }
            if lines.contains(&line) {
                out.push((
                    p.line.span(),
                    format!("pin {tag}: line {line} is used by another pin of chip {chip}"),
                ));
            }
            lines.push(line);
            match (p.mode, &p.writable) {
                (PinMode::Output, None) => out.push((
                    p.name.span(),
                    format!("pin {tag}: an output is written: declare `writable = {{ min = 0, max = 1 }}`"),
                )),
                (PinMode::Input | PinMode::Pulse, Some(w)) => {
                    out.push((w.span(), format!("pin {tag}: only outputs are writable")))
                }
                _ => {}
            }
            if p.mode == PinMode::Pulse && !(p.per_pulse.is_finite() && p.per_pulse > 0.0) {
                out.push((p.name.span(), format!("pin {tag}: per_pulse must be above 0, e.g. 0.001 (kWh)")));
            }
            if p.mode == PinMode::Pulse && p.debounce.get() >= self.scan.get() {
                out.push((p.name.span(), format!("pin {tag}: a debounce as long as the scan loses pulses")));
            }
        }
        out
    }
}
