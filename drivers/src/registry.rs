//! Every protocol the agent speaks, listed once. Adding a protocol adds one line here.

use crate::kind::DriverKind;

pub static DRIVERS: &[&dyn DriverKind] = &[
    &crate::sim::SimKind,
    &crate::modbus::ModbusKind,
    &crate::mqtt::MqttKind,
    &crate::serial::SerialKind,
    &crate::opcua::OpcuaKind,
    &crate::gpio::GpioKind,
];

/// The kind that owns TOML section `name`.
pub fn driver_kind(section: &str) -> Option<&'static dyn DriverKind> {
    DRIVERS.iter().copied().find(|k| k.section() == section)
}
