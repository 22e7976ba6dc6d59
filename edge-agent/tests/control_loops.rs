//! Control loops in the running agent: a PID closed through the Modbus driver on a simulated device
//! (tokio-modbus, an implementation independent of ours), and the API, audit log and metrics of a loop.

#[path = "support/agent.rs"]
mod agent;
#[allow(dead_code)]
#[path = "../../drivers/tests/modbus_fixture/mod.rs"]
mod modbus_fixture;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::{Agent, Scratch, eventually};
use modbus_fixture::{DeviceServer, Plant};

fn f32_regs(v: f32) -> [u16; 2] {
    let b = v.to_bits();
    [(b >> 16) as u16, b as u16]
}

fn read_f32(plant: &Plant, at: u16) -> f32 {
    let banks = plant.banks.lock().unwrap();
    let h = &banks[&1].holding;
    let (hi, lo) = (h.get(&at).copied().unwrap_or(0), h.get(&(at + 1)).copied().unwrap_or(0));
    f32::from_bits((u32::from(hi) << 16) | u32::from(lo))
}

/// A kiln behind a PLC: the valve at holding 0 (f32, %), the temperature at holding 2 (f32, °C),
/// 10 °C per % with a 3 s time constant, integrated every 20 ms. Every valve position seen is kept.
fn run_kiln(plant: Arc<Plant>, seen: Arc<Mutex<Vec<(Instant, f32)>>>) -> tokio::task::JoinHandle<()> {
    plant.set_holding(1, 0, &f32_regs(20.0));
    plant.set_holding(1, 2, &f32_regs(225.0));
    tokio::spawn(async move {
        let mut temp = 225.0f32;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let valve = read_f32(&plant, 0);
            seen.lock().unwrap().push((Instant::now(), valve));
            temp += (10.0 * valve + 25.0 - temp) * (1.0 - (-0.02f32 / 3.0).exp());
            plant.set_holding(1, 2, &f32_regs(temp));
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pid_loop_closed_through_modbus_reaches_its_setpoint_inside_its_limits() {
    let device = DeviceServer::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let plant = run_kiln(device.plant.clone(), seen.clone());
    let scratch = Scratch::new("control-modbus");
    let config = scratch.config(&format!(
        r#"
[[modbus.link]]
name = "kiln-plc"
address = "{}"
timeout = "200ms"
[[modbus.link.device]]
name = "kiln"
unit = 1
scan = "50ms"
tags = [
  {{ name = "kiln.fuel_valve", address = "holding:0", type = "f32", writable = {{ min = 0.0, max = 60.0 }} }},
  {{ name = "kiln.temp", address = "holding:2", type = "f32" }},
]

[[control.pid]]
name = "kiln-temp"
pv = "kiln.temp"
output = "kiln.fuel_valve"
setpoint = 500.0
period = "100ms"
output_rate = 20.0
tuning = {{ gain = 0.25, integral = "3s" }}
"#,
        device.addr
    ));
    let agent = tokio::task::spawn_blocking(move || Agent::start(&config)).await.unwrap();
    let settled = eventually(Duration::from_secs(40), || (read_f32(&device.plant, 2) - 500.0).abs() < 2.0);
    assert!(settled, "PV {} after 40 s", read_f32(&device.plant, 2));
    let valves = seen.lock().unwrap().clone();
    assert!(valves.iter().all(|(_, v)| (0.0..=60.0).contains(v)), "the valve left its limits");
    // 20 %/s. Each tick's step is at most 2 % (the unit test `a_late_step_moves_the_output_at_most_one_period_of_its_rate`
    // holds that exactly); at the valve, writes queued behind a busy link may land together, so the rate is
    // checked over spans of at least 2 s, with half a second of slack for the ticks and writes in flight.
    for (i, &(t0, v0)) in valves.iter().enumerate() {
        let Some(&(t1, v1)) = valves[i..].iter().find(|(t, _)| (*t - t0).as_secs_f32() >= 2.0) else { break };
        let (dt, dv) = ((t1 - t0).as_secs_f32(), (v1 - v0).abs());
        assert!(dv <= 20.0 * (dt + 0.5) + 1e-3, "the valve moved {dv} % in {dt} s");
    }
    assert!((read_f32(&device.plant, 0) - 47.5).abs() < 0.5, "valve {}", read_f32(&device.plant, 0));
    let (_, metrics) = agent.get("/metrics");
    assert!(metrics.contains("edge_loop_writes_total{loop=\"kiln-temp\",result=\"ok\"}"), "{metrics}");
    plant.abort();
}

#[test]
fn the_api_sets_mode_and_output_with_a_token_and_every_write_is_audited() {
    let scratch = Scratch::new("control-api");
    let token = scratch.file("api.token", "s3cret\n");
    let config = scratch.config(&format!(
        r#"token_file = "{}"

[[sim.device]]
name = "kiln"
scan = "50ms"
tags = [
  {{ name = "kiln.fuel_valve", shape = "constant", offset = 40.0, writable = {{ min = 0.0, max = 100.0 }} }},
  {{ name = "kiln.temp", shape = "fopdt", input = "kiln.fuel_valve", gain = 21.0, offset = 25.0, time_constant = "5s" }},
]

[[control.pid]]
name = "kiln-temp"
pv = "kiln.temp"
output = "kiln.fuel_valve"
setpoint = 900.0
period = "50ms"
tuning = {{ gain = 0.05, integral = "5s" }}
"#,
        token.display()
    ));
    let agent = Agent::start(&config);
    let get = |path: &str| agent.request("GET", path, None, Some("s3cret"));
    let started =
        eventually(Duration::from_secs(10), || get("/loops/kiln-temp").1.contains("\"started\":true"));
    assert!(started, "{}", get("/loops").1);
    let put = |body: &str, token: Option<&str>| agent.request("PUT", "/loops/kiln-temp", Some(body), token);
    assert_eq!(put(r#"{"mode": "manual"}"#, None).0, 401);
    let (status, body) = put(r#"{"mode": "manual", "output": 12.5}"#, Some("s3cret"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("mode manual, OP 12.5"), "{body}");
    let (status, body) = put(r#"{"setpoint": "hot"}"#, Some("s3cret"));
    assert_eq!((status, body.trim()), (422, "`setpoint` must be a number, not \"hot\""));
    assert_eq!(agent.request("PUT", "/loops/nope", Some("{}"), Some("s3cret")).0, 404);
    let at_12_5 =
        eventually(Duration::from_secs(5), || get("/tags/kiln.fuel_valve").1.contains("\"value\":12.5"));
    assert!(at_12_5, "{}", get("/tags/kiln.fuel_valve").1);
    assert!(get("/loops/kiln-temp").1.contains("\"mode\":\"manual\""));
    let metrics = get("/metrics").1;
    assert!(metrics.contains("edge_loop_mode{loop=\"kiln-temp\"} 0"), "{metrics}");
    let ticks = || {
        let text = get("/metrics").1;
        let count =
            text.lines().find_map(|l| l.strip_prefix("edge_loop_jitter_seconds_count{loop=\"kiln-temp\"} "));
        count.and_then(|c| c.parse::<f64>().ok()).unwrap_or(0.0)
    };
    let first = ticks();
    assert!(
        eventually(Duration::from_secs(5), || ticks() >= first + 10.0),
        "each tick's lateness is measured"
    );
    let audit = std::fs::read_to_string(scratch.0.join("data/audit/control.jsonl")).unwrap();
    let manual =
        audit.lines().find(|l| l.contains("\"reason\":\"manual\"")).unwrap_or_else(|| panic!("{audit}"));
    let record: serde_json::Value = serde_json::from_str(manual).unwrap();
    assert_eq!(
        (record["tag"].as_str(), record["new"].as_f64(), record["result"].as_str()),
        (Some("kiln.fuel_valve"), Some(12.5), Some("ok"))
    );
    assert!(record["old"].as_f64().is_some_and(|old| old != 12.5), "{record}");
    assert!(
        audit.lines().any(|l| l.contains("\"event\":\"command\"") && l.contains("\"by\":\"api\"")),
        "{audit}"
    );
}
