//! `edge-agent opcua browse`: the address space of a server as a tree, and a `[[opcua.link]]` block to
//! paste into agent.toml, which `edge-agent check` accepts as printed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use drivers::opcua::browse;
use drivers::opcua::config::{Mode, Policy};
use drivers::opcua::node_id::NodeRef;
use drivers::opcua::session::{self, Identity, Secret, Target};

#[derive(Args, Debug)]
pub struct BrowseArgs {
    /// The server, `opc.tcp://host:4840`.
    #[arg(long)]
    pub endpoint: String,
    /// Where to start (default: the Objects folder), e.g. `ns=2;s=锅炉一号`.
    #[arg(long)]
    pub node: Option<String>,
    /// Levels below the start.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss.
    #[arg(long, default_value = "None")]
    pub security_policy: String,
    /// None, Sign or SignAndEncrypt.
    #[arg(long, default_value = "None")]
    pub security_mode: String,
    #[arg(long)]
    pub user: Option<String>,
    /// The environment variable holding the password of --user.
    #[arg(long)]
    pub password_env: Option<String>,
    /// The agent's data dir: its OPC UA certificate and trust list are under `opcua/pki` there.
    #[arg(long, default_value = "/var/lib/edge-agent")]
    pub data_dir: PathBuf,
    /// The link and device names of the printed block.
    #[arg(long, default_value = "opcua-1")]
    pub link: String,
    #[arg(long, default_value = "device-1")]
    pub device: String,
}

pub async fn browse_cmd(a: BrowseArgs) -> ExitCode {
    let word = |w: &str| format!("{w:?}");
    let policy: Policy = match toml::from_str::<std::collections::HashMap<String, Policy>>(&format!(
        "p = {}",
        word(&a.security_policy)
    )) {
        Ok(m) => m["p"],
        Err(_) => {
            return fail(&format!(
                "--security-policy {}: one of None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss",
                a.security_policy
            ));
        }
    };
    let mode: Mode = match toml::from_str::<std::collections::HashMap<String, Mode>>(&format!(
        "m = {}",
        word(&a.security_mode)
    )) {
        Ok(m) => m["m"],
        Err(_) => {
            return fail(&format!("--security-mode {}: one of None, Sign, SignAndEncrypt", a.security_mode));
        }
    };
    let identity = match (&a.user, &a.password_env) {
        (Some(u), Some(e)) => Identity::User { user: u.clone(), password: Secret::Env(e.clone()) },
        (None, None) => Identity::Anonymous,
        _ => return fail("--user and --password-env go together"),
    };
    let start = match &a.node {
        None => None,
        Some(text) => match NodeRef::parse(text) {
            Ok(n) => Some(n),
            Err(e) => return fail(&format!("--node: {e}")),
        },
    };
    let target = Target {
        link: a.link.clone(),
        endpoint: a.endpoint.clone(),
        policy,
        mode,
        identity,
        timeout: Duration::from_secs(5),
        pki: session::pki_dir(&a.data_dir),
    };
    let (session, task) = match session::connect_once(&target).await {
        Ok(s) => s,
        Err(e) => return fail(&format!("{}: {e}", a.endpoint)),
    };
    let start = match start {
        None => None,
        Some(n) => match session.read_namespace_array().await {
            Ok(ns) => match drivers::opcua::plan::node_id(&n, &ns) {
                Ok(id) => Some(id),
                Err(e) => return fail(&e),
            },
            Err(e) => return fail(&format!("reading the namespace array: {e}")),
        },
    };
    let entries = browse::walk(&session, start, a.depth).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), session.disconnect()).await;
    task.abort();
    match entries {
        Ok(entries) => {
            print!("{}", browse::tree(&entries));
            println!("\n# Paste into agent.toml:\n");
            print!("{}", browse::toml_block(&entries, &a.link, &a.endpoint, &a.device));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
