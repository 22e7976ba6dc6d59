//! Time-of-use periods, costs per period, billing cycles at month ends, and DST days.

use super::Site;

const TARIFF: &str = r#"
[energy.tariff]
default = "flat"
prices = { critical = 1.5, peak = 1.0, flat = 0.6, valley = 0.3 }
periods = [
  { period = "valley", hours = ["23:00-07:00"] },
  { period = "peak", hours = ["08:00-11:00", "18:00-23:00"] },
  { period = "critical", hours = ["11:00-13:00"], months = [7, 8] },
]
"#;

fn site(zone: &str, billing_day: u32, interval: &str) -> Site {
    Site::new(
        &["总表.kwh"],
        &format!(
            "[energy]\ntimezone = \"{zone}\"\nbilling_day = {billing_day}\ninterval = \"{interval}\"\n{TARIFF}\n[[energy.meter]]\nname = \"总表\"\nenergy = \"总表.kwh\"\n"
        ),
    )
}

/// 60 kWh every hour (1 kWh a minute), read on the hour from `from` for `hours` hours.
fn run(site: &mut Site, from: &str, hours: i64) {
    let start = site.at(from).0;
    for h in 0..=hours {
        site.read_at("总表.kwh", protocols::Timestamp(start + h * 3_600_000_000_000), 60.0 * h as f64);
    }
}

#[test]
fn each_hour_is_priced_in_its_period() {
    // (month, local hour, period, price)
    let cases = [
        (1, "06:00", 0.3),
        (1, "07:00", 0.6),
        (1, "08:00", 1.0),
        (1, "10:00", 1.0),
        (1, "11:00", 0.6),
        (1, "12:00", 0.6),
        (7, "11:00", 1.5),
        (7, "12:00", 1.5),
        (7, "13:00", 0.6),
        (8, "18:00", 1.0),
        (1, "22:00", 1.0),
        (1, "23:00", 0.3),
        (1, "00:00", 0.3),
    ];
    for (month, hour, price) in cases {
        let mut s = site("Asia/Shanghai", 1, "1h");
        let from = format!("2025-{month:02}-15 {hour}:00");
        run(&mut s, &from, 1);
        let cost = s.values("总表.cost");
        assert_eq!(cost.len(), 1, "month {month} {hour}");
        assert!((cost[0] - 60.0 * price).abs() < 1e-9, "month {month} {hour}: {cost:?}");
    }
}

#[test]
fn a_billing_cycle_closes_with_energy_per_period_and_cost() {
    let mut s = site("Asia/Shanghai", 1, "1h");
    run(&mut s, "2025-01-31 00:00:00", 48);
    // The cycle that started with accounting (31 Jan, partial) closes at 1 Feb 00:00: 24 hours.
    assert_eq!(s.value_at("总表.cycle.energy", "2025-02-01 00:00:00").0, 1_440.0);
    // valley 23-07 (8 h), peak 08-11 and 18-23 (8 h), flat the rest (8 h); no critical in January.
    for (period, kwh) in [("valley", 480.0), ("peak", 480.0), ("flat", 480.0), ("critical", 0.0)] {
        assert_eq!(
            s.value_at(&format!("总表.cycle.energy.{period}"), "2025-02-01 00:00:00").0,
            kwh,
            "{period}"
        );
    }
    let cost = s.value_at("总表.cycle.cost", "2025-02-01 00:00:00").0;
    assert!((cost - 480.0 * (0.3 + 1.0 + 0.6)).abs() < 1e-6, "{cost}");
    assert_eq!(s.value_at("总表.day.energy", "2025-02-01 00:00:00").0, 1_440.0);
}

#[test]
fn billing_cycles_start_on_their_day_or_the_month_end() {
    // (billing_day, accounting from, the next cycle starts)
    let cases = [
        (1, "2025-01-20 00:00:00", "2025-02-01 00:00:00"),
        (15, "2025-01-20 00:00:00", "2025-02-15 00:00:00"),
        (31, "2025-02-01 00:00:00", "2025-02-28 00:00:00"),
        (31, "2024-02-01 00:00:00", "2024-02-29 00:00:00"),
        (30, "2025-04-01 00:00:00", "2025-04-30 00:00:00"),
        (31, "2025-03-01 00:00:00", "2025-03-31 00:00:00"),
    ];
    for (day, from, next) in cases {
        let mut s = site("Asia/Shanghai", day, "1h");
        run(&mut s, from, 24 * 31);
        let first = s.series("总表.cycle.energy").first().cloned();
        assert_eq!(first.map(|c| c.0).as_deref(), Some(next), "billing_day {day} from {from}");
    }
}

#[test]
fn days_are_local_days_across_dst() {
    // Europe/Berlin: 30 Mar 2025 has 23 hours, 26 Oct 2025 has 25; 1 kWh a minute throughout.
    // (accounting from, the DST day, the day after, kWh of the DST day, its 15 min intervals)
    for (from, day, day_end, kwh, intervals) in [
        ("2025-03-29 00:00:00", "2025-03-30", "2025-03-31 00:00:00", 23.0 * 60.0, 23 * 4),
        ("2025-10-25 00:00:00", "2025-10-26", "2025-10-27 00:00:00", 25.0 * 60.0, 25 * 4),
    ] {
        let mut s = site("Europe/Berlin", 1, "15m");
        run(&mut s, from, 72);
        assert_eq!(s.value_at("总表.day.energy", day_end).0, kwh, "the day ending {day_end}");
        let ends = s.series("总表.energy").iter().filter(|i| i.0.starts_with(day)).count();
        assert_eq!(ends, intervals, "{day}: intervals end at 00:00 .. 23:45 of the local day");
        assert!(
            s.series("总表.energy").iter().all(|i| (i.1 - 15.0).abs() < 1e-9),
            "every interval is 15 min"
        );
    }
}

#[test]
fn the_shanghai_day_ends_at_local_midnight_not_utc() {
    let mut s = site("Asia/Shanghai", 1, "1h");
    run(&mut s, "2025-01-06 00:00:00", 30);
    let days = s.series("总表.day.energy");
    assert_eq!(days[0].0, "2025-01-07 00:00:00");
    assert_eq!(days[0].1, 1_440.0);
}
