//! Every uplink kind passes the same contract against its real peer.

use std::cell::RefCell;

use hil_tests::contract::{SinkUnderTest, assert_sink_contract};
use hil_tests::historians::{InfluxDb1, VictoriaMetrics};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_v2_passes_the_sink_contract_against_victoria_metrics() {
    let vm = RefCell::new(VictoriaMetrics::start());
    let uplink = format!(
        "[[uplink]]\nname = \"vm\"\ntype = \"influxdb_v2\"\nurl = \"{}\"\norg = \"plant\"\nbucket = \"edge\"\ntoken = \"t\"\nbatch_age = \"100ms\"\ntimeout = \"2s\"\n",
        vm.borrow().url()
    );
    assert_sink_contract(SinkUnderTest {
        uplink: &uplink,
        name: "vm",
        stored: Box::new(|| vm.borrow().count_points() as u64),
        stop_peer: Box::new(|| vm.borrow_mut().stop()),
        start_peer: Box::new(|| vm.borrow_mut().restart()),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_v1_passes_the_sink_contract_against_influxdb_1() {
    let influx = RefCell::new(InfluxDb1::start());
    let uplink = format!(
        "[[uplink]]\nname = \"influx1\"\ntype = \"influxdb_v1\"\nurl = \"{}\"\ndatabase = \"{}\"\nbatch_age = \"100ms\"\ntimeout = \"2s\"\n",
        influx.borrow().url(),
        InfluxDb1::DB
    );
    assert_sink_contract(SinkUnderTest {
        uplink: &uplink,
        name: "influx1",
        stored: Box::new(|| influx.borrow().count_points() as u64),
        stop_peer: Box::new(|| influx.borrow_mut().stop()),
        start_peer: Box::new(|| influx.borrow_mut().restart()),
    })
    .await;
}

/// Points a subscriber holds, each counted once however often it arrived (QoS 1 is at least once).
fn distinct(keys: impl Iterator<Item = (String, u64)>) -> u64 {
    keys.collect::<std::collections::BTreeSet<_>>().len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_json_passes_the_sink_contract_against_mosquitto() {
    use hil_tests::mosquitto::{Mosquitto, Probe};
    let broker = Mosquitto::start();
    let subscriber = Probe::connect(&broker, "historian", &["工厂/#"]).await;
    let broker = RefCell::new(broker);
    let uplink = format!(
        "[[uplink]]\nname = \"json\"\ntype = \"mqtt_json\"\nurl = \"{}\"\ntopic = \"工厂/{{device}}/{{tag}}\"\nbatch_age = \"100ms\"\nreconnect_max = \"2s\"\n",
        broker.borrow().url()
    );
    let points = || {
        distinct(subscriber.messages().iter().map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.payload).expect("JSON");
            (r.topic.clone(), body["ts"].as_u64().expect("ts"))
        }))
    };
    assert_sink_contract(SinkUnderTest {
        uplink: &uplink,
        name: "json",
        stored: Box::new(points),
        stop_peer: Box::new(|| broker.borrow_mut().stop()),
        start_peer: Box::new(|| broker.borrow_mut().restart()),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparkplug_b_passes_the_sink_contract_against_mosquitto() {
    use hil_tests::mosquitto::{Mosquitto, Probe};
    use protocols::sparkplug;
    let broker = Mosquitto::start();
    let host = Probe::connect(&broker, "scada", &["spBv1.0/#"]).await;
    let broker = RefCell::new(broker);
    let uplink = format!(
        "[[uplink]]\nname = \"scada\"\ntype = \"sparkplug_b\"\nurl = \"{}\"\ngroup_id = \"一号工厂\"\nedge_node = \"三号线网关\"\nbatch_age = \"100ms\"\nreconnect_max = \"2s\"\n",
        broker.borrow().url()
    );
    // A metric's alias stays the node's for its whole run, across reconnects and rebirths.
    let points = || {
        distinct(host.messages().iter().filter(|r| r.topic.contains("/DDATA/")).flat_map(|r| {
            let p = sparkplug::decode(&r.payload).expect("Sparkplug B");
            p.metrics.into_iter().map(|m| (m.alias.expect("alias").to_string(), m.timestamp.expect("ts")))
        }))
    };
    assert_sink_contract(SinkUnderTest {
        uplink: &uplink,
        name: "scada",
        stored: Box::new(points),
        stop_peer: Box::new(|| broker.borrow_mut().stop()),
        start_peer: Box::new(|| broker.borrow_mut().restart()),
    })
    .await;
}
