//! `edge-agent alarms`: the running agent's alarm list and operator actions, over its local API (what
//! `curl` would do), with the address and token taken from the agent's config.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use drivers::units::Span;
use serde_json::{Value, json};

use crate::config;

#[derive(Args, Debug)]
pub struct AlarmsArgs {
    #[arg(short, long, default_value = super::DEFAULT_CONFIG)]
    pub config: std::path::PathBuf,
    /// The agent's API, when not the one in the config: `http://127.0.0.1:9100`.
    #[arg(long)]
    pub url: Option<String>,
    #[command(subcommand)]
    pub action: Option<AlarmAction>,
}

#[derive(Subcommand, Debug)]
pub enum AlarmAction {
    /// Standing alarms, most pressing first (the default).
    List {
        /// Every configured alarm, also those with nothing standing.
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge an alarm's conditions (or one, with --condition).
    Ack(Target),
    /// Hide an alarm from the operator for a while; it comes back by itself.
    Shelve {
        #[command(flatten)]
        target: Target,
        /// How long: "30m", "2h" (at most the alarm's max_shelve).
        #[arg(long = "for")]
        duration: Span,
        #[arg(long)]
        reason: Option<String>,
    },
    Unshelve(Target),
    /// Take an alarm out of service (maintenance) until put back.
    OutOfService {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: Option<String>,
    },
    InService(Target),
}

#[derive(Args, Debug)]
pub struct Target {
    /// The alarm's tag: `kiln.temp`.
    pub tag: String,
    /// One condition (`HIGH`, `STALE`, ...); all of the alarm's without it.
    #[arg(long)]
    pub condition: Option<String>,
    /// Who acts, for the alarm's log (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    #[arg(long)]
    pub comment: Option<String>,
}

pub async fn run(args: AlarmsArgs) -> ExitCode {
    let cfg = match config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    let base = args.url.clone().unwrap_or_else(|| format!("http://{}", cfg.api.listen));
    // reqwest is built without a crypto provider (see uplink::influx); plain HTTP needs one all the same.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let with_token = |r: reqwest::RequestBuilder| match &cfg.api.token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let (request, listing) = match args.action.unwrap_or(AlarmAction::List { all: false }) {
        AlarmAction::List { all } => {
            (client.get(format!("{base}/alarms{}", if all { "?all=true" } else { "" })), true)
        }
        action => {
            let (verb, target, mut body) = match action {
                AlarmAction::Ack(t) => ("acknowledge", t, json!({})),
                AlarmAction::Shelve { target, duration, reason } => {
                    ("shelve", target, json!({ "for": duration.to_string(), "reason": reason }))
                }
                AlarmAction::Unshelve(t) => ("unshelve", t, json!({})),
                AlarmAction::OutOfService { target, reason } => {
                    ("out_of_service", target, json!({ "reason": reason }))
                }
                AlarmAction::InService(t) => ("in_service", t, json!({})),
                AlarmAction::List { .. } => unreachable!("handled above"),
            };
            body["condition"] = json!(target.condition);
            body["by"] = json!(target.by.or_else(|| std::env::var("USER").ok()));
            if verb == "acknowledge" {
                body["comment"] = json!(target.comment);
            }
            if let Value::Object(m) = &mut body {
                m.retain(|_, v| !v.is_null());
            }
            let tag = encode(&target.tag);
            (
                client
                    .post(format!("{base}/alarms/{tag}/{verb}"))
                    .header("content-type", "application/json")
                    .body(body.to_string()),
                false,
            )
        }
    };
    let answer = match with_token(request).send().await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cannot reach the agent at {base}: {e}; is `edge-agent run` running with this config?");
            return ExitCode::FAILURE;
        }
    };
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    if !status.is_success() {
        eprint!("{status}: {text}");
        return ExitCode::FAILURE;
    }
    let Ok(json) = serde_json::from_str::<Value>(&text) else {
        print!("{text}");
        return ExitCode::SUCCESS;
    };
    let alarms = if listing { json["alarms"].as_array().cloned().unwrap_or_default() } else { vec![json] };
    print!("{}", table(&alarms));
    ExitCode::SUCCESS
}

/// One line per condition: tag, condition, priority, state, since, last message.
pub fn table(alarms: &[Value]) -> String {
    let mut out = String::new();
    for a in alarms {
        for c in a["conditions"].as_array().into_iter().flatten() {
            if c["state"] == "normal" && a["state"] != "normal" {
                continue;
            }
            out.push_str(&format!(
                "{:<24} {:<12} {:<7} {:<24} {}\n",
                a["tag"].as_str().unwrap_or(""),
                c["condition"].as_str().unwrap_or(""),
                c["priority"].as_str().unwrap_or(""),
                c["state"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            ));
        }
    }
    if out.is_empty() {
        out.push_str("no standing alarms\n");
    }
    out
}

/// Percent-encodes a tag name for a URL path: Chinese names and dots travel as they are meant.
fn encode(tag: &str) -> String {
    let mut s = String::new();
    for b in tag.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}
