//! The tree: a group's sums, a meter's unmetered loss, Scope 1 and 2, energy per unit of output.

use protocols::Quality;

use super::Site;

const PLANT: &str = r#"
[energy]
timezone = "Asia/Shanghai"
interval = "1h"
[energy.carbon]

[[energy.meter]]
name = "总进线"
energy = "incomer.kwh"

[[energy.meter]]
name = "一号车间"
parent = "总进线"

[[energy.meter]]
name = "一号车间.一线"
parent = "一号车间"
energy = "l1.kwh"
output = "l1.pieces"

[[energy.meter]]
name = "一号车间.二线"
parent = "一号车间"
power = "l2.kw"
max_gap = "2h"

[[energy.meter]]
name = "锅炉.天然气"
medium = "natural_gas"
volume = "boiler.m3"
"#;

const TAGS: &[&str] = &["incomer.kwh", "l1.kwh", "l1.pieces", "l2.kw", "boiler.m3"];

/// Readings on the hour from 00:00 to `hours`: incomer 500 kWh/h, line 1 300 kWh/h and 60 pieces/h,
/// line 2 150 kW, the boiler 20 m³/h.
fn plant(hours: i64) -> Site {
    let mut site = Site::new(TAGS, PLANT);
    let start = site.at("2025-01-06 00:00:00").0;
    for h in 0..=hours {
        let ts = protocols::Timestamp(start + h * 3_600_000_000_000);
        let h = h as f64;
        site.read_at("incomer.kwh", ts, 500.0 * h)
            .read_at("l1.kwh", ts, 300.0 * h)
            .read_at("l1.pieces", ts, 60.0 * h)
            .read_at("l2.kw", ts, 150.0)
            .read_at("boiler.m3", ts, 20.0 * h);
    }
    site
}

#[test]
fn a_group_sums_its_meters_and_the_loss_is_what_no_meter_under_it_shows() {
    let site = plant(2);
    assert_eq!(site.values("一号车间.energy"), [450.0, 450.0]);
    assert_eq!(site.values("总进线.loss"), [50.0, 50.0], "500 - (300 + 150)");
    assert!(site.registry.id("一号车间.loss").is_none(), "a group has no reading of its own to lose from");
    assert_eq!(site.series("总进线.loss")[0].2, Quality::Good);
}

#[test]
fn scope_2_is_grid_electricity_and_scope_1_the_gas_burnt() {
    let site = plant(24);
    let grid = crate::engine::energy::GRID_FACTOR;
    let gas = crate::engine::energy::GAS_NCV * crate::engine::energy::GAS_FACTOR / 1000.0;
    let (s2, _) = site.value_at("carbon.scope2.day", "2025-01-07 00:00:00");
    let (s1, _) = site.value_at("carbon.scope1.day", "2025-01-07 00:00:00");
    // The site is its two top nodes: the incomer (whose reading holds the lines) and the boiler.
    assert!((s2 - 24.0 * 500.0 * grid).abs() < 1e-3, "{s2}");
    assert!((s1 - 24.0 * 20.0 * gas).abs() < 1e-3, "{s1}");
    assert!((gas - 2.184).abs() < 1e-3, "38.931 MJ/m³ × 56.1 kg/GJ");
}

#[test]
fn energy_and_emissions_per_unit_of_output() {
    let site = plant(24);
    let (per_unit, _) = site.value_at("一号车间.一线.day.energy_per_unit", "2025-01-07 00:00:00");
    assert!((per_unit - 5.0).abs() < 1e-9, "300 kWh per 60 pieces: {per_unit}");
    let (co2, _) = site.value_at("一号车间.一线.day.co2_per_unit", "2025-01-07 00:00:00");
    assert!((co2 - 5.0 * crate::engine::energy::GRID_FACTOR).abs() < 1e-9, "{co2}");
    assert_eq!(site.value_at("一号车间.一线.day.output", "2025-01-07 00:00:00").0, 1_440.0);
}
