//! The agent's one TOML file (interim loader, replaced by the full diagnostics module).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use drivers::WritableSpec;
use drivers::sim::SimDeviceConfig;
use protocols::TagRegistry;
use serde::Deserialize;

use crate::engine::alarm::AlarmConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default = "default_site")]
    pub site: String,
    #[serde(default = "default_gateway")]
    pub gateway: String,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "default_ring")]
    pub ring_capacity: usize,
}

fn default_site() -> String {
    "site".into()
}
fn default_gateway() -> String {
    "gateway".into()
}
fn default_data_dir() -> PathBuf {
    "/var/lib/edge-agent".into()
}
fn default_ring() -> usize {
    65536
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    pub token_file: Option<PathBuf>,
    #[serde(skip)]
    pub token: Option<String>,
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:9100".parse().unwrap()
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SimSection {
    #[serde(default)]
    device: Vec<SimDeviceConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    agent: Option<AgentConfig>,
    api: Option<ApiConfig>,
    #[serde(default)]
    sim: SimSection,
    #[serde(default)]
    alarm: Vec<AlarmConfig>,
}

#[derive(Debug, Clone)]
pub struct TagInfo {
    pub name: String,
    pub device: String,
    pub writable: Option<WritableSpec>,
}

#[derive(Debug, Clone, Default)]
pub struct TagTable {
    pub registry: TagRegistry,
    pub info: Vec<TagInfo>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub origin: String,
    pub agent: AgentConfig,
    pub api: ApiConfig,
    pub sim_devices: Vec<SimDeviceConfig>,
    pub alarms: Vec<AlarmConfig>,
    pub tags: TagTable,
}

#[derive(Debug)]
pub struct ConfigErrors(Vec<String>);

impl ConfigErrors {
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "error: {e}")?;
        }
        let n = self.0.len();
        writeln!(f, "{n} error{}; nothing was changed", if n == 1 { "" } else { "s" })
    }
}

pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors(vec![format!("{}: cannot read: {e}", path.display())]))?;
    parse(&text, &path.display().to_string(), &|k| std::env::var(k).ok())
}

pub fn parse(
    text: &str,
    origin: &str,
    _env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigErrors(vec![format!("{origin}: {e}")]))?;
    let mut errors = Vec::new();
    let mut tags = TagTable::default();
    for d in &raw.sim.device {
        if let Err(e) = d.check() {
            errors.push(format!("{origin}: {e}"));
        }
        for t in &d.tags {
            let name = t.name.get_ref();
            if tags.registry.id(name).is_some() {
                errors.push(format!("{origin}: duplicate tag {name}"));
                continue;
            }
            tags.registry.intern(name);
            tags.info.push(TagInfo {
                name: name.clone(),
                device: d.name.get_ref().clone(),
                writable: t
                    .writable
                    .as_ref()
                    .map(|w| WritableSpec { min: w.get_ref().min, max: w.get_ref().max }),
            });
        }
    }
    for a in &raw.alarm {
        if let Err(e) = a.check() {
            errors.push(format!("{origin}: {e}"));
        }
        if tags.registry.id(a.tag.get_ref()).is_none() {
            errors.push(format!("{origin}: alarm on unknown tag {}", a.tag.get_ref()));
        }
        let state = a.state_tag();
        tags.registry.intern(&state);
        tags.info.push(TagInfo { name: state, device: "alarm".into(), writable: None });
    }
    let mut api = raw.api.unwrap_or(ApiConfig { listen: default_listen(), token_file: None, token: None });
    if let Some(f) = &api.token_file {
        match std::fs::read_to_string(f) {
            Ok(t) => api.token = Some(t.trim().to_owned()),
            Err(e) => errors.push(format!("{origin}: api.token_file {}: {e}", f.display())),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Config {
        origin: origin.to_owned(),
        agent: raw.agent.unwrap_or(AgentConfig {
            site: default_site(),
            gateway: default_gateway(),
            data_dir: default_data_dir(),
            ring_capacity: default_ring(),
        }),
        api,
        sim_devices: raw.sim.device,
        alarms: raw.alarm,
        tags,
    })
}

impl Config {
    pub fn summary(&self) -> String {
        format!("{} devices, {} tags\n", self.sim_devices.len(), self.tags.registry.len())
    }
}
