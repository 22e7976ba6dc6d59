//! Every driver passes the same contract against its real peer.

use std::time::Duration;

use hil_tests::contract::{DriverUnderTest, assert_driver_contract};
use hil_tests::pymodbus::Pymodbus;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_passes_the_driver_contract() {
    // The device stops answering 3 s in, for a minute: the fault the contract waits for.
    let config = r#"
[[sim.device]]
name = "锅炉一号"
scan = "100ms"
fault = { every = "120s", lasting = "60s", start = "3s" }
tags = [
  { name = "锅炉一号.温度", shape = "sine", offset = 80.0, amplitude = 5.0 },
  { name = "锅炉一号.给水阀", shape = "constant", offset = 40.0, writable = { min = 0.0, max = 100.0 } },
]
"#;
    assert_driver_contract(DriverUnderTest {
        config,
        out_of_limits: Some(("锅炉一号.给水阀", 140.0)),
        break_link: Box::new(|| {}),
        detect_within: Duration::from_secs(10),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_passes_the_driver_contract_against_pymodbus() {
    let map = json!({"units": {"1": [
        {"space": "holding", "address": 100, "type": "f32", "order": "CDAB", "value": 231.5},
        {"space": "holding", "address": 110, "type": "u16", "value": 40},
    ]}});
    let sim = Pymodbus::start(&map, "socket");
    let config = format!(
        r#"
[[modbus.link]]
name = "plc-1"
address = "{}"
timeout = "300ms"
[[modbus.link.device]]
name = "一号表"
unit = 1
scan = "200ms"
tags = [
  {{ name = "一号表.电压", address = "holding:100", type = "f32", order = "CDAB" }},
  {{ name = "一号表.设定", address = "holding:110", type = "u16", writable = {{ min = 0, max = 100 }} }},
]
"#,
        sim.addr
    );
    assert_driver_contract(DriverUnderTest {
        config: &config,
        out_of_limits: Some(("一号表.设定", 1000.0)),
        // Killing the simulator takes the link down: every read fails from then on.
        break_link: Box::new(move || drop(sim)),
        detect_within: Duration::from_secs(10),
    })
    .await;
}
