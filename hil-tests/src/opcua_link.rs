//! The agent's side of the OPC UA tests, whichever server they run against (asyncua or async-opcua):
//! a link's config, a tag's quality, trusting a server's certificate the way the agent's message says,
//! and `edge-agent opcua browse` with the block it prints checked by `edge-agent check`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use protocols::Quality;

use crate::harness::Harness;

/// `[[opcua.link]]` 锅炉房 to `endpoint` (2 s timeout, reconnects at most 2 s apart), then `device`.
pub fn config(endpoint: &str, data_dir: &Path, device: &str) -> String {
    format!(
        r#"
[agent]
data_dir = "{}"
[[opcua.link]]
name = "锅炉房"
endpoint = "{endpoint}"
timeout = "2s"
reconnect_max = "2s"
{device}
"#,
        data_dir.display()
    )
}

/// `config` with security lines added to the link.
pub fn secure_config(endpoint: &str, data_dir: &Path, security: &str, device: &str) -> String {
    config(endpoint, data_dir, device).replace("timeout = \"2s\"", &format!("timeout = \"2s\"\n{security}"))
}

/// Device 锅炉一号, subscribed every 100 ms, with the nodes both test servers serve (one tag of each
/// node id form, a deadband, a writable valve, an array element) and then `extra` tags.
pub fn boiler(extra: &[&str]) -> String {
    let mut tags = vec![
        r#"{ name = "锅炉一号.温度", node = "nsu=urn:edge-agent:test;s=锅炉一号.温度", sampling = "100ms", deadband = { absolute = 0.5 } }"#,
        r#"{ name = "锅炉一号.压力", node = "ns=2;i=1001" }"#,
        r#"{ name = "锅炉一号.液位", node = "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a" }"#,
        r#"{ name = "锅炉一号.给水阀", node = "ns=2;s=锅炉一号.给水阀", writable = { min = 0, max = 100 } }"#,
        r#"{ name = "锅炉一号.炉膛温度.2", node = "ns=2;s=炉膛温度", index = 2 }"#,
    ];
    tags.extend(extra);
    format!(
        "[[opcua.link.device]]\nname = \"锅炉一号\"\npublishing_interval = \"100ms\"\nretry = \"1s\"\ntags = [\n  {},\n]\n",
        tags.join(",\n  ")
    )
}

/// Device 锅炉一号 reading only the pressure (`ns=2;i=1001` on both test servers).
pub const PRESSURE: &str = r#"
[[opcua.link.device]]
name = "锅炉一号"
publishing_interval = "100ms"
tags = [{ name = "锅炉一号.压力", node = "ns=2;i=1001" }]
"#;

/// Device 锅炉一号 with two tags writable by the agent: the valve (writable on both servers too) and
/// the pressure (read-only there).
pub const WRITABLE: &str = r#"
[[opcua.link.device]]
name = "锅炉一号"
publishing_interval = "100ms"
tags = [
  { name = "锅炉一号.给水阀", node = "ns=2;s=锅炉一号.给水阀", writable = { min = 0, max = 100 } },
  { name = "锅炉一号.压力", node = "ns=2;i=1001", writable = { min = 0, max = 10 } },
]
"#;

/// Writes `value` to `tag`, which must succeed, and waits for the subscription to read it back.
pub async fn write_and_read_back(h: &Harness, tag: &str, value: f64) {
    let v = protocols::Value::Float(value);
    h.write(tag, v).await.unwrap_or_else(|e| panic!("writing {value} to {tag}: {e}"));
    h.until(Duration::from_secs(5), &format!("{tag} read back as {value}"), |h| {
        h.latest(tag).is_some_and(|s| s.value == v)
    })
    .await;
}

pub fn good(h: &Harness, tag: &str) -> bool {
    h.latest(tag).is_some_and(|s| s.quality == Quality::Good)
}

/// Waits for device 锅炉一号 to refuse the server's certificate, checks that its message says which
/// file to move where, and moves it so. Returns the message.
pub async fn trust_the_server(h: &Harness, data_dir: &Path) -> String {
    h.until(Duration::from_secs(60), "the untrusted server refused, saying which file to move", |h| {
        h.device("锅炉一号").last_error().is_some_and(|e| e.contains("not trusted"))
    })
    .await;
    let err = h.device("锅炉一号").last_error().unwrap();
    let pki = data_dir.join("opcua/pki");
    let rejected = std::fs::read_dir(pki.join("rejected")).unwrap().next().unwrap().unwrap().path();
    let trusted = pki.join("trusted").join(rejected.file_name().unwrap());
    let want = format!("move {} to {}", rejected.display(), trusted.display());
    assert!(err.contains(&want), "{err}\nwants: {want}");
    assert!(!h.device("锅炉一号").is_up(), "up with an untrusted server");
    std::fs::create_dir_all(trusted.parent().unwrap()).unwrap();
    std::fs::rename(&rejected, &trusted).unwrap();
    err
}

/// `edge-agent opcua browse` from `node`, two levels down, naming link 锅炉房 and device 锅炉一号: its
/// tree has every one of `lines`, its block lists `not_a_tag` as a comment and element 2 of an array
/// as a tag, and `edge-agent check` accepts the block written as agent.toml under `data_dir`. The
/// file's path.
pub fn browse_and_check(
    endpoint: &str,
    node: &str,
    data_dir: &Path,
    lines: &[&str],
    not_a_tag: &str,
) -> PathBuf {
    let out = Command::new(crate::agent::bin())
        .args(["opcua", "browse", "--endpoint", endpoint, "--node", node])
        .args(["--depth", "2", "--link", "锅炉房", "--device", "锅炉一号"])
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in lines {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    let block = &text[text.find("[[opcua.link]]").expect("a TOML block")..];
    let comment = format!("# not a tag: {not_a_tag}");
    assert!(block.contains("index = 2") && block.contains(&comment), "{block}");
    let config = data_dir.join("agent.toml");
    std::fs::write(&config, format!("[agent]\ndata_dir = \"{}\"\n{block}", data_dir.display())).unwrap();
    let check = Command::new(crate::agent::bin()).arg("check").arg("-c").arg(&config).output().unwrap();
    assert!(
        check.status.success(),
        "check refused the printed block:\n{}\n{block}",
        String::from_utf8_lossy(&check.stderr)
    );
    config
}
