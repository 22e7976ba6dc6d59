//! Sensor-node firmware: reads sensors through embedded-hal 1.0 traits and serves them as Modbus RTU
//! input and holding registers. `no_std`, no allocation, no panics on any input; host tests run with std.
//!
//! - [`sht3x`]: temperature and humidity over I2C; [`ads1115`]: the ADC channels ([`AnalogInput`]).
//! - [`loop_current`]: 4–20 mA scaling and NAMUR NE 43 loop health; [`pulses`]: the S0 pulse counter.
//! - [`registers`]: the register map ([`RegisterMap`], [`Bank`]); [`node`]: one scan into it, the
//!   watchdog hook; [`slave`]: the RTU slave over an embedded-io UART.
#![cfg_attr(not(test), no_std)]

pub mod ads1115;
pub mod loop_current;
pub mod node;
pub mod pulses;
pub mod registers;
pub mod sht3x;
pub mod slave;
#[cfg(test)]
mod slave_tests;

pub use ads1115::AnalogInput;
pub use node::{Node, Watchdog};
pub use registers::{Bank, RegisterMap};
pub use slave::{Slave, SlaveStats};

#[cfg(test)]
mod tests {
    /// What the node keeps in RAM besides the stack: its state, measured on the host, where `usize` is
    /// twice the Cortex-M's, so the target's is no larger.
    #[test]
    fn the_node_and_slave_fit_in_a_kilobyte() {
        let (slave, node) = (size_of::<crate::Slave>(), size_of::<crate::Node>());
        println!("Slave {slave} bytes, Node {node} bytes");
        assert!(slave + node <= 1024, "Slave {slave} + Node {node} bytes");
    }
}
