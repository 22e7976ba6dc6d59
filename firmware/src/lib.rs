//! Sensor-node firmware: reads sensors through embedded-hal 1.0 traits and serves them as Modbus RTU
//! holding registers. `no_std`, no allocation; host tests run with std.
#![cfg_attr(not(test), no_std)]
