//! The agent's one TOML file: parsing, `${ENV}` substitution, secrets from files, and validation whose
//! every error names file:line:col and says what to do. All errors of a file are reported together:
//! each section and each `[[...]]` item is read on its own, so one bad device does not hide the next.

mod check;
pub use check::name_problem;
mod env;
#[cfg(test)]
mod fuzz_tests;
pub mod outputs;
pub mod redact;
mod summary;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drivers::registry::{DRIVERS, driver_kind};
use drivers::sections::section;
use drivers::{LinkConfig, WritableSpec};
use protocols::TagRegistry;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use drivers::diag::{ConfigErrors, Diagnostic};
pub use drivers::sections::read_secret_file;

pub use crate::uplink::UplinkConfig;

use crate::engine::EngineConfig;
use crate::engine::registry::{ENGINES, engine_kind};
/// `[agent]`: who this gateway is and where it keeps its data.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default = "default_site")]
    pub site: String,
    #[serde(default = "default_gateway")]
    pub gateway: String,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "default_ring_capacity")]
    pub ring_capacity: Spanned<usize>,
    /// More engine events than this in 10 minutes is an alarm flood: logged as a summary a minute.
    #[serde(default = "default_alarm_flood")]
    pub alarm_flood: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            site: default_site(),
            gateway: default_gateway(),
            data_dir: default_data_dir(),
            ring_capacity: default_ring_capacity(),
            alarm_flood: default_alarm_flood(),
        }
    }
}

fn default_site() -> String {
    "site".into()
}

/// The machine's host name, as an engineer would name the gateway.
pub(crate) fn default_gateway() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "gateway".into())
}

fn default_data_dir() -> PathBuf {
    "/var/lib/edge-agent".into()
}

/// ISA-18.2 §16.5: ten alarms in ten minutes per operator is a flood.
fn default_alarm_flood() -> usize {
    10
}

fn default_ring_capacity() -> Spanned<usize> {
    Spanned::new(0..0, 65_536)
}

/// `[api]`: the local HTTP listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub token_file: Option<PathBuf>,
    /// The token read from `token_file` at load time.
    pub token: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { listen: SocketAddr::from(([127, 0, 0, 1], 9100)), token_file: None, token: None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiToml {
    listen: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
}

/// Per tag: who owns it and whether it may be written.
#[derive(Debug, Clone, PartialEq)]
pub struct TagInfo {
    pub name: String,
    /// The device that acquires it, or the engine kind that derives it (`alarm`).
    pub device: String,
    pub writable: Option<WritableSpec>,
}

/// Every tag, interned in declaration order, then the derived ones.
#[derive(Debug, Clone, Default)]
pub struct TagTable {
    pub registry: TagRegistry,
    /// Indexed by tag id.
    pub info: Vec<TagInfo>,
}

/// A config that passed every check.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from, as errors and /healthz name it.
    pub origin: String,
    pub agent: AgentConfig,
    pub api: ApiConfig,
    /// Every link of every protocol, in file order.
    pub links: Vec<Arc<dyn LinkConfig>>,
    /// Every engine of every kind, in file order.
    pub engines: Vec<Arc<dyn EngineConfig>>,
    pub tags: TagTable,
    pub store: crate::store::StoreConfig,
    pub uplinks: Vec<UplinkConfig>,
    /// The file as the console shows it: as written, every secret redacted.
    pub shown: String,
}

/// The agent's own sections; protocols and engine kinds bring theirs through the registries.
const OWN_SECTIONS: &[&str] = &["agent", "api", "store", "uplink"];

fn sections() -> Vec<&'static str> {
    let mut all = OWN_SECTIONS.to_vec();
    all.extend(DRIVERS.iter().map(|k| k.section()));
    all.extend(ENGINES.iter().map(|k| k.section()));
    all
}

/// Reads, checks and resolves the file at `path`, taking `${NAME}` from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::whole_file(
            &origin,
            format!("cannot read the config: {e}; check the path given with -c"),
        )
    })?;
    parse(&text, &origin, &|name| std::env::var(name).ok())
}

/// Checks `text`, read from `origin`, with `env` answering `${NAME}`.
pub fn parse(text: &str, origin: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let mut errors = ConfigErrors::new(origin, text);
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            errors.push(e.span(), syntax_message(e.message()));
        }
        return Err(errors);
    }
    let mut root = Spanned::new(root.span(), DeValue::Table(root.into_inner()));
    env::substitute(&mut root, env, &mut errors);
    let DeValue::Table(root) = root.into_inner() else { unreachable!("the document is a table") };

    let mut agent = None;
    let mut api = None;
    let mut links = Vec::new();
    let mut engines = Vec::new();
    let mut store = None;
    let mut uplinks = Vec::new();
    for (key, value) in root {
        let name = key.get_ref().as_ref();
        match name {
            "agent" => {
                check::agent_names(&value, &mut errors);
                agent = section::<AgentConfig>(value, &mut errors)
            }
            "api" => api = section::<ApiToml>(value, &mut errors),
            "store" => {
                store =
                    section::<outputs::StoreToml>(value, &mut errors).map(|t| outputs::store(t, &mut errors))
            }
            "uplink" => uplinks = crate::uplink::parse_section(value, &mut errors),
            _ => {
                if let Some(kind) = driver_kind(name) {
                    links.extend(kind.parse(value, &mut errors));
                } else if let Some(kind) = engine_kind(name) {
                    engines.extend(kind.parse(value, &mut errors));
                } else {
                    errors.push(
                        Some(key.span()),
                        format!("unknown section `{name}`; expected one of {}", sections().join(", ")),
                    );
                }
            }
        }
    }
    let agent = agent.unwrap_or_default();
    check::agent(&agent, &mut errors);
    let api = api.map(|a| check::api(a, &mut errors)).unwrap_or_default();
    let tags = check::plant(&links, &engines, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Config {
        origin: origin.to_owned(),
        agent,
        api,
        links,
        engines,
        tags,
        store: store.unwrap_or_default(),
        uplinks,
        shown: redact::redact(text),
    })
}

/// toml's syntax messages, with the hint an engineer needs most often.
fn syntax_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    format!("{first} (TOML syntax)")
}
