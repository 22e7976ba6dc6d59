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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_passes_the_driver_contract_against_mosquitto() {
    use hil_tests::mosquitto::{Mosquitto, Probe};
    let broker = Mosquitto::start();
    let config = format!(
        r#"
[[mqtt.broker]]
name = "车间总线"
url = "{}"
[[mqtt.broker.subscription]]
topic = "厂区/{{device}}/遥测"
devices = ["锅炉一号", "锅炉二号"]
timestamp = "/ts"
stale = "2s"
tags = [
  {{ name = "{{device}}.温度", pointer = "/温度" }},
  {{ name = "{{device}}.运行", pointer = "/run", type = "bool" }},
]
"#,
        broker.url()
    );
    // The boilers report every 100 ms, each with its own acquisition time.
    let field = Probe::connect(&broker, "boilers", &[]).await;
    let reporting = tokio::spawn(async move {
        for i in 0u64.. {
            let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
            for b in ["锅炉一号", "锅炉二号"] {
                let body = format!(r#"{{"ts": {ts}, "温度": {}, "run": true}}"#, 80.0 + (i % 10) as f64);
                field.publish(&format!("厂区/{b}/遥测"), body, false).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert_driver_contract(DriverUnderTest {
        config: &config,
        out_of_limits: None,
        // The broker goes away: the connection is lost, every tag Bad (comms lost).
        break_link: Box::new(move || drop(broker)),
        detect_within: Duration::from_secs(10),
    })
    .await;
    reporting.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_passes_the_driver_contract() {
    use hil_tests::instrument::{ScriptedInstrument, text};
    let pty = hil_tests::pymodbus::PtyPair::new();
    let instrument =
        ScriptedInstrument::polled(&pty.b, b'\r', |_, n| vec![text(&format!("{},7.5\r\n", 20 + n % 5))]);
    let config = format!(
        r##"
[[serial.port]]
name = "分析仪总线"
port = "{port}"
[[serial.port.instrument]]
name = "烟气分析仪"
request = "#01\r"
scan = "100ms"
timeout = "300ms"
delimiter = ","
tags = [
  {{ name = "烟气分析仪.氧含量", field = 0 }},
  {{ name = "烟气分析仪.温度", field = 1 }},
]
"##,
        port = pty.a.display()
    );
    assert_driver_contract(DriverUnderTest {
        config: &config,
        out_of_limits: None,
        break_link: Box::new(instrument.silencer()),
        detect_within: Duration::from_secs(5),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opcua_passes_the_driver_contract_against_asyncua() {
    use hil_tests::asyncua::Asyncua;
    let server = Asyncua::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[agent]
data_dir = "{}"
[[opcua.link]]
name = "锅炉房"
endpoint = "{}"
timeout = "2s"
[[opcua.link.device]]
name = "锅炉一号"
publishing_interval = "200ms"
tags = [
  {{ name = "锅炉一号.压力", node = "ns=2;i=1001" }},
  {{ name = "锅炉一号.给水阀", node = "ns=2;s=锅炉一号.给水阀", writable = {{ min = 0, max = 100 }} }},
]
"#,
        dir.path().display(),
        server.endpoint()
    );
    assert_driver_contract(DriverUnderTest {
        config: &config,
        out_of_limits: Some(("锅炉一号.给水阀", 140.0)),
        // Killing the server drops the session: the driver marks every tag Bad (comms lost).
        break_link: Box::new(move || drop(server)),
        detect_within: Duration::from_secs(10),
    })
    .await;
}
