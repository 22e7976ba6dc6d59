//! The MQTT connection settings every MQTT component shares (the ingest driver's `[[mqtt.broker]]` and
//! the MQTT uplinks): the broker's URL, MQTT 3.1.1 or 5, TLS with server verification and client
//! certificates, credentials from `${ENV}` or a file, keep-alive, sessions, the reconnect pace. Read
//! once here ([`LinkToml`], [`LINK_KEYS`]), resolved into [`LinkSettings`]; [`super::session`] runs it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::diag::ConfigErrors;
use crate::sections::read_secret_file;
use crate::units::Span;

/// The keys of a table that are the connection's, whoever owns the table.
pub const LINK_KEYS: &[&str] = &[
    "url",
    "protocol",
    "client_id",
    "username",
    "password",
    "password_file",
    "ca_file",
    "cert_file",
    "key_file",
    "keep_alive",
    "clean_session",
    "session_expiry",
    "reconnect_max",
];

/// The connection keys as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkToml {
    /// `mqtt://host:1883` or `mqtts://host:8883`.
    pub url: Spanned<String>,
    /// `"3.1.1"` (default) or `"5"`.
    pub protocol: Option<Spanned<String>>,
    pub client_id: Option<Spanned<String>>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<Spanned<String>>,
    /// Extra roots (a plant CA, PEM), trusted besides the system's.
    pub ca_file: Option<Spanned<String>>,
    /// The client certificate (PEM chain) and its key, for brokers that require them.
    pub cert_file: Option<Spanned<String>>,
    pub key_file: Option<Spanned<String>>,
    pub keep_alive: Option<Spanned<Span>>,
    pub clean_session: Option<bool>,
    /// MQTT 5: how long the broker keeps a persistent session after the link drops.
    pub session_expiry: Option<Span>,
    pub reconnect_max: Option<Spanned<Span>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V311,
    V5,
}

/// TLS material, read and checked when the config is loaded.
#[derive(Clone)]
pub struct TlsSettings {
    pub ca_file: Option<PathBuf>,
    pub client: Option<(PathBuf, PathBuf)>,
    /// Built once: roots, client certificate, the ring provider.
    pub config: Arc<rustls::ClientConfig>,
}

/// The same files make the same TLS setup (a reload compares configs).
impl PartialEq for TlsSettings {
    fn eq(&self, other: &Self) -> bool {
        self.ca_file == other.ca_file && self.client == other.client
    }
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings").field("ca_file", &self.ca_file).field("client", &self.client).finish()
    }
}

/// A resolved connection. `Debug` redacts the password.
#[derive(Clone, PartialEq)]
pub struct LinkSettings {
    pub host: String,
    pub port: u16,
    pub protocol: Protocol,
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    pub tls: Option<TlsSettings>,
    pub keep_alive: Duration,
    pub clean_session: bool,
    pub session_expiry: Option<Duration>,
    pub reconnect_max: Duration,
}

impl std::fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSettings")
            .field("broker", &self.broker())
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("password_hash", &self.credentials.as_ref().map(|(_, p)| fingerprint(p)))
            .field("tls", &self.tls)
            .field("keep_alive", &self.keep_alive)
            .field("clean_session", &self.clean_session)
            .field("session_expiry", &self.session_expiry)
            .field("reconnect_max", &self.reconnect_max)
            .finish()
    }
}

/// A changed password must still make a reload see a changed config, without showing it.
fn fingerprint(secret: &str) -> u64 {
    secret.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

impl LinkSettings {
    /// `mqtt://host:port` or `mqtts://...`, for logs: no credentials.
    pub fn broker(&self) -> String {
        let scheme = if self.tls.is_some() { "mqtts" } else { "mqtt" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Reads the connection keys; `default_client_id` when none is written. Every mistake goes to
/// `errors` at its key; `None` once there was one.
pub fn resolve(t: LinkToml, default_client_id: &str, errors: &mut ConfigErrors) -> Option<LinkSettings> {
    let before = errors.len();
    let (tls, host, port) = match parse_url(t.url.get_ref()) {
        Ok(parts) => parts,
        Err(why) => {
            errors.push(Some(t.url.span()), why);
            (false, String::new(), 0)
        }
    };
    let protocol = match t.protocol.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
        None | Some(("3.1.1", _)) => Protocol::V311,
        Some(("5", _)) => Protocol::V5,
        Some((other, at)) => {
            errors.push(Some(at), format!("protocol \"{other}\": write \"3.1.1\" or \"5\""));
            Protocol::V311
        }
    };
    let password = match (t.password, &t.password_file) {
        (Some(p), None) => Some(p),
        (None, Some(f)) => read_secret_file("password_file", f, errors),
        (None, None) => None,
        (Some(_), Some(f)) => {
            errors.push(Some(f.span()), "give `password` or `password_file`, not both");
            None
        }
    };
    let credentials = match (t.username, password) {
        (Some(u), p) => Some((u, p.unwrap_or_default())),
        (None, Some(_)) => {
            errors.push(Some(t.url.span()), "a password needs its `username`");
            None
        }
        (None, None) => None,
    };
    let client_id = t.client_id.map_or_else(|| default_client_id.to_owned(), Spanned::into_inner);
    let tls = if tls {
        tls_settings(&t.ca_file, &t.cert_file, &t.key_file, errors)
    } else {
        if let Some(f) = t.ca_file.iter().chain(&t.cert_file).chain(&t.key_file).next() {
            errors.push(Some(f.span()), "TLS files need an `mqtts://` url");
        }
        None
    };
    let keep_alive = t.keep_alive.map_or(Duration::from_secs(30), |k| {
        if k.get_ref().get() < Duration::from_secs(1) && !k.get_ref().get().is_zero() {
            errors.push(Some(k.span()), "keep_alive: at least \"1s\" (or \"0s\" for none)");
        }
        k.get_ref().get()
    });
    let reconnect_max = t.reconnect_max.map_or(Duration::from_secs(30), |r| {
        let d = r.get_ref().get();
        if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&d) {
            errors.push(Some(r.span()), "reconnect_max: between \"1s\" and \"10m\"");
        }
        d
    });
    (errors.len() == before).then(|| LinkSettings {
        host,
        port,
        protocol,
        client_id,
        credentials,
        tls,
        keep_alive,
        clean_session: t.clean_session.unwrap_or(true),
        session_expiry: t.session_expiry.map(Span::get),
        reconnect_max,
    })
}

/// `(tls, host, port)` of `mqtt://host[:port]` or `mqtts://host[:port]` (1883 and 8883 by default).
pub fn parse_url(url: &str) -> Result<(bool, String, u16), String> {
    const HINT: &str = "write the broker as \"mqtt://host:1883\" or \"mqtts://host:8883\"";
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        return Err(format!("url \"{url}\": {HINT}"));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| format!("url \"{url}\": port {p:?} is not a number; {HINT}"))?)
        }
        _ => (rest, if tls { 8883 } else { 1883 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', '?']) {
        return Err(format!("url \"{url}\": {HINT} (credentials go in `username` and `password`)"));
    }
    Ok((tls, host.to_owned(), port))
}

fn tls_settings(
    ca: &Option<Spanned<String>>,
    cert: &Option<Spanned<String>>,
    key: &Option<Spanned<String>>,
    errors: &mut ConfigErrors,
) -> Option<TlsSettings> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    // The system's roots, then the plant's CA: a broker with a public certificate needs no ca_file.
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    let certs_of = |f: &Spanned<String>, errors: &mut ConfigErrors| -> Option<Vec<CertificateDer<'static>>> {
        let found: Result<Vec<_>, _> = match CertificateDer::pem_file_iter(f.get_ref()) {
            Ok(iter) => iter.collect(),
            Err(e) => Err(e),
        };
        match found {
            Ok(c) if !c.is_empty() => Some(c),
            Ok(_) => {
                errors.push(Some(f.span()), format!("{:?} holds no PEM CERTIFICATE block", f.get_ref()));
                None
            }
            Err(e) => {
                errors.push(
                    Some(f.span()),
                    format!("{:?} cannot be read as PEM certificates: {e}", f.get_ref()),
                );
                None
            }
        }
    };
    if let Some(f) = ca {
        for c in certs_of(f, errors)? {
            if let Err(e) = roots.add(c) {
                errors.push(Some(f.span()), format!("{:?}: not a CA certificate ({e})", f.get_ref()));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots);
    let (config, client) = match (cert, key) {
        (Some(c), Some(k)) => {
            let chain = certs_of(c, errors)?;
            let key = match PrivateKeyDer::from_pem_file(k.get_ref()) {
                Ok(key) => key,
                Err(e) => {
                    errors.push(Some(k.span()), format!("{:?} holds no PEM private key: {e}", k.get_ref()));
                    return None;
                }
            };
            match builder.with_client_auth_cert(chain, key) {
                Ok(cfg) => (cfg, Some((PathBuf::from(c.get_ref()), PathBuf::from(k.get_ref())))),
                Err(e) => {
                    errors
                        .push(Some(k.span()), format!("client certificate and key do not go together: {e}"));
                    return None;
                }
            }
        }
        (Some(f), None) | (None, Some(f)) => {
            errors.push(Some(f.span()), "a client certificate needs both `cert_file` and `key_file`");
            return None;
        }
        (None, None) => (builder.with_no_client_auth(), None),
    };
    Some(TlsSettings { ca_file: ca.as_ref().map(|c| c.get_ref().into()), client, config: Arc::new(config) })
}
