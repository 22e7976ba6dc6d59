//! A stack on a fake clock: conversions into derived tags, a minute's record, the hour's validity
//! at 44 and 45 valid minutes, the limit event, and a restart from saved state.

use std::collections::HashMap;

use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};

use super::StackConfig;
use crate::engine::{Emitter, Engine, EngineConfig};

const TOML: &str = r#"
stack = "锅炉一号"
o2 = "锅炉一号.氧量"
o2_reference = 6.0
moisture = "锅炉一号.湿度"
temperature = "锅炉一号.烟温"
velocity = "锅炉一号.流速"
area = 2.0
status = "锅炉一号.CEMS状态"
pollutants = [
  { name = "so2", code = "a21026", tag = "锅炉一号.SO2", unit = "ppm", molar_mass = 64.06, limit = 300.0 },
]
"#;

struct Rig {
    e: Box<dyn Engine>,
    ids: HashMap<String, TagId>,
    out: Emitter,
}

/// 2024-01-01 00:00:00 Beijing time, plus `s` seconds.
fn at(s: i64) -> Timestamp {
    Timestamp::from_secs(1_704_038_400 + s)
}

fn rig() -> Rig {
    let cfg: StackConfig = toml::from_str(TOML).unwrap();
    assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
    let mut ids = HashMap::new();
    let mut names: Vec<String> = cfg.reads().iter().map(|r| r.tag.get_ref().clone()).collect();
    names.extend(cfg.derives().into_iter().map(|d| d.name));
    for (i, n) in names.into_iter().enumerate() {
        ids.entry(n).or_insert(TagId(i as u32));
    }
    let e = cfg.build(&|t| ids.get(t).copied()).unwrap();
    Rig { e, ids, out: Emitter::default() }
}

impl Rig {
    fn put(&mut self, tag: &str, t: i64, v: f64, q: Quality) {
        let s = Sample { tag: self.ids[tag], ts: at(t), value: Value::Float(v), quality: q };
        self.e.on_sample(&s, &mut self.out);
    }
    /// Conditions at which every conversion is easy by hand: 10 % moisture, 400 K, O2 9 %.
    fn conditions(&mut self, t: i64, status: f64) {
        self.put("锅炉一号.湿度", t, 10.0, Quality::Good);
        self.put("锅炉一号.烟温", t, 126.85, Quality::Good);
        self.put("锅炉一号.氧量", t, 9.0, Quality::Good);
        self.put("锅炉一号.CEMS状态", t, status, Quality::Good);
        self.put("锅炉一号.流速", t, 10.0, Quality::Good);
    }
    fn last(&self, tag: &str) -> Option<&Sample> {
        let id = self.ids[tag];
        self.out.samples.iter().rev().find(|s| s.tag == id)
    }
    fn value(&self, tag: &str) -> f64 {
        self.last(tag).and_then(|s| s.value.as_f64()).unwrap_or_else(|| panic!("no {tag}"))
    }
    fn text(&self, tag: &str) -> String {
        let s = self.last(tag).unwrap_or_else(|| panic!("no {tag}"));
        let Value::Text(id) = s.value else { panic!("{tag} is not text") };
        self.out.texts.get(id).unwrap().to_string()
    }
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "{a} != {b}");
}

#[test]
fn converts_a_reading_into_derived_tags() {
    let mut r = rig();
    r.conditions(0, 0.0);
    r.put("锅炉一号.SO2", 1, 100.0, Quality::Good);
    // 100 ppm × 64.06/22.4 = 285.982142857 mg/m³ (dry analyser).
    close(r.value("锅炉一号.so2.mg"), 285.982_142_857);
    // × (21 − 6)/(21 − 9) = 357.477678571.
    close(r.value("锅炉一号.so2.zs"), 357.477_678_571);
    // 10 m/s × 2 m² × 3600 × 273.15/400 × 0.9 = 44250.3 m³/h; × 285.98 mg/m³ = 12.654797 kg/h.
    close(r.value("锅炉一号.flow"), 44_250.3);
    close(r.value("锅炉一号.so2.rate"), 285.982_142_857 * 44_250.3e-6);
    assert_eq!(r.text("锅炉一号.so2.flag"), "N");
}

#[test]
fn a_bad_input_makes_a_bad_derived_value_and_its_flag() {
    let mut r = rig();
    r.conditions(0, 0.0);
    r.put("锅炉一号.氧量", 1, 9.0, Quality::Bad(Reason::CommsLost));
    r.put("锅炉一号.SO2", 2, 100.0, Quality::Good);
    assert!(r.last("锅炉一号.so2.mg").unwrap().quality.is_good(), "mg does not need O2");
    assert_eq!(r.last("锅炉一号.so2.zs").unwrap().quality, Quality::Bad(Reason::CommsLost));
    assert_eq!(r.text("锅炉一号.so2.flag"), "B");
    r.put("锅炉一号.CEMS状态", 3, 5.0, Quality::Good);
    r.put("锅炉一号.SO2", 4, 100.0, Quality::Good);
    assert_eq!(r.text("锅炉一号.so2.flag"), "C", "calibration wins");
}

/// One hour in which the first `valid` minutes are normal and the rest under maintenance.
fn hour(r: &mut Rig, valid: i64, so2: f64) {
    for m in 0..60 {
        let t = m * 60;
        r.conditions(t, if m < valid { 0.0 } else { 2.0 });
        r.put("锅炉一号.SO2", t + 30, so2, Quality::Good);
    }
    r.e.on_tick(at(3600 + 5), &mut r.out);
}

#[test]
fn an_hour_with_45_valid_minutes_is_valid_and_44_is_not() {
    let mut r = rig();
    hour(&mut r, 44, 100.0);
    assert_eq!(r.value("锅炉一号.so2.hour.valid"), 44.0);
    assert_eq!(r.last("锅炉一号.so2.hour.avg").unwrap().quality, Quality::Uncertain(Reason::Stale));
    assert!(r.text("锅炉一号.hj212.hour").contains("a21026-Flag=M"), "{}", r.text("锅炉一号.hj212.hour"));
    let mut r = rig();
    hour(&mut r, 45, 100.0);
    assert_eq!(r.value("锅炉一号.so2.hour.valid"), 45.0);
    assert!(r.last("锅炉一号.so2.hour.avg").unwrap().quality.is_good());
    let rec = r.text("锅炉一号.hj212.hour");
    assert!(rec.contains("a21026-Avg=285.982") && rec.contains("a21026-ZsAvg=357.478"), "{rec}");
    assert!(rec.contains("a21026-Flag=N") && rec.contains("a00000-Avg=44250.300"), "{rec}");
    // The hour is stamped at its start, 00:00 Beijing time.
    assert_eq!(r.last("锅炉一号.hj212.hour").unwrap().ts, at(0));
    // Mass: 45 minutes × 12.654797 kg/h / 60.
    close(r.value("锅炉一号.so2.hour.cou"), 45.0 * 285.982_142_857 * 44_250.3e-6 / 60.0);
    let minute = r.text("锅炉一号.hj212.minute");
    assert_eq!(minute, "a21026-Flag=M;a00000-Flag=M", "the last minute, under maintenance, has no values");
}

#[test]
fn limit_exceedance_on_the_hourly_average() {
    let mut r = rig();
    hour(&mut r, 60, 100.0);
    assert_eq!(r.last("锅炉一号.so2.over_limit").unwrap().value, Value::Bool(true), "357 > 300");
    assert_eq!(r.out.events.len(), 1);
    assert!(r.out.events[0].message.contains("over its limit 300"), "{:?}", r.out.events);
}

#[test]
fn realtime_records_every_30s() {
    let mut r = rig();
    r.conditions(0, 0.0);
    r.put("锅炉一号.SO2", 1, 100.0, Quality::Good);
    r.put("锅炉一号.SO2", 31, 100.0, Quality::Good);
    let rec = r.text("锅炉一号.hj212.rtd");
    assert_eq!(r.last("锅炉一号.hj212.rtd").unwrap().ts, at(30));
    assert!(rec.contains("a21026-Rtd=285.982,a21026-ZsRtd=357.478,a21026-Flag=N"), "{rec}");
}

#[test]
fn a_restart_resumes_the_open_hour() {
    let mut r = rig();
    for m in 0..30 {
        r.conditions(m * 60, 0.0);
        r.put("锅炉一号.SO2", m * 60 + 30, 100.0, Quality::Good);
    }
    let saved = r.e.save().unwrap();
    let mut r2 = rig();
    r2.e.restore(saved).unwrap();
    for m in 30..60 {
        r2.conditions(m * 60, 0.0);
        r2.put("锅炉一号.SO2", m * 60 + 30, 100.0, Quality::Good);
    }
    r2.e.on_tick(at(3605), &mut r2.out);
    assert_eq!(r2.value("锅炉一号.so2.hour.valid"), 60.0);
}

fn plant(cems: &str) -> Result<crate::config::Config, String> {
    let tags = ["氧量", "湿度", "烟温", "流速", "CEMS状态", "SO2"]
        .map(|t| format!("{{ name = \"锅炉一号.{t}\", shape = \"noise\", offset = 1.0, amplitude = 0.1 }}"))
        .join(", ");
    let text = format!("[[sim.device]]\nname = \"锅炉一号\"\ntags = [{tags}]\n\n[[cems]]\n{cems}");
    crate::config::parse(&text, "agent.toml", &|_| None).map_err(|e| e.to_string())
}

#[test]
fn loads_from_the_agent_file_and_builds() {
    let cfg = plant(TOML).unwrap();
    let reg = cfg.tags.registry.clone();
    let cems: Vec<_> = cfg.engines.iter().filter(|e| e.kind() == "cems").collect();
    assert_eq!(cems.len(), 1);
    assert_eq!(cems[0].name(), "cems 锅炉一号");
    assert!(reg.id("锅炉一号.so2.hour.zs_avg").is_some() && reg.id("锅炉一号.hj212.minute").is_some());
    cems[0].build(&|t| reg.id(t)).unwrap();
}

#[test]
fn mistakes_are_located_with_what_to_write() {
    let no_mass = TOML.replace(", molar_mass = 64.06", "");
    let e = plant(&no_mass).unwrap_err();
    assert!(e.contains("agent.toml:") && e.contains("needs `molar_mass`"), "{e}");
    let unknown = TOML.replace("limit = 300.0", "limt = 300.0");
    assert!(plant(&unknown).unwrap_err().contains("limt"));
    let no_tag = TOML.replace("锅炉一号.CEMS状态", "锅炉一号.状态");
    let e = plant(&no_tag).unwrap_err();
    assert!(e.contains("instrument status") && e.contains("锅炉一号.状态"), "{e}");
}
