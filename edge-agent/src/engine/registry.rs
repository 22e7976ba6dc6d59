//! Every engine kind the agent runs, listed once. Adding an engine kind adds one line here.

use super::EngineKind;

#[rustfmt::skip]
pub static ENGINES: &[&dyn EngineKind] = &[
    &super::alarm::AlarmKind,
    &super::expr::DerivedKind,
    &super::window::StatisticsKind,
    &super::equipment::EquipmentKind,
    &super::vibration::VibrationKind,
    &super::spc::SpcKind,
    &super::energy::EnergyKind,
    &super::control::ControlKind,
    &super::cems::CemsKind,
];

/// The kind that owns TOML section `name`.
pub fn engine_kind(section: &str) -> Option<&'static dyn EngineKind> {
    ENGINES.iter().copied().find(|k| k.section() == section)
}
