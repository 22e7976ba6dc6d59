//! Each mistake in `[energy]` is one located line that says what to write.

use super::config;

const TAGS: &[&str] = &["m.kwh", "m.kw"];

fn first_error(energy: &str) -> String {
    match config(TAGS, energy) {
        Ok(_) => panic!("accepted:\n{energy}"),
        Err(e) => e.lines().next().unwrap().trim_start_matches("error: t.toml:").to_owned(),
    }
}

#[test]
fn mistakes_are_reported_where_they_are() {
    let head = "[energy]\ntimezone = \"Asia/Shanghai\"\n";
    let meter = "[[energy.meter]]\nname = \"m\"\nenergy = \"m.kwh\"\n";
    // (the section, the start of the expected `line:col: message`)
    let cases: Vec<(String, &str)> = vec![
        (format!("[energy]\n{meter}"), "5:1: energy: `timezone` is missing"),
        (
            format!("[energy]\ntimezone = \"Asia/Shangai\"\n{meter}"),
            "6:12: energy: time zone \"Asia/Shangai\" is unknown",
        ),
        (format!("{head}interval = \"7m\"\n{meter}"), "7:12: energy: interval 7m does not divide an hour"),
        (
            format!("{head}billing_day = 32\n{meter}"),
            "7:15: energy: billing_day 32 is not a day of the month",
        ),
        (
            format!("{head}[[energy.meter]]\nname = \"m\"\nenergy = \"m.kwh\"\npower = \"m.kw\"\n"),
            "8:8: energy meter \"m\": reads both `energy` and `power`",
        ),
        (format!("{head}{meter}ct = \"200/0\"\n"), "10:6: energy meter \"m\": `ct` is not a ratio"),
        (
            format!("{head}{meter}parent = \"总表\"\n"),
            "10:10: energy meter \"m\": parent \"总表\" is not a meter",
        ),
        (
            format!("{head}{meter}demand = {{ period = \"15m\", slip = \"7m\" }}\n"),
            "10:10: energy meter \"m\": demand period and slip must divide an hour",
        ),
        (format!("{head}{meter}energy_kwh = 1\n"), "10:1: unknown field `energy_kwh`"),
        (
            format!("{head}{meter}[[energy.meter]]\nname = \"m\"\npower = \"m.kw\"\n"),
            "11:8: energy meter \"m\" is declared twice",
        ),
        (format!("{head}{meter}[[energy.meter]]\nname = \"g\"\n"), "11:8: energy meter \"g\" reads nothing"),
        (
            format!("{head}[[energy.meter]]\nname = \"m\"\nenergy = \"m.kwhh\"\n"),
            "9:10: energy meter \"m\" reads tag \"m.kwhh\", which no device declares; did you mean \"m.kwh\"?",
        ),
        (
            format!(
                "{head}[energy.tariff]\ndefault = \"flat\"\nprices = {{ flat = 0.5 }}\nperiods = [{{ period = \"peak\", hours = [\"08:00-11:00\"] }}]\n{meter}"
            ),
            "10:23: energy.tariff: period \"peak\" has no price",
        ),
        (
            format!(
                "{head}[energy.tariff]\ndefault = \"flat\"\nprices = {{ flat = 0.5, peak = 1 }}\nperiods = [{{ period = \"peak\", hours = [\"08:10-11:00\"] }}]\n{meter}"
            ),
            "10:40: energy.tariff: hours \"08:10-11:00\" change period inside a 15m step",
        ),
        (
            format!(
                "{head}[energy.tariff]\ndefault = \"flat\"\nprices = {{ flat = 0.5, peak = 1 }}\nperiods = [{{ period = \"peak\", hours = [\"8-11\"] }}]\n{meter}"
            ),
            "10:40: energy.tariff: hours \"8-11\" is not a range",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .map(|(text, expected)| (text, expected, first_error(text)))
        .filter(|(_, expected, got)| !got.starts_with(*expected))
        .map(|(text, expected, got)| format!("for\n{text}expected {expected:?}\n     got {got:?}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn a_loop_of_parents_is_refused() {
    let text = "[energy]\ntimezone = \"UTC\"\n[[energy.meter]]\nname = \"a\"\nparent = \"b\"\n[[energy.meter]]\nname = \"b\"\nparent = \"a\"\nenergy = \"m.kwh\"\n";
    assert!(first_error(text).contains("is in a loop of parents"), "{}", first_error(text));
}

#[test]
fn a_good_section_derives_its_tags() {
    let text = "[energy]\ntimezone = \"Europe/Berlin\"\n[energy.carbon]\n[[energy.meter]]\nname = \"m\"\nenergy = \"m.kwh\"\ndemand = { period = \"15m\" }\n";
    let cfg = config(TAGS, text).unwrap();
    let names: Vec<&str> = cfg.tags.registry.iter().map(|(_, n)| n).collect();
    for t in [
        "m.energy",
        "m.energy_total",
        "m.demand",
        "m.demand_max",
        "m.co2",
        "m.cycle.demand_max",
        "carbon.scope2.day",
    ] {
        assert!(names.contains(&t), "{t} in {names:?}");
    }
    assert!(!names.contains(&"m.cost"), "no tariff, no cost");
    assert!(
        cfg.summary().contains("energy in Europe/Berlin: 1 meter(s), 0 group(s), interval 15m"),
        "{}",
        cfg.summary()
    );
}
