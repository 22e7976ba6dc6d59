//! Energy metering and carbon accounting: meter registers (rollover, reset, CT/PT) or integrated power
//! into energy per interval, demand (block or sliding windows, the billing cycle's maximum), energy
//! and cost per time-of-use period, a tree of meters with its unmetered losses, Scope 1 and 2
//! emissions, and energy per unit of output, all on the site's clock.
//!
//! ```toml
//! [energy]
//! timezone = "Asia/Shanghai"
//! [[energy.meter]]
//! name = "incomer"
//! energy = "incomer.kwh"
//! demand = { period = "15m", slip = "1m" }
//! ```
//!
//! Results are samples at their boundary's time, through the ring like any other; the engine reads the
//! store losslessly and saves its books with its position there, so `kill -9` neither loses an
//! interval nor counts one twice.

mod account;
mod calendar;
mod carbon;
mod channel;
mod check;
mod config;
mod counter;
mod demand;
mod engine;
mod hierarchy;
mod integration;
mod kind;
mod plan;
mod tags;
mod tariff;
#[cfg(test)]
mod tests;
mod view;

pub use calendar::Calendar;
pub use carbon::{GAS_FACTOR, GAS_NCV, GRID_FACTOR};
pub use config::EnergyConfig;
pub use engine::EnergyEngine;
pub use kind::{ENERGY_TICK, EnergyKind};
