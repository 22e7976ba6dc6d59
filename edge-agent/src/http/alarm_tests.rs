//! The alarm list and acknowledgements through the real API, and an acknowledgement that outlives a
//! restart of the agent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{AgentState, HttpServer};
use crate::runtime::Running;
use crate::store::persist::Persist;
use crate::store::{Store, StoreConfig, SyncPolicy};

fn plant(dir: &std::path::Path) -> String {
    let token = dir.join("api.token");
    std::fs::write(&token, "s3cret\n").unwrap();
    format!(
        r#"
[agent]
data_dir = "{}"
[api]
listen = "127.0.0.1:0"
token_file = "{}"

[[sim.device]]
name = "锅炉"
scan = "20ms"
tags = [{{ name = "锅炉一号.温度", shape = "constant", offset = 960.0 }}]

[[alarm]]
tag = "锅炉一号.温度"
high = 950.0
priority = "high"
"#,
        dir.display(),
        token.display()
    )
}

struct Agent {
    running: Running,
    http: HttpServer,
    persist: Persist,
    base: String,
}

async fn start(dir: &std::path::Path) -> Agent {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = crate::config::parse(&plant(dir), "t.toml", &|_| None).unwrap();
    let cfg = StoreConfig { sync: SyncPolicy::Never, ..StoreConfig::default() };
    let store = Store::open(&dir.join("store"), &cfg).unwrap();
    let persist = Persist::start(store, tokio::runtime::Handle::current()).unwrap();
    let running = Running::start(config, Arc::new(drivers::SystemClock), Instant::now(), Some(&persist));
    let state = Arc::new(AgentState::new(running.generation.clone(), Instant::now()));
    let http = HttpServer::bind("127.0.0.1:0".parse().unwrap(), state).await.unwrap();
    let base = format!("http://{}", http.addr);
    Agent { running, http, persist, base }
}

impl Agent {
    async fn stop(self) {
        self.running.stop(Duration::from_secs(5)).await;
        let persist = self.persist;
        let _ = tokio::task::spawn_blocking(move || persist.stop()).await;
        self.http.stop().await;
    }
}

async fn get(base: &str, path: &str) -> (u16, String) {
    let r = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth("s3cret").send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(base: &str, path: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let mut r = reqwest::Client::new().post(format!("{base}{path}")).body(body.to_owned());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The state of the first condition of the first listed alarm, once it is `want`.
async fn until_state(base: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(base, "/alarms").await;
        assert_eq!(status, 200, "{body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        if list["alarms"][0]["conditions"][0]["state"] == want {
            return list["alarms"][0].clone();
        }
        assert!(Instant::now() < deadline, "never {want}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_is_listed_acknowledged_over_the_api_and_stays_acknowledged_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let agent = start(dir.path()).await;
    let base = agent.base.clone();
    let alarm = until_state(&base, "unacknowledged").await;
    assert_eq!(alarm["tag"], "锅炉一号.温度");
    assert_eq!(alarm["conditions"][0]["priority"], "high");

    let path = "/alarms/%E9%94%85%E7%82%89%E4%B8%80%E5%8F%B7.%E6%B8%A9%E5%BA%A6/ack";
    assert_eq!(post(&base, path, "", None).await.0, 401, "the token is required");
    let (status, body) = post(&base, path, r#"{"by": "李工"}"#, Some("s3cret")).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["conditions"][0]["message"], "HIGH acknowledged by 李工");
    let (status, body) = post(&base, path, "", Some("s3cret")).await;
    assert_eq!((status, body.as_str()), (409, "alarm on 锅炉一号.温度: nothing to acknowledge\n"));
    let (status, _) = post(&base, "/alarms/no.such.tag/ack", "", Some("s3cret")).await;
    assert_eq!(status, 404);
    let (status, body) =
        post(&base, path.replace("/ack", "/shelve").as_str(), r#"{"for": "1d"}"#, Some("s3cret")).await;
    assert_eq!(status, 409, "beyond max_shelve: {body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, metrics) = get(&base, "/metrics").await;
        if metrics.contains("edge_alarms_unacknowledged{priority=\"high\"} 0")
            && metrics.contains("edge_alarms_active{priority=\"high\"} 1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.stop().await;

    let again = start(dir.path()).await;
    let alarm = until_state(&again.base, "acknowledged").await;
    assert_eq!(alarm["conditions"][0]["message"], "HIGH acknowledged by 李工", "nothing new happened");
    let (_, all) = get(&again.base, "/alarms?all=true").await;
    assert!(all.contains("锅炉一号.温度"), "{all}");
    again.stop().await;
}
