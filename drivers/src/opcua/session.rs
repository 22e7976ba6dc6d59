//! Opening a session: the agent's own certificate in a PKI directory under the data dir (made on first
//! run), the server's certificate checked against `trusted/` before anything is sent, the identity the
//! agent logs on with, and async-opcua's session with its event loop.
//!
//! A server certificate not yet trusted is refused, as OPC UA Part 2 §8 asks of a client, and written
//! to `rejected/` under its file name, so the message can say which file to move where.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use opcua::client::{Client, ClientBuilder, IdentityToken, Password, Session, SessionEventLoop};
use opcua::crypto::{CertificateStore, SecurityPolicy, X509};
use opcua::types::{EndpointDescription, MessageSecurityMode};

use super::config::{Mode, OpcuaLinkConfig, Policy};

/// `<data_dir>/opcua/pki`: `own/cert.der`, `private/private.pem`, `trusted/`, `rejected/`.
pub fn pki_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("opcua").join("pki")
}

/// The identity as configured, secrets still where they live (read on each connect, so a rotated
/// password file is picked up).
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    Anonymous,
    User { user: String, password: Secret },
    Certificate { cert: PathBuf, key: PathBuf },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    Env(String),
    File(PathBuf),
}

/// What one link needs to connect, from its config.
#[derive(Debug, Clone)]
pub struct Target {
    pub link: String,
    pub endpoint: String,
    pub policy: Policy,
    pub mode: Mode,
    pub identity: Identity,
    pub timeout: Duration,
    pub pki: PathBuf,
}

impl Target {
    pub fn new(cfg: &OpcuaLinkConfig, data_dir: &Path) -> Target {
        let identity = match (&cfg.user, &cfg.password_env, &cfg.password_file, &cfg.user_cert, &cfg.user_key)
        {
            (Some(u), Some(e), _, _, _) => {
                Identity::User { user: u.get_ref().clone(), password: Secret::Env(e.get_ref().clone()) }
            }
            (Some(u), None, Some(f), _, _) => {
                Identity::User { user: u.get_ref().clone(), password: Secret::File(f.get_ref().into()) }
            }
            (_, _, _, Some(c), Some(k)) => {
                Identity::Certificate { cert: c.get_ref().into(), key: k.get_ref().into() }
            }
            _ => Identity::Anonymous,
        };
        Target {
            link: cfg.name.get_ref().clone(),
            endpoint: cfg.endpoint.get_ref().clone(),
            policy: cfg.policy(),
            mode: cfg.mode(),
            identity,
            timeout: cfg.timeout.get(),
            pki: pki_dir(data_dir),
        }
    }
}

/// Why a connect attempt failed: a refused certificate needs a person, the rest are retried.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectError {
    Untrusted { rejected: PathBuf, trusted: PathBuf },
    Setup(String),
    Link(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Untrusted { rejected, trusted } => write!(
                f,
                "the server's certificate is not trusted; if it is the right server, move {} to {} \
                 (the agent retries by itself)",
                rejected.display(),
                trusted.display()
            ),
            ConnectError::Setup(m) | ConnectError::Link(m) => f.write_str(m),
        }
    }
}

/// Array elements one message may carry: a publish of every item of a large device at once.
const MAX_ITEMS_PER_MESSAGE: usize = 100_000;

/// The agent's client, with its own certificate created in the PKI directory on first use.
pub fn client(t: &Target) -> Result<Client, ConnectError> {
    std::fs::create_dir_all(&t.pki).map_err(|e| {
        ConnectError::Setup(format!("cannot create the PKI directory {}: {e}", t.pki.display()))
    })?;
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let host = if host.is_empty() { "localhost".to_owned() } else { host };
    ClientBuilder::new()
        .application_name("edge-agent")
        .application_uri(format!("urn:{host}:edge-agent"))
        .product_uri("urn:edge-agent")
        .pki_dir(&t.pki)
        .create_sample_keypair(true)
        .trust_server_certs(false)
        .verify_server_certs(true)
        // The driver reconnects by itself with its own backoff and rebuilds its subscriptions: the
        // crate is told never to retry, so a lost session surfaces at once.
        .session_retry_limit(0)
        .request_timeout(t.timeout)
        .keep_alive_interval(Duration::from_secs(5).min(t.timeout))
        .max_failed_keep_alive_count(2)
        .publish_timeout(t.timeout.max(Duration::from_secs(10)))
        .session_timeout(60_000)
        // The crate's defaults (1000 array elements, 320 kB messages) refuse a publish of more than
        // 1000 changes, so a subscription of 10 000 items dropped the session at its first publish.
        .max_array_length(MAX_ITEMS_PER_MESSAGE)
        .max_chunk_count(256)
        .max_message_size(65_535 * 256)
        .client()
        .map_err(|e| ConnectError::Setup(format!("OPC UA client settings: {}", e.join("; "))))
}

/// By variant, not by name: the crate's names for the Aes policies (`Aes128-Sha256-RsaOaep`) are not the
/// URIs' (`Aes128_Sha256_RsaOaep`), and an unknown name makes `to_uri` panic.
fn security_policy(p: Policy) -> SecurityPolicy {
    match p {
        Policy::None => SecurityPolicy::None,
        Policy::Basic256Sha256 => SecurityPolicy::Basic256Sha256,
        Policy::Aes128Sha256RsaOaep => SecurityPolicy::Aes128Sha256RsaOaep,
        Policy::Aes256Sha256RsaPss => SecurityPolicy::Aes256Sha256RsaPss,
        Policy::Basic128Rsa15 => SecurityPolicy::Basic128Rsa15,
        Policy::Basic256 => SecurityPolicy::Basic256,
    }
}

fn security_mode(m: Mode) -> MessageSecurityMode {
    match m {
        Mode::None => MessageSecurityMode::None,
        Mode::Sign => MessageSecurityMode::Sign,
        Mode::SignAndEncrypt => MessageSecurityMode::SignAndEncrypt,
    }
}

/// Finds the endpoint asked for among the server's, checks its certificate, and opens the session (the
/// returned event loop must be polled for it to connect).
pub async fn open(
    client: &mut Client,
    t: &Target,
) -> Result<(Arc<Session>, SessionEventLoop<opcua::client::transport::TcpConnector>), ConnectError> {
    let endpoints =
        tokio::time::timeout(t.timeout, client.get_server_endpoints_from_url(t.endpoint.as_str()))
            .await
            .map_err(|_| {
                ConnectError::Link(format!(
                    "{}: no answer to GetEndpoints within {:?}",
                    t.endpoint, t.timeout
                ))
            })?
            .map_err(|e| ConnectError::Link(format!("{}: GetEndpoints: {e}", t.endpoint)))?;
    let policy_uri = security_policy(t.policy).to_uri();
    let mode = security_mode(t.mode);
    let offered: Vec<String> = endpoints
        .iter()
        .map(|e| {
            format!(
                "{}/{:?}",
                e.security_policy_uri.as_ref().rsplit('#').next().unwrap_or(""),
                e.security_mode
            )
        })
        .collect();
    let mut endpoint: EndpointDescription = endpoints
        .into_iter()
        .find(|e| e.security_policy_uri.as_ref() == policy_uri && e.security_mode == mode)
        .ok_or_else(|| {
            ConnectError::Setup(format!(
                "{} offers no endpoint with security_policy {:?} and security_mode {:?}; it offers: {}",
                t.endpoint,
                t.policy.uri_name(),
                t.mode,
                offered.join(", ")
            ))
        })?;
    if t.policy != Policy::None {
        check_trusted(&endpoint, &t.pki)?;
    }
    // Servers often advertise a host name the agent cannot resolve: keep the address it was given.
    endpoint.endpoint_url = t.endpoint.as_str().into();
    let identity = identity(&t.identity)?;
    client
        .connect_to_endpoint_directly(endpoint, identity)
        .map_err(|e| ConnectError::Setup(format!("{}: {e}", t.endpoint)))
}

fn check_trusted(endpoint: &EndpointDescription, pki: &Path) -> Result<(), ConnectError> {
    let der = endpoint.server_certificate.value.as_deref().unwrap_or_default();
    let cert = X509::from_der(der)
        .map_err(|e| ConnectError::Setup(format!("the server sent no readable certificate: {e}")))?;
    let name = CertificateStore::cert_file_name(&cert);
    let trusted = pki.join("trusted").join(&name);
    if trusted.exists() {
        return Ok(());
    }
    let rejected_dir = pki.join("rejected");
    let rejected = rejected_dir.join(&name);
    std::fs::create_dir_all(&rejected_dir)
        .and_then(|()| std::fs::write(&rejected, der))
        .map_err(|e| ConnectError::Setup(format!("cannot write {}: {e}", rejected.display())))?;
    Err(ConnectError::Untrusted { rejected, trusted })
}

/// A refused session said with what to do: a log-on refused, with what the agent logged on as and
/// where that came from; the agent's certificate refused, with the file the server must trust.
pub fn explain_refusal(why: String, t: &Target) -> String {
    const REFUSALS: [&str; 3] =
        ["BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid"];
    // Servers refuse an unknown client certificate with either: async-opcua says the first, servers
    // that keep why a check failed to themselves the second.
    const CERT_REFUSALS: [&str; 2] = ["BadCertificateUntrusted", "BadSecurityChecksFailed"];
    if t.policy != Policy::None && CERT_REFUSALS.iter().any(|r| why.contains(r)) {
        return format!(
            "{why}: the server does not trust the agent's certificate; trust {} on the server (often: move \
             it from the server's rejected folder to its trusted folder); the agent retries by itself",
            t.pki.join("own").join("cert.der").display()
        );
    }
    if !REFUSALS.iter().any(|r| why.contains(r)) {
        return why;
    }
    let who = match &t.identity {
        Identity::Anonymous => {
            "anonymously; set `user` and a password, or `user_cert` and `user_key`".to_owned()
        }
        Identity::User { user, password: Secret::Env(var) } => {
            format!("as user {user:?} with the password in ${var}; check both")
        }
        Identity::User { user, password: Secret::File(f) } => {
            format!("as user {user:?} with the password in {}; check both", f.display())
        }
        Identity::Certificate { cert, .. } => {
            format!("with the certificate {}; the server must trust it", cert.display())
        }
    };
    format!("{why}: the server refused the log-on {who} (read again on every attempt)")
}

fn identity(id: &Identity) -> Result<IdentityToken, ConnectError> {
    Ok(match id {
        Identity::Anonymous => IdentityToken::Anonymous,
        Identity::User { user, password } => {
            let pw = match password {
                Secret::Env(var) => std::env::var(var).map_err(|_| {
                    ConnectError::Setup(format!("environment variable {var} (password_env) is not set"))
                })?,
                Secret::File(path) => std::fs::read_to_string(path)
                    .map_err(|e| ConnectError::Setup(format!("password_file {}: {e}", path.display())))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            };
            IdentityToken::UserName(user.clone(), Password::new(pw))
        }
        Identity::Certificate { cert, key } => {
            let c = CertificateStore::read_cert(cert)
                .map_err(|e| ConnectError::Setup(format!("user_cert {}: {e}", cert.display())))?;
            let k = CertificateStore::read_pkey(key)
                .map_err(|e| ConnectError::Setup(format!("user_key {}: {e}", key.display())))?;
            IdentityToken::X509(Box::new(c), Box::new(k))
        }
    })
}

/// A session for a one-off tool (`edge-agent opcua browse`): connected, its event loop running on a
/// task that ends when the returned handle is aborted or the session closes.
pub async fn connect_once(t: &Target) -> Result<(Arc<Session>, tokio::task::JoinHandle<()>), ConnectError> {
    let target = t.clone();
    let mut client = tokio::task::spawn_blocking(move || client(&target))
        .await
        .map_err(|e| ConnectError::Setup(format!("making the client: {e}")))??;
    let (session, event_loop) = open(&mut client, t).await?;
    let task = tokio::spawn(async move {
        let _ = event_loop.run().await;
    });
    match tokio::time::timeout(t.timeout * 2, session.wait_for_connection()).await {
        Ok(true) => Ok((session, task)),
        _ => {
            task.abort();
            Err(ConnectError::Link(format!("{}: no session within {:?}", t.endpoint, t.timeout * 2)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(policy: Policy, identity: Identity) -> Target {
        Target {
            link: "锅炉房".into(),
            endpoint: "opc.tcp://10.0.0.7:4840".into(),
            policy,
            mode: if policy == Policy::None { Mode::None } else { Mode::SignAndEncrypt },
            identity,
            timeout: Duration::from_secs(2),
            pki: PathBuf::from("/var/lib/edge-agent/opcua/pki"),
        }
    }

    #[test]
    fn a_refusal_says_what_to_fix_and_other_failures_pass_unchanged() {
        let user = Identity::User { user: "司炉工".into(), password: Secret::Env("OPCUA_PW".into()) };
        let table = [
            (
                Policy::Basic256Sha256,
                Identity::Anonymous,
                "session ended (BadCertificateUntrusted)",
                "trust /var/lib/edge-agent/opcua/pki/own/cert.der",
            ),
            (
                Policy::Basic256Sha256,
                Identity::Anonymous,
                "BadSecurityChecksFailed",
                "does not trust the agent's certificate; trust /var/lib/edge-agent/opcua/pki/own/cert.der on",
            ),
            (
                Policy::Basic256Sha256,
                user.clone(),
                "BadUserAccessDenied",
                "as user \"司炉工\" with the password in $OPCUA_PW",
            ),
            (Policy::None, Identity::Anonymous, "BadIdentityTokenRejected", "refused the log-on anonymously"),
        ];
        for (policy, id, why, want) in table {
            let said = explain_refusal(why.into(), &target(policy, id));
            assert!(said.starts_with(why) && said.contains(want), "{why}: {said}");
        }
        // No certificate goes to a server without security: nothing to trust, nothing added.
        let t = target(Policy::None, Identity::Anonymous);
        assert_eq!(explain_refusal("BadSecurityChecksFailed".into(), &t), "BadSecurityChecksFailed");
        assert_eq!(explain_refusal("BadTimeout".into(), &target(Policy::Basic256Sha256, user)), "BadTimeout");
    }
}
