//! The OPC UA driver against async-opcua's server in this process, the second implementation beside
//! asyncua (tests/opcua.rs): subscriptions with a deadband, every node id form, SignAndEncrypt with a
//! certificate exchange both ways, a server restart mid-stream, a node deleted while subscribed,
//! writes, browse output parsed back by `check`, and the link through the fault proxy (latency, resets,
//! refused reconnects).

#[path = "support/opcua_peer.rs"]
mod opcua_peer;

use std::sync::LazyLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hil_tests::faults::{Fault, FaultProxy};
use hil_tests::harness::Harness;
use hil_tests::opcua_link::{
    PRESSURE, WRITABLE, boiler, browse_and_check, config, good, secure_config, trust_the_server,
    write_and_read_back,
};
use opcua::types::Variant;
use opcua_peer::{OpcuaPeer, pressure, valve};
use protocols::{Quality, Reason, Value};

/// 锅炉一号 with the nodes both servers serve, and this one's.
static BOILER: LazyLock<String> = LazyLock::new(|| {
    boiler(&[
        r#"{ name = "锅炉一号.燃烧器运行", node = "ns=2;i=1002" }"#,
        r#"{ name = "锅炉一号.量程", node = "ns=2;s=锅炉一号.量程" }"#,
    ])
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_reads_every_node_id_form_and_an_absolute_deadband_holds_back_small_changes() {
    let server = OpcuaPeer::start();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(&config(&server.endpoint(), dir.path(), &BOILER));
    let readable =
        ["温度", "压力", "液位", "燃烧器运行", "给水阀", "炉膛温度.2"].map(|t| format!("锅炉一号.{t}"));
    h.until(Duration::from_secs(20), "every readable tag Good", |h| readable.iter().all(|t| good(h, t)))
        .await;
    assert_eq!(h.latest("锅炉一号.液位").unwrap().value, Value::Int(42), "the GUID node, an Int32");
    assert!(matches!(h.latest("锅炉一号.燃烧器运行").unwrap().value, Value::Bool(_)));
    assert_eq!(h.latest("锅炉一号.炉膛温度.2").unwrap().value, Value::Float(3.5), "element 2 of the array");
    // A structure has no sample type: Bad, and the device's last error says what the node holds.
    let range = h.latest("锅炉一号.量程").unwrap();
    assert_eq!(range.quality, Quality::Bad(Reason::DecodeError));
    let err = h.device("锅炉一号").last_error().unwrap_or_default();
    assert!(err.contains("ExtensionObject (a structure)"), "{err}");

    // The temperature ramps by 0.1 every 100 ms. async-opcua compares with the last value it reported
    // (Part 4 §7.22.2), so an absolute deadband of 0.5 lets every fifth or sixth step through, where
    // the pressure (no deadband) reports every change.
    let (temp0, pres0) = (h.samples("锅炉一号.温度").len(), h.samples("锅炉一号.压力").len());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let temps: Vec<f64> =
        h.samples("锅炉一号.温度")[temp0..].iter().filter_map(|s| s.value.as_f64()).collect();
    let pressures = h.samples("锅炉一号.压力").len() - pres0;
    assert!(temps.len() >= 4, "the ramp still comes through past the deadband: {temps:?}");
    assert!(temps.len() * 3 < pressures, "{} temperatures vs {pressures} pressures", temps.len());
    for w in temps.windows(2) {
        assert!(w[1] - w[0] >= 0.5 - 1e-9, "a change inside the deadband came through: {temps:?}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_and_encrypt_needs_each_side_to_trust_the_others_certificate() {
    let server = OpcuaPeer::encrypted("司炉工", "锅炉-secret");
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "锅炉-secret\n").unwrap();
    let security = format!(
        "security_policy = \"Basic256Sha256\"\nsecurity_mode = \"SignAndEncrypt\"\nuser = \"司炉工\"\npassword_file = \"{}\"",
        password.display()
    );
    let h = Harness::start(&secure_config(&server.endpoint(), dir.path(), &security, PRESSURE));
    // The agent refuses the server's certificate before it opens a session: the server has seen none.
    trust_the_server(&h, dir.path()).await;
    assert!(server.rejected_clients().is_empty(), "{:?}", server.rejected_clients());
    // Now the server refuses the agent's, and keeps it in its rejected/ for its administrator.
    h.until(Duration::from_secs(60), "the server refuses the agent's certificate", |_| {
        !server.rejected_clients().is_empty()
    })
    .await;
    let own = std::fs::read(dir.path().join("opcua/pki/own/cert.der")).unwrap();
    assert_eq!(std::fs::read(&server.rejected_clients()[0]).unwrap(), own, "the agent's own certificate");
    // And the agent says so, naming the file the server must trust.
    let own_path = dir.path().join("opcua/pki/own/cert.der").display().to_string();
    h.until(Duration::from_secs(30), "the agent names the server's refusal and its certificate", |h| {
        h.device("锅炉一号").last_error().is_some_and(|e| {
            e.contains("BadCertificateUntrusted") && e.contains(&format!("trust {own_path}"))
        })
    })
    .await;
    assert!(h.latest("锅炉一号.压力").is_none_or(|s| s.quality != Quality::Good));
    assert_eq!(server.trust_rejected_clients(), 1);
    h.until(Duration::from_secs(60), "pressure Good over SignAndEncrypt as 司炉工", |h| {
        good(h, "锅炉一号.压力")
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_stream_costs_one_gap_and_data_flows_again() {
    let mut server = OpcuaPeer::start();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(&config(&server.endpoint(), dir.path(), &BOILER));
    h.until(Duration::from_secs(20), "pressure and temperature Good", |h| {
        good(h, "锅炉一号.压力") && good(h, "锅炉一号.温度")
    })
    .await;
    // A mark on this server's valve, which the restarted server (fresh nodes) will not have.
    server.set(&valve(), 70.0);
    h.until(Duration::from_secs(5), "the marked valve", |h| {
        h.latest("锅炉一号.给水阀").is_some_and(|s| s.value == Value::Float(70.0))
    })
    .await;
    let stopped = Instant::now();
    server.stop();
    h.until(Duration::from_secs(10), "every tag Bad (comms lost)", |h| {
        ["锅炉一号.压力", "锅炉一号.温度"]
            .iter()
            .all(|t| h.latest(t).is_some_and(|s| s.quality == Quality::Bad(Reason::CommsLost)))
    })
    .await;
    let detected = stopped.elapsed();
    assert!(!h.device("锅炉一号").is_up());
    let before = h.samples("锅炉一号.压力").len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();
    let back = Instant::now();
    h.until(Duration::from_secs(30), "pressure flowing again after the restart", |h| {
        good(h, "锅炉一号.压力")
    })
    .await;
    let flowing = back.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let samples = h.samples("锅炉一号.压力");
    // The outage is one Bad sample per tag, not one per retry, and no Good one inside it.
    let gap: Vec<_> = samples[before - 1..].iter().take_while(|s| s.quality != Quality::Good).collect();
    assert_eq!(gap.len(), 1, "{gap:?}");
    let last_good = samples[..before].iter().rev().find(|s| s.quality == Quality::Good).unwrap();
    let first_good = samples[before..].iter().find(|s| s.quality == Quality::Good).unwrap();
    eprintln!(
        "restart: loss seen after {detected:?}, data again {flowing:?} after the server listened; gap between \
         Good samples {:.2} s",
        (first_good.ts.0 - last_good.ts.0) as f64 / 1e9
    );
    assert!(samples.len() > before + 5, "the restored subscription keeps publishing");
    let v = h.latest("锅炉一号.给水阀").unwrap();
    assert_eq!((v.quality, v.value), (Quality::Good, Value::Float(40.0)), "the restarted server's valve");
    assert_eq!(h.device("锅炉一号").reconnects.load(Ordering::Relaxed), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_deleted_while_subscribed_turns_only_its_tag_bad_and_recovers_when_re_added() {
    let server = OpcuaPeer::start();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(&config(&server.endpoint(), dir.path(), &BOILER));
    h.until(Duration::from_secs(20), "valve and pressure Good", |h| {
        good(h, "锅炉一号.给水阀") && good(h, "锅炉一号.压力")
    })
    .await;
    // async-opcua tells its subscribers nothing of a deleted node: the driver's check finds it.
    server.delete(&valve());
    h.until(Duration::from_secs(10), "the deleted node's tag Bad", |h| {
        h.latest("锅炉一号.给水阀").is_some_and(|s| matches!(s.quality, Quality::Bad(_)))
    })
    .await;
    let err = h.device("锅炉一号").last_error().unwrap_or_default();
    assert!(err.contains("BadNodeIdUnknown") && err.contains("锅炉一号.给水阀"), "{err}");
    let n = h.samples("锅炉一号.压力").len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(h.samples("锅炉一号.压力").len() > n + 5, "the pressure stopped with the deleted node");
    assert!(good(&h, "锅炉一号.压力") && good(&h, "锅炉一号.温度"));
    assert!(h.device("锅炉一号").is_up());
    // Back on the server: the retry (every 1 s) monitors it again.
    server.add_double("锅炉一号.给水阀", "给水阀", 55.0);
    h.until(Duration::from_secs(10), "the re-added node Good again", |h| {
        h.latest("锅炉一号.给水阀")
            .is_some_and(|s| s.quality == Quality::Good && s.value == Value::Float(55.0))
    })
    .await;
    server.set(&valve(), 56.0);
    h.until(Duration::from_secs(5), "the re-added node's changes", |h| {
        h.latest("锅炉一号.给水阀").is_some_and(|s| s.value == Value::Float(56.0))
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_land_in_the_servers_node_inside_limits_and_refusals_say_why() {
    let server = OpcuaPeer::start();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(&config(&server.endpoint(), dir.path(), WRITABLE));
    h.until(Duration::from_secs(20), "valve Good", |h| good(h, "锅炉一号.给水阀")).await;
    write_and_read_back(&h, "锅炉一号.给水阀", 62.5).await;
    assert_eq!(server.value(&valve()), Some(Variant::Double(62.5)), "the value is in the server's node");
    let e = h.write("锅炉一号.给水阀", Value::Float(140.0)).await.expect_err("outside the limits");
    assert!(matches!(e, drivers::WriteError::OutOfLimits { .. }), "{e}");
    assert_eq!(server.value(&valve()), Some(Variant::Double(62.5)), "nothing reached the server");
    // The pressure is read-only on the server: its status code comes back by name.
    let e = h.write("锅炉一号.压力", Value::Float(2.0)).await.expect_err("the server refuses");
    assert!(e.to_string().contains("the server answered BadUserAccessDenied"), "{e}");
    assert_ne!(server.value(&pressure()), Some(Variant::Double(2.0)));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_prints_the_plant_and_a_block_that_check_accepts_and_the_agent_reads() {
    let server = OpcuaPeer::start();
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        "压力  [ns=2;i=1001]  Double  read",
        "液位  [ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a]  Int32  read",
        "燃烧器运行  [ns=2;i=1002]  Boolean  read",
        "给水阀  [ns=2;s=锅炉一号.给水阀]  Double  read/write",
        "炉膛温度  [ns=2;s=炉膛温度]  Double[3]",
        // A structure by its type's name, and in the block as a comment that says why.
        "量程  [ns=2;s=锅炉一号.量程]  Range (i=884)  read",
    ];
    let not_a_tag = "量程 (ns=2;s=锅炉一号.量程): data type Range (i=884) is not supported";
    let config = browse_and_check(&server.endpoint(), "ns=2;s=锅炉一号", dir.path(), &lines, not_a_tag);
    let h = Harness::start(&std::fs::read_to_string(&config).unwrap());
    h.until(Duration::from_secs(20), "every browsed tag Good", |h| {
        ["压力", "液位", "燃烧器运行", "给水阀", "炉膛温度.0", "炉膛温度.2"]
            .iter()
            .all(|t| good(h, &format!("锅炉一号.{t}")))
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_fault_proxy_latency_keeps_data_good_and_resets_and_refusals_end_in_recovery() {
    let server = OpcuaPeer::start();
    let proxy = FaultProxy::start(format!("127.0.0.1:{}", server.port), 212);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("opc.tcp://{}/", proxy.addr);
    let h = Harness::start(&config(&endpoint, dir.path(), &BOILER));
    h.until(Duration::from_secs(20), "pressure Good through the proxy", |h| good(h, "锅炉一号.压力")).await;
    assert!(proxy.counts().bytes_down > 0, "the session runs through the proxy: {:?}", proxy.counts());

    // 150-250 ms each way: slower than a LAN, well inside the 2 s timeout. Changes keep arriving Good.
    proxy.set(Fault::Latency { delay: Duration::from_millis(150), jitter: Duration::from_millis(100) });
    server.set(&valve(), 55.0);
    h.until(Duration::from_secs(10), "the valve change through the latency", |h| {
        h.latest("锅炉一号.给水阀")
            .is_some_and(|s| (s.quality, s.value) == (Quality::Good, Value::Float(55.0)))
    })
    .await;
    assert!(proxy.counts().delayed_chunks > 0);
    assert_eq!(h.device("锅炉一号").reconnects.load(Ordering::Relaxed), 0, "latency alone is no outage");
    proxy.set(Fault::Pass);

    // The connection reset under the session: the loss is seen, and the link comes back by itself.
    let before = h.samples("锅炉一号.压力").len();
    proxy.reset_all();
    h.until(Duration::from_secs(30), "pressure Good again after the reset", |h| {
        h.device("锅炉一号").reconnects.load(Ordering::Relaxed) >= 1
            && h.samples("锅炉一号.压力")[before..].iter().any(|s| s.quality == Quality::Good)
    })
    .await;
    assert!(proxy.counts().resets >= 1);

    // The server gone for a while (reconnects refused): every tag turns Bad, then recovers when it is back.
    proxy.set(Fault::Refuse);
    proxy.reset_all();
    h.until(Duration::from_secs(20), "pressure Bad while refused", |h| {
        h.latest("锅炉一号.压力").is_some_and(|s| s.quality == Quality::Bad(Reason::CommsLost))
    })
    .await;
    h.until(Duration::from_secs(20), "a reconnect refused", |_| proxy.counts().refused >= 1).await;
    assert!(!h.device("锅炉一号").is_up());
    proxy.set(Fault::Pass);
    server.set(&valve(), 65.0);
    h.until(Duration::from_secs(30), "data again once the server answers", |h| {
        good(h, "锅炉一号.压力") && h.latest("锅炉一号.给水阀").is_some_and(|s| s.value == Value::Float(65.0))
    })
    .await;
    assert!(h.device("锅炉一号").is_up());
    eprintln!("through the proxy: {:?}", proxy.counts());
    h.stop().await;
}
