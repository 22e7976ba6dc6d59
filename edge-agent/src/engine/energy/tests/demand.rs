//! Demand windows: block and sliding, and the billing cycle's maximum with its time.

use super::Site;

fn incomer(demand: &str) -> Site {
    Site::new(
        &["incomer.kwh"],
        &format!(
            "[energy]\ntimezone = \"Asia/Shanghai\"\n[[energy.meter]]\nname = \"incomer\"\nenergy = \"incomer.kwh\"\ndemand = {demand}\n"
        ),
    )
}

/// 100 kW all day, 400 kW during minutes 10 to 24 of every hour, read each minute as a register.
fn a_day(site: &mut Site) {
    let mut kwh = 0.0;
    for minute in 0..=24 * 60 {
        let (h, m) = (minute / 60, minute % 60);
        let day = if h == 24 { "2025-01-07 00" } else { &format!("2025-01-06 {h:02}") };
        site.read("incomer.kwh", &format!("{day}:{m:02}:00"), kwh);
        let kw = if (10..25).contains(&m) { 400.0 } else { 100.0 };
        kwh += kw / 60.0;
    }
}

#[test]
fn block_demand_of_the_example_is_300_kw() {
    let mut site = incomer("{ period = \"15m\" }");
    a_day(&mut site);
    // The register is read in kWh, so 100/60 kWh steps carry float noise far below a watt.
    let kw: Vec<f64> = site.values("incomer.demand").iter().map(|v| (v * 1e3).round() / 1e3).collect();
    assert_eq!(&kw[..4], [200.0, 300.0, 100.0, 100.0], "blocks 00:00-00:15, 00:15-00:30, ...");
    assert_eq!(kw.len(), 96, "one block every 15 min");
    assert!((site.value_at("incomer.demand_max", "2025-01-06 00:30:00").0 - 300.0).abs() < 1e-3);
    assert_eq!(kw.iter().cloned().fold(0.0, f64::max), 300.0);
}

#[test]
fn sliding_demand_of_the_example_is_400_kw() {
    let mut site = incomer("{ period = \"15m\", slip = \"1m\" }");
    a_day(&mut site);
    let series = site.series("incomer.demand");
    assert_eq!(series[0].0, "2025-01-06 00:15:00", "the first full window");
    let max = series.iter().map(|s| s.1).fold(0.0, f64::max);
    assert!((max - 400.0).abs() < 1e-3, "{max}");
    // The first window holding only 400 kW minutes is 00:10-00:25.
    let first_max =
        site.series("incomer.demand_max").into_iter().rfind(|s| (s.1 - 400.0).abs() < 1e-3).unwrap();
    assert_eq!(first_max.0, "2025-01-06 00:25:00");
    assert_eq!(site.values("incomer.demand_max").len(), 11, "each new maximum once: 00:15 to 00:25");
}
