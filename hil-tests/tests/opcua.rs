//! The OPC UA driver against asyncua, an independent server: subscriptions with deadband, every node id
//! form, arrays, a node deleted while subscribed, a server restart mid-stream, a stalled server, writes,
//! Chinese names.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use hil_tests::asyncua::Asyncua;
use hil_tests::harness::Harness;
use hil_tests::opcua_link::{
    WRITABLE, boiler, browse_and_check, config, good, secure_config, trust_the_server, write_and_read_back,
};
use protocols::{Quality, Reason, Value};

/// 锅炉一号 with the nodes both servers serve, and this one's.
static BOILER: LazyLock<String> =
    LazyLock::new(|| boiler(&[r#"{ name = "锅炉一号.编号", node = "ns=2;s=锅炉一号.编号" }"#]));

/// One asyncua server at a time: several Python servers starting together on a small machine take
/// longer than the waits below allow.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_reads_every_node_id_form_with_deadband_and_refuses_unsupported_types() {
    let _serial = serial().await;
    let server = Asyncua::start();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(&config(&server.endpoint(), dir.path(), &BOILER));
    h.until(Duration::from_secs(20), "the subscribed tags read Good", |h| {
        ["锅炉一号.温度", "锅炉一号.压力", "锅炉一号.液位", "锅炉一号.给水阀", "锅炉一号.炉膛温度.2"]
            .iter()
            .all(|t| good(h, t))
    })
    .await;
    assert_eq!(h.latest("锅炉一号.液位").unwrap().value, Value::Int(42), "the GUID node, an Int32");
    assert_eq!(h.latest("锅炉一号.炉膛温度.2").unwrap().value, Value::Float(3.5), "element 2 of the array");
    // A GUID value has no sample type: Bad, and the device's last error names the data type.
    let id = h.latest("锅炉一号.编号").unwrap();
    assert_eq!(id.quality, Quality::Bad(Reason::DecodeError));
    let err = h.device("锅炉一号").last_error().unwrap_or_default();
    assert!(err.contains("data type Guid"), "{err}");

    // The temperature steps by 1.0 every tenth write and wobbles by 0.01 between: an absolute deadband
    // of 0.5 lets through only the steps, where the pressure (no deadband) reports every change.
    let t0 = Instant::now();
    let (temp0, pres0) = (h.samples("锅炉一号.温度").len(), h.samples("锅炉一号.压力").len());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let temps: Vec<f64> =
        h.samples("锅炉一号.温度")[temp0..].iter().filter_map(|s| s.value.as_f64()).collect();
    let pressures = h.samples("锅炉一号.压力").len() - pres0;
    let elapsed = t0.elapsed().as_secs_f64();
    assert!(temps.len() >= 3, "the temperature still changes past the deadband: {temps:?}");
    assert!(
        temps.len() * 3 < pressures,
        "{} temperatures vs {pressures} pressures in {elapsed:.1}s",
        temps.len()
    );
    for w in temps.windows(2) {
        assert!((w[1] - w[0]).abs() >= 0.5, "a change inside the deadband came through: {temps:?}");
    }
    // Source timestamps: within the run, not the agent's arrival time.
    let s = h.latest("锅炉一号.压力").unwrap();
    let now = drivers::Clock::now(&drivers::SystemClock);
    assert!(s.ts.0 <= now.0 && now.0 - s.ts.0 < 5_000_000_000, "{s:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_node_turns_only_its_tags_bad_and_comes_back_when_re_added() {
    let _serial = serial().await;
    let mut server = Asyncua::start();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(&config(&server.endpoint(), dir.path(), &BOILER));
    h.until(Duration::from_secs(20), "temperature and pressure Good", |h| {
        good(h, "锅炉一号.温度") && good(h, "锅炉一号.压力")
    })
    .await;
    server.command("delete ns=2;s=锅炉一号.给水阀");
    h.until(Duration::from_secs(10), "the deleted node's tag Bad", |h| {
        h.latest("锅炉一号.给水阀").is_some_and(|s| matches!(s.quality, Quality::Bad(_)))
    })
    .await;
    let err = h.device("锅炉一号").last_error().unwrap_or_default();
    assert!(err.contains("BadNodeIdUnknown"), "the status code's name is the reason: {err}");
    // Every other item keeps flowing.
    let n = h.samples("锅炉一号.压力").len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(h.samples("锅炉一号.压力").len() > n + 5, "the pressure stopped with the deleted node");
    assert!(good(&h, "锅炉一号.压力"));
    // Back on the server: the retry (every 1 s) subscribes it again.
    server.command("add 锅炉一号.给水阀 55");
    h.until(Duration::from_secs(10), "the re-added node Good again", |h| {
        h.latest("锅炉一号.给水阀")
            .is_some_and(|s| s.quality == Quality::Good && s.value == Value::Float(55.0))
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_stream_reconnects_and_restores_the_subscription() {
    let _serial = serial().await;
    let mut server = Asyncua::start();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(&config(&server.endpoint(), dir.path(), &BOILER));
    h.until(Duration::from_secs(20), "pressure Good", |h| good(h, "锅炉一号.压力")).await;
    server.kill();
    h.until(Duration::from_secs(10), "every tag Bad (comms lost)", |h| {
        h.latest("锅炉一号.压力").is_some_and(|s| s.quality == Quality::Bad(Reason::CommsLost))
            && h.latest("锅炉一号.温度").is_some_and(|s| s.quality == Quality::Bad(Reason::CommsLost))
    })
    .await;
    assert!(!h.device("锅炉一号").is_up());
    server.restart();
    let back = Instant::now();
    h.until(Duration::from_secs(30), "pressure flowing again after the restart", |h| {
        good(h, "锅炉一号.压力")
    })
    .await;
    eprintln!("data flowing again {:?} after the server listened", back.elapsed());
    let n = h.samples("锅炉一号.压力").len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(h.samples("锅炉一号.压力").len() > n + 3, "the restored subscription keeps publishing");
    assert!(h.device("锅炉一号").reconnects.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_is_detected_by_its_silence_and_read_again_when_it_resumes() {
    let _serial = serial().await;
    let server = Asyncua::start();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(&config(&server.endpoint(), dir.path(), &BOILER));
    h.until(Duration::from_secs(20), "pressure Good", |h| good(h, "锅炉一号.压力")).await;
    // Stopped, not killed: the TCP connection stays open and nothing answers on it, so only the
    // keep-alive and publish timeouts can tell.
    let signal = |s: &str| {
        let ok = std::process::Command::new("kill").args([s, &server.pid().to_string()]).status().unwrap();
        assert!(ok.success(), "kill {s}");
    };
    signal("-STOP");
    let stalled = Instant::now();
    h.until(Duration::from_secs(30), "every tag Bad (comms lost) while the server is stopped", |h| {
        h.latest("锅炉一号.压力").is_some_and(|s| s.quality == Quality::Bad(Reason::CommsLost))
    })
    .await;
    let err = h.device("锅炉一号").last_error().unwrap_or_default();
    eprintln!("stall detected after {:?}: {err}", stalled.elapsed());
    assert!(!h.device("锅炉一号").is_up(), "{err}");
    signal("-CONT");
    h.until(Duration::from_secs(30), "pressure Good again after the server resumed", |h| {
        good(h, "锅炉一号.压力")
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_inside_limits_reach_the_server_and_its_refusals_come_back_by_name() {
    let _serial = serial().await;
    let server = Asyncua::start();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(&config(&server.endpoint(), dir.path(), WRITABLE));
    h.until(Duration::from_secs(20), "valve Good", |h| good(h, "锅炉一号.给水阀")).await;
    write_and_read_back(&h, "锅炉一号.给水阀", 62.5).await;
    let e = h.write("锅炉一号.给水阀", Value::Float(140.0)).await.expect_err("outside the limits");
    assert!(matches!(e, drivers::WriteError::OutOfLimits { .. }), "{e}");
    // The pressure node is not writable on the server: its status code comes back by name.
    let e = h.write("锅炉一号.压力", Value::Float(2.0)).await.expect_err("the server refuses");
    assert!(e.to_string().contains("BadUserAccessDenied") || e.to_string().contains("BadNotWritable"), "{e}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_device_reads_at_its_period() {
    let _serial = serial().await;
    let server = Asyncua::start();
    let dir = tempfile::tempdir().unwrap();
    let device = r#"
[[opcua.link.device]]
name = "锅炉一号"
poll = "200ms"
tags = [
  { name = "锅炉一号.压力", node = "ns=2;i=1001" },
  { name = "锅炉一号.缺失", node = "ns=2;s=没有这个节点" },
]
"#;
    let h = Harness::start(&config(&server.endpoint(), dir.path(), device));
    h.until(Duration::from_secs(20), "pressure Good", |h| good(h, "锅炉一号.压力")).await;
    let n = h.samples("锅炉一号.压力").len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = h.samples("锅炉一号.压力").len() - n;
    assert!((6..=12).contains(&got), "{got} reads in 2 s at 200 ms");
    assert!(matches!(h.latest("锅炉一号.缺失").unwrap().quality, Quality::Bad(_)));
    assert!(h.device("锅炉一号").scans.load(std::sync::atomic::Ordering::Relaxed) > 5);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_and_encrypt_refuses_an_untrusted_server_until_its_certificate_is_moved_to_trusted() {
    let _serial = serial().await;
    let server_pki = tempfile::tempdir().unwrap();
    let pki_arg = server_pki.path().to_str().unwrap().to_owned();
    let server = Asyncua::start_with(&["--pki", &pki_arg, "--user", "operator", "--password", "锅炉-secret"]);
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "锅炉-secret\n").unwrap();
    let security = format!(
        "security_policy = \"Basic256Sha256\"\nsecurity_mode = \"SignAndEncrypt\"\nuser = \"operator\"\npassword_file = \"{}\"",
        password.display()
    );
    let h = Harness::start(&secure_config(&server.endpoint(), dir.path(), &security, &BOILER));
    trust_the_server(&h, dir.path()).await;
    assert!(
        dir.path().join("opcua/pki/own/cert.der").exists(),
        "the agent's own certificate is made on first run"
    );
    // Trusted: the next attempt opens the encrypted session and logs on as operator.
    h.until(Duration::from_secs(60), "pressure Good over SignAndEncrypt", |h| good(h, "锅炉一号.压力")).await;
    h.stop().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_prints_the_tree_and_a_block_that_check_accepts() {
    let _serial = serial().await;
    let server = Asyncua::start();
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        "压力  [ns=2;i=1001]  Double  read",
        "给水阀  [ns=2;s=锅炉一号.给水阀]  Double  read/write",
        "炉膛温度  [ns=2;s=炉膛温度]  Double[3]",
    ];
    let node = "nsu=urn:edge-agent:test;s=锅炉一号";
    let config = browse_and_check(&server.endpoint(), node, dir.path(), &lines, "编号");
    // And the block reads: the harness builds it and every tag turns Good.
    let h = Harness::start(&std::fs::read_to_string(&config).unwrap());
    h.until(Duration::from_secs(20), "the browsed pressure Good", |h| good(h, "锅炉一号.压力")).await;
    h.stop().await;
}

#[test]
fn config_mistakes_are_reported_at_their_place_with_what_to_do() {
    let text = r#"[[opcua.link]]
name = "锅炉房"
endpoint = "http://10.0.0.7:4840"
security_policy = "Basic256Sha256"
user = "edge"
[[opcua.link.device]]
name = "锅炉一号"
poll = "1s"
tags = [
  { name = "锅炉一号.温度", node = "ns=2;x=温度" },
  { name = "锅炉一号.压力", node = "ns=2;i=1001", deadband = { absolute = 0.5 } },
  { name = "锅炉一号.液位", node = "ns=2;g=1234", queue = 0 },
]
[[opcua.link.device]]
name = "锅炉二号"
tags = [{ name = "锅炉二号.温度", node = "ns=2;s=温度", deadband = { percent = 150 } }]
"#;
    let e = edge_agent::config::parse(text, "agent.toml", &|_| None).expect_err("every mistake reported");
    let lines = e.lines();
    let want = [
        ("agent.toml:3:12:", "not an OPC UA TCP URL"),
        ("agent.toml:4:19:", "security_mode"),
        ("agent.toml:5:8:", "needs its password"),
        ("agent.toml:10:30:", "unknown identifier type `x=`"),
        ("agent.toml:11:56:", "a polled device reads every value"),
        ("agent.toml:12:30:", "not a GUID"),
        ("agent.toml:12:53:", "queue is at least 1"),
        ("agent.toml:16:60:", "outside 0..=100"),
    ];
    for (at, what) in want {
        assert!(
            lines.iter().any(|l| l.starts_with(at) && l.contains(what)),
            "no {at} .. {what} in\n{}",
            lines.join("\n")
        );
    }
    assert_eq!(lines.len(), want.len(), "{}", lines.join("\n"));
}
