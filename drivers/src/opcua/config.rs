//! `[[opcua.link]]`: one OPC UA session (an endpoint, its security and the identity the agent logs on
//! with) and the devices read over it, each a subscription or a polled group of tags:
//!
//! ```toml
//! [[opcua.link]]
//! name = "锅炉房"
//! endpoint = "opc.tcp://10.0.0.7:4840"
//! security_policy = "Basic256Sha256"
//! security_mode = "SignAndEncrypt"
//! user = "edge"
//! password_env = "OPCUA_PASSWORD"
//! [[opcua.link.device]]
//! name = "锅炉一号"
//! publishing_interval = "500ms"
//! tags = [
//!   { name = "锅炉一号.温度", node = "ns=2;s=锅炉一号.温度", sampling = "250ms", deadband = { absolute = 0.5 } },
//!   { name = "锅炉一号.给水阀", node = "ns=2;i=1001", writable = { min = 0, max = 100 } },
//!   { name = "锅炉一号.炉膛温度.0", node = "ns=2;s=炉膛温度", index = 0 },
//! ]
//! ```

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::node_id::NodeRef;
use crate::sections::Problem;
use crate::units::Span;
use crate::write::WritableConfig;

/// The security policies async-opcua implements (OPC UA Part 7), by their names in the URIs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Policy {
    #[default]
    None,
    Basic256Sha256,
    #[serde(rename = "Aes128_Sha256_RsaOaep")]
    Aes128Sha256RsaOaep,
    #[serde(rename = "Aes256_Sha256_RsaPss")]
    Aes256Sha256RsaPss,
    /// Deprecated by the OPC Foundation (SHA-1); for old servers only.
    Basic128Rsa15,
    /// Deprecated by the OPC Foundation (SHA-1); for old servers only.
    Basic256,
}

impl Policy {
    /// The name async-opcua and the endpoint URIs use.
    pub fn uri_name(self) -> &'static str {
        match self {
            Policy::None => "None",
            Policy::Basic256Sha256 => "Basic256Sha256",
            Policy::Aes128Sha256RsaOaep => "Aes128_Sha256_RsaOaep",
            Policy::Aes256Sha256RsaPss => "Aes256_Sha256_RsaPss",
            Policy::Basic128Rsa15 => "Basic128Rsa15",
            Policy::Basic256 => "Basic256",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Mode {
    #[default]
    None,
    Sign,
    SignAndEncrypt,
}

/// Which of a value's timestamps the sample carries; the next one is used when a server leaves it out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stamp {
    /// When the device measured it (SourceTimestamp), else the server's, else the arrival.
    #[default]
    Source,
    /// When the server last saw it (ServerTimestamp), else the arrival.
    Server,
    /// When the agent received it.
    Agent,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcuaLinkConfig {
    pub name: Spanned<String>,
    /// `opc.tcp://host:port[/path]`.
    pub endpoint: Spanned<String>,
    pub security_policy: Option<Spanned<Policy>>,
    pub security_mode: Option<Spanned<Mode>>,
    /// User name for a user/password identity; the password comes from `password_env` or `password_file`.
    pub user: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    /// X.509 user identity: a DER or PEM certificate and its private key.
    pub user_cert: Option<Spanned<String>>,
    pub user_key: Option<Spanned<String>>,
    /// For one request (read, write, create), and the reconnect backoff's first delay.
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// The longest wait between reconnect attempts.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max: Span,
    #[serde(rename = "device", default)]
    pub devices: Vec<OpcuaDeviceConfig>,
}

fn default_timeout() -> Span {
    Span::secs(5)
}

fn default_reconnect_max() -> Span {
    Span::secs(30)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcuaDeviceConfig {
    pub name: Spanned<String>,
    /// The subscription's publishing interval (default 1 s).
    pub publishing_interval: Option<Spanned<Span>>,
    /// Polled reads at this period instead of a subscription, for servers whose subscriptions misbehave.
    pub poll: Option<Spanned<Span>>,
    /// How long an item the server refused (a node that went away) waits before it is asked for again.
    #[serde(default = "default_retry")]
    pub retry: Span,
    #[serde(default)]
    pub timestamp: Stamp,
    #[serde(default)]
    pub tags: Vec<OpcuaTagConfig>,
}

fn default_retry() -> Span {
    Span::secs(10)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcuaTagConfig {
    pub name: Spanned<String>,
    pub node: Spanned<String>,
    /// One element of an array value (0-based); several tags may read elements of one node.
    pub index: Option<u32>,
    /// The server samples the value this often (default: the publishing interval).
    pub sampling: Option<Span>,
    /// Values the server keeps between publishes (default 1: only the latest).
    pub queue: Option<Spanned<u32>>,
    pub deadband: Option<Spanned<DeadbandConfig>>,
    pub writable: Option<Spanned<WritableConfig>>,
}

/// `deadband = { absolute = 0.5 }` or `{ percent = 2 }` (of the node's EURange, Part 8 §6.2).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeadbandConfig {
    pub absolute: Option<f64>,
    pub percent: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Deadband {
    Absolute(f64),
    Percent(f64),
}

const DEFAULT_PUBLISHING: Duration = Duration::from_secs(1);

impl OpcuaDeviceConfig {
    pub fn publishing_interval(&self) -> Duration {
        self.publishing_interval.as_ref().map_or(DEFAULT_PUBLISHING, |s| s.get_ref().get())
    }

    pub fn poll_period(&self) -> Option<Duration> {
        self.poll.as_ref().map(|p| p.get_ref().get())
    }
}

impl OpcuaTagConfig {
    /// The node id; [`OpcuaLinkConfig::problems`] has reported a bad one.
    pub fn node_ref(&self) -> Result<NodeRef, String> {
        NodeRef::parse(self.node.get_ref())
    }

    pub fn deadband(&self) -> Option<Deadband> {
        let d = self.deadband.as_ref()?.get_ref();
        match (d.absolute, d.percent) {
            (Some(a), None) => Some(Deadband::Absolute(a)),
            (None, Some(p)) => Some(Deadband::Percent(p)),
            _ => None,
        }
    }
}

impl OpcuaLinkConfig {
    pub fn policy(&self) -> Policy {
        self.security_policy.as_ref().map_or(Policy::None, |p| *p.get_ref())
    }

    pub fn mode(&self) -> Mode {
        self.security_mode.as_ref().map_or(Mode::None, |m| *m.get_ref())
    }

    pub fn problems(&self) -> Vec<Problem> {
        let mut out: Vec<Problem> = Vec::new();
        let link = self.name.get_ref();
        let at = |s: Range<usize>, m: String| (s, m);
        let endpoint = self.endpoint.get_ref();
        if !endpoint.starts_with("opc.tcp://") || endpoint.len() <= "opc.tcp://".len() {
            out.push(at(
                self.endpoint.span(),
                format!("opcua link {link}: endpoint {endpoint:?} is not an OPC UA TCP URL; write it as \"opc.tcp://host:4840\""),
            ));
        }
        let (policy, mode) = (self.policy(), self.mode());
        if (policy == Policy::None) != (mode == Mode::None) {
            let spans = [
                &self.security_mode.as_ref().map(|s| s.span()),
                &self.security_policy.as_ref().map(|s| s.span()),
            ];
            let span = spans.into_iter().flatten().next().cloned().unwrap_or(self.endpoint.span());
            out.push(at(
                span,
                format!(
                    "opcua link {link}: security_policy {policy:?} with security_mode {mode:?}; both are \"None\", \
                     or a policy such as \"Basic256Sha256\" goes with \"Sign\" or \"SignAndEncrypt\""
                ),
            ));
        }
        match (&self.user, &self.password_env, &self.password_file) {
            (Some(u), None, None) => out.push(at(
                u.span(),
                format!("opcua link {link}: user {:?} needs its password: `password_env = \"VAR\"` or `password_file = \"/path\"`", u.get_ref()),
            )),
            (Some(_), Some(e), Some(_)) => out.push(at(
                e.span(),
                format!("opcua link {link}: the password comes from `password_env` or `password_file`, not both"),
            )),
            (None, Some(p), _) | (None, None, Some(p)) => out.push(at(
                p.span(),
                format!("opcua link {link}: a password needs its `user = \"..\"`"),
            )),
            _ => {}
        }
        match (&self.user_cert, &self.user_key) {
            (Some(c), None) => out.push(at(c.span(), format!("opcua link {link}: user_cert needs its private key as `user_key = \"/path\"`"))),
            (None, Some(k)) => out.push(at(k.span(), format!("opcua link {link}: user_key needs its certificate as `user_cert = \"/path\"`"))),
            (Some(c), Some(_)) if self.user.is_some() => out.push(at(
                c.span(),
                format!("opcua link {link}: one identity per link: `user` and a password, or `user_cert` and `user_key`"),
            )),
            _ => {}
        }
        if self.timeout.get().is_zero() {
            out.push(at(self.name.span(), format!("opcua link {link}: timeout must be above 0")));
        }
        if self.devices.is_empty() {
            out.push(at(
                self.name.span(),
                format!("opcua link {link}: declare its devices as [[opcua.link.device]]"),
            ));
        }
        for d in &self.devices {
            device_problems(d, &mut out);
        }
        out
    }
}

fn device_problems(d: &OpcuaDeviceConfig, out: &mut Vec<Problem>) {
    let device = d.name.get_ref();
    if let (Some(_), Some(p)) = (&d.publishing_interval, &d.poll) {
        out.push((p.span(), format!("device {device}: `poll` reads instead of a subscription, so it takes no `publishing_interval`; keep one of them")));
    }
    for s in [&d.publishing_interval, &d.poll].into_iter().flatten() {
        if s.get_ref().get().is_zero() {
            out.push((s.span(), format!("device {device}: a period must be above 0, e.g. \"500ms\"")));
        }
    }
    if d.tags.is_empty() {
        out.push((
            d.name.span(),
            format!("device {device}: add its tags: `tags = [ {{ name = \"..\", node = \"ns=2;s=..\" }} ]`"),
        ));
    }
    for t in &d.tags {
        let tag = t.name.get_ref();
        if let Err(e) = t.node_ref() {
            out.push((t.node.span(), format!("device {device} / tag {tag}: {e}")));
        }
        if let Some(q) = &t.queue {
            if *q.get_ref() == 0 {
                out.push((
                    q.span(),
                    format!(
                        "device {device} / tag {tag}: queue is at least 1 (1 keeps only the latest value)"
                    ),
                ));
            }
        }
        if let Some(db) = &t.deadband {
            let v = db.get_ref();
            let why = match (v.absolute, v.percent) {
                (Some(_), Some(_)) | (None, None) => {
                    Some("write one of `{ absolute = 0.5 }` or `{ percent = 2 }`".to_owned())
                }
                (Some(a), None) if !(a >= 0.0 && a.is_finite()) => {
                    Some(format!("absolute deadband {a} must be 0 or more"))
                }
                (None, Some(p)) if !(0.0..=100.0).contains(&p) => {
                    Some(format!("percent deadband {p} is outside 0..=100"))
                }
                _ if d.poll.is_some() => Some(
                    "a deadband is the server's filter on a subscription; a polled device reads every value"
                        .to_owned(),
                ),
                _ => None,
            };
            if let Some(why) = why {
                out.push((db.span(), format!("device {device} / tag {tag}: {why}")));
            }
        }
    }
}
