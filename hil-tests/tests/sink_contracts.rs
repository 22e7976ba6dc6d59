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
