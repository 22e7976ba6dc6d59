//! deploy/grafana/*.json against real data: a running agent sends its tags to VictoriaMetrics through its
//! InfluxDB uplink, its /metrics are imported with the site and gateway labels a scrape adds, and every
//! query of every dashboard (variables resolved in order, as Grafana does) must return data.

#[path = "support/agent.rs"]
mod agent;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use agent::{Agent, Scratch, eventually};
use hil_tests::historians::{VictoriaMetrics, http};
use serde_json::Value;

const SITE: &str = "测试厂";
const GATEWAY: &str = "gw-01";

fn path_with(path: &str, params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params(&format!("http://x{path}"), params).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

fn get(vm: &VictoriaMetrics, path: &str) -> Value {
    let (status, body) = http(vm.addr, "GET", path, b"").unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Grafana's escaping of one value inside a regex matcher's PromQL string.
fn regex_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push_str(r"\\");
        }
        out.push(c);
    }
    out
}

fn substitute(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = text.replace("$__rate_interval", "1m");
    // Longest names first, so `$gateway` is not cut by a shorter `$g...`.
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        out = out.replace(&format!("${{{name}}}"), &vars[name]).replace(&format!("${name}"), &vars[name]);
    }
    out
}

/// The values of a `label_values(selector, label)` variable, after its regex.
fn variable_values(vm: &VictoriaMetrics, var: &Value, vars: &HashMap<String, String>) -> Vec<String> {
    let query = var["query"]["query"].as_str().unwrap();
    let inner = query.strip_prefix("label_values(").and_then(|q| q.strip_suffix(')')).unwrap();
    let (selector, label) = match inner.rsplit_once(',') {
        Some((sel, label)) => (Some(substitute(sel.trim(), vars)), label.trim()),
        None => (None, inner.trim()),
    };
    let path = format!("/api/v1/label/{label}/values");
    let path = match &selector {
        Some(sel) => path_with(&path, &[("match[]", sel)]),
        None => path,
    };
    let mut values: Vec<String> =
        get(vm, &path)["data"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    if let Some(re) = var["regex"].as_str().filter(|r| !r.is_empty()) {
        let re = regex::Regex::new(re.trim_matches('/')).unwrap();
        values = values
            .iter()
            .filter_map(|v| re.captures(v).map(|c| c.get(1).unwrap_or(c.get(0).unwrap()).as_str().to_owned()))
            .collect();
        values.dedup();
    }
    values
}

fn check_dashboard(vm: &VictoriaMetrics, file: &str) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana").join(file);
    let board: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut vars = HashMap::new();
    for var in board["templating"]["list"].as_array().unwrap() {
        if var["type"] != "query" {
            continue;
        }
        let name = var["name"].as_str().unwrap().to_owned();
        let values = variable_values(vm, var, &vars);
        assert!(!values.is_empty(), "{file}: variable {name} has no values ({})", var["query"]["query"]);
        // A multi-value variable stands for all its values, as a regex alternation.
        let value = if var["multi"] == true {
            values.iter().map(|v| regex_escape(v)).collect::<Vec<_>>().join("|")
        } else {
            values[0].clone()
        };
        println!("{file}: ${name} = {value}");
        vars.insert(name, value);
    }
    assert_eq!(vars.get("site").map(String::as_str), Some(SITE), "{file}");
    let mut queries = 0;
    for panel in board["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = substitute(target["expr"].as_str().unwrap(), &vars);
            let answer = get(vm, &path_with("/api/v1/query", &[("query", &expr)]));
            let result = answer["data"]["result"].as_array().unwrap();
            assert!(!result.is_empty(), "{file}: panel {:?}: no data for {expr}", panel["title"]);
            queries += 1;
        }
    }
    queries
}

#[test]
fn every_dashboard_query_returns_data_from_the_agents_output() {
    let vm = VictoriaMetrics::start_queryable();
    let dir = Scratch::new("grafana");
    let body = format!(
        r#"
[[sim.device]]
name = "锅炉一号"
scan = "100ms"
tags = [
  {{ name = "锅炉一号.温度", shape = "sine", offset = 80.0, amplitude = 5.0, period = "10s" }},
  {{ name = "锅炉一号.计数", shape = "counter" }},
]

[[uplink]]
name = "vm"
type = "influxdb_v2"
url = "{}"
org = "plant"
bucket = "edge"
token = "t0ken"
batch_age = "100ms"
"#,
        vm.url()
    );
    let written = std::fs::read_to_string(dir.config(&body)).unwrap();
    let config =
        written.replace("[agent]\n", &format!("[agent]\nsite = \"{SITE}\"\ngateway = \"{GATEWAY}\"\n"));
    let config = dir.file("agent.toml", &config);
    let agent = Agent::start(&config);
    assert!(
        eventually(Duration::from_secs(20), || {
            vm.flush();
            let n =
                get(&vm, &path_with("/api/v1/series", &[("match[]", r#"{__name__=~"锅炉一号_value.*"}"#)]));
            n["data"].as_array().is_some_and(|s| s.len() >= 2)
        }),
        "the historian data reaches VictoriaMetrics"
    );
    // Two scrapes, so rates have two points; the labels a scrape config adds per gateway.
    for _ in 0..2 {
        let (status, metrics) = agent.get("/metrics");
        assert_eq!(status, 200);
        let import = path_with(
            "/api/v1/import/prometheus",
            &[("extra_label", &format!("site={SITE}")), ("extra_label", &format!("gateway={GATEWAY}"))],
        );
        let (status, answer) = http(vm.addr, "POST", &import, metrics.as_bytes()).unwrap();
        assert!(status == 204 || status == 200, "import: {status} {answer}");
        std::thread::sleep(Duration::from_secs(2));
    }
    vm.flush();
    let historian = check_dashboard(&vm, "historian.json");
    let metrics = check_dashboard(&vm, "agent.json");
    println!("queries answered with data: historian {historian}, agent {metrics}");
    assert!(historian >= 4 && metrics >= 10);
}
