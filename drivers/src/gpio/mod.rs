//! GPIO on a Raspberry Pi (rppal, behind the `rpi-gpio` feature): digital inputs with debounce, S0 pulse
//! counters whose totals survive restarts, and digital outputs as writable tags. The logic runs on the
//! small [`pins::Gpio`] trait, so it is tested on any machine with a fake pin.
//!
//! - [`config`]: `[[gpio.chip]]` and its pins; [`pins`]: the trait and its rppal implementation.
//! - [`logic`]: debounce and the persisted pulse totals, sans-IO; [`driver`]: the sampling task.

pub mod config;
pub mod driver;
mod kind;
pub mod logic;
pub mod pins;

#[cfg(test)]
mod tests;

pub use config::{GpioChipConfig, GpioPinConfig, PinMode};
pub use kind::GpioKind;
