//! Registers (rollover, reset, replacement, CT/PT), integrated power and gaps.

use protocols::{Quality, Reason};

use super::Site;

const SHANGHAI: &str = "[energy]\ntimezone = \"Asia/Shanghai\"\ninterval = \"15m\"\n";

fn meter(extra: &str) -> Site {
    Site::new(
        &["一号车间.总表.kwh"],
        &format!(
            "{SHANGHAI}[[energy.meter]]\nname = \"一号车间.总表\"\nenergy = \"一号车间.总表.kwh\"\n{extra}"
        ),
    )
}

/// Readings every minute from 10:00 to 10:30, taking their values from `reading(minute)`.
fn minutes(site: &mut Site, reading: impl Fn(u32) -> f64) {
    for m in 0..=30 {
        site.read("一号车间.总表.kwh", &format!("2025-01-06 10:{m:02}:00"), reading(m));
    }
}

#[test]
fn a_register_that_rolls_over_counts_through_the_wrap() {
    // A 16-bit register (0..=65535) advancing 500 kWh a minute wraps at 10:05.
    let mut site = meter("rollover = 65535");
    minutes(&mut site, |m| ((63_000 + 500 * m) % 65_536) as f64);
    assert_eq!(site.values("一号车间.总表.energy"), [7_500.0, 7_500.0]);
    assert_eq!(site.value_at("一号车间.总表.energy_total", "2025-01-06 10:30:00").0, 15_000.0);
    assert!(site.events().is_empty(), "a rollover is not a reset: {:?}", site.events());
}

#[test]
fn a_reset_is_never_counted_as_a_huge_consumption() {
    // Reset to 0 between 10:07 and 10:08 (no rollover configured): that step is not consumption.
    let mut site = meter("");
    minutes(&mut site, |m| if m <= 7 { 90_000.0 + 10.0 * m as f64 } else { 10.0 * (m - 8) as f64 });
    let (first, quality) = site.value_at("一号车间.总表.energy", "2025-01-06 10:15:00");
    assert_eq!(first, 140.0, "14 steps of 10 kWh, the reset step left out");
    assert_eq!(quality, Quality::Uncertain(Reason::OutOfRange));
    assert_eq!(site.value_at("一号车间.总表.energy", "2025-01-06 10:30:00"), (150.0, Quality::Good));
    assert_eq!(site.events().len(), 1, "{:?}", site.events());
    assert!(site.events()[0].contains("from 90070 to 0"), "{:?}", site.events());
}

#[test]
fn a_wrap_from_mid_range_is_a_reset_not_a_rollover() {
    // With a rollover but no max_rate, only a fall from the top tenth to the bottom tenth is a wrap.
    let mut site = meter("rollover = 99999");
    minutes(&mut site, |m| if m <= 7 { 50_000.0 + m as f64 } else { (m - 8) as f64 });
    assert_eq!(site.values("一号车间.总表.energy"), [14.0, 15.0]);
}

#[test]
fn a_replacement_meter_reading_higher_is_caught_by_max_rate() {
    // A 1 MW feeder; the new meter installed at 10:10 starts at 250 000 kWh.
    let mut site = meter("max_rate = 1000");
    minutes(
        &mut site,
        |m| if m < 10 { 1_000.0 + 10.0 * m as f64 } else { 250_000.0 + 10.0 * (m - 10) as f64 },
    );
    assert_eq!(site.values("一号车间.总表.energy"), [140.0, 150.0]);
    assert_eq!(site.series("一号车间.总表.energy")[0].2, Quality::Uncertain(Reason::OutOfRange));
}

#[test]
fn ct_and_pt_ratios_scale_the_secondary_register() {
    // 200/5 A CT and 10 kV/100 V PT: 4000 × the secondary kWh.
    let mut site = meter("ct = \"200/5\"\npt = 100");
    minutes(&mut site, |m| 0.25 * m as f64);
    assert_eq!(site.values("一号车间.总表.energy"), [15_000.0, 15_000.0]);
}

#[test]
fn a_counter_gap_keeps_the_total_and_marks_the_intervals_estimated() {
    // No reading from 10:05 to 10:25 (link down, Bad samples): the energy comes with 10:25's reading.
    let mut site = meter("");
    for m in 0..=30u32 {
        let t = format!("2025-01-06 10:{m:02}:00");
        if (6..25).contains(&m) {
            site.fail("一号车间.总表.kwh", &t);
        } else {
            site.read("一号车间.总表.kwh", &t, 100.0 * m as f64);
        }
    }
    let series = site.series("一号车间.总表.energy");
    let sum: f64 = series.iter().map(|s| s.1).sum();
    assert!((sum - 3_000.0).abs() < 1e-6, "the register's 3000 kWh, all of it: {series:?}");
    assert_eq!(series[0].2, Quality::Uncertain(Reason::Stale), "10:15 closed without a reading");
    assert_eq!(series[1].2, Quality::Uncertain(Reason::Substituted), "10:30 holds energy of the gap");
}

fn power(max_gap: &str) -> Site {
    Site::new(
        &["line2.kw"],
        &format!(
            "{SHANGHAI}[[energy.meter]]\nname = \"line2\"\npower = \"line2.kw\"\nmax_gap = \"{max_gap}\"\n"
        ),
    )
}

#[test]
fn power_is_integrated_by_the_trapezoid_rule() {
    // A ramp from 0 to 120 kW over 10:00-10:15, read every 10 s: the trapezoid is exact on a ramp.
    let mut site = power("30s");
    for i in 0..=180 {
        let t = site.at("2025-01-06 10:00:00").0 + i * 10_000_000_000;
        site.read_at("line2.kw", protocols::Timestamp(t), 120.0 * (i as f64 * 10.0) / 900.0);
    }
    let (first, q) = site.value_at("line2.energy", "2025-01-06 10:15:00");
    assert_eq!((first, q), (15.0, Quality::Good), "½ × 120 kW × ¼ h");
}

#[test]
fn power_is_never_integrated_across_a_gap_longer_than_max_gap() {
    let mut site = power("30s");
    site.read("line2.kw", "2025-01-06 10:00:00", 60.0)
        .read("line2.kw", "2025-01-06 10:05:00", 60.0)
        .read("line2.kw", "2025-01-06 10:15:00", 60.0)
        .read("line2.kw", "2025-01-06 10:15:20", 60.0)
        .read("line2.kw", "2025-01-06 10:30:00", 60.0);
    assert_eq!(
        site.value_at("line2.energy", "2025-01-06 10:15:00"),
        (0.0, Quality::Uncertain(Reason::Stale))
    );
    assert!(site.events().iter().any(|e| e.contains("not integrated")), "{:?}", site.events());
}

#[test]
fn a_silent_meter_is_closed_late_after_the_boundary_by_the_clock() {
    let mut site = power("1h");
    site.read("line2.kw", "2025-01-06 10:00:00", 60.0).read("line2.kw", "2025-01-06 10:14:50", 60.0);
    site.tick("2025-01-06 10:15:05");
    assert!(site.series("line2.energy").is_empty(), "still within `late` (10s)");
    site.tick("2025-01-06 10:15:10");
    let (v, q) = site.value_at("line2.energy", "2025-01-06 10:15:00");
    assert_eq!(q, Quality::Uncertain(Reason::Stale));
    assert!((v - 14.833333).abs() < 1e-5, "60 kW until 10:14:50: {v}");
}
