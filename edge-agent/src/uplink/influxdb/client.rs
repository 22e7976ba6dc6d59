//! The historian write client: line protocol over HTTP to InfluxDB (v2 or 1.x API) or anything that speaks
//! it (VictoriaMetrics, Telegraf's listener).
//!
//! One call, one batch, one [`WriteOutcome`]. The client never drops data on its own: every answer that a
//! person or time can fix is a [`WriteOutcome::Retry`], and only a batch the historian calls malformed is
//! [`WriteOutcome::Rejected`] (the caller quarantines it) or [`WriteOutcome::TooLarge`] (the caller splits it).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::Url;
use reqwest::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER,
};

use super::answer::{Context, classify, server_message};
use super::retry_after::parse_retry_after;

/// Where the samples go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfluxTarget {
    /// Base URL, e.g. `http://127.0.0.1:8086`; a path prefix (a reverse proxy's) is kept.
    pub url: String,
    pub api: InfluxApi,
    pub gzip: bool,
    /// For the whole request: connect, send, and the answer.
    pub timeout: Duration,
    /// A PEM file of extra roots (a plant CA), trusted besides the system's.
    pub ca_file: Option<PathBuf>,
}

#[derive(Clone, PartialEq, Eq)]
pub enum InfluxApi {
    V2 { org: String, bucket: String, token: String },
    V1 { db: String, rp: Option<String>, username: Option<String>, password: Option<String> },
}

// By hand, so a token or password never reaches a log line.
impl std::fmt::Debug for InfluxApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V2 { org, bucket, .. } => f
                .debug_struct("V2")
                .field("org", org)
                .field("bucket", bucket)
                .field("token", &"<redacted>")
                .finish(),
            Self::V1 { db, rp, username, .. } => f
                .debug_struct("V1")
                .field("db", db)
                .field("rp", rp)
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// Why a client could not be built: all configuration mistakes, found before the first write.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("historian url `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("historian token: {0} (it must be printable ASCII)")]
    Token(String),
    #[error("historian ca_file {path}: {source}")]
    CaFileRead { path: PathBuf, source: std::io::Error },
    #[error("historian ca_file {path}: {reason}")]
    CaFilePem { path: PathBuf, reason: String },
    #[error("historian HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// What became of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored (2xx).
    Accepted,
    /// Not stored, keep the batch and send it again; `after` is the server's Retry-After, if it gave one.
    Retry { reason: String, after: Option<Duration> },
    /// The historian calls the batch malformed (400, 422): sending it again cannot help.
    Rejected { status: u16, message: String },
    /// Over the historian's body limit (413): split the batch and send the halves.
    TooLarge { message: String },
}

pub struct InfluxClient {
    http: reqwest::Client,
    write_url: Url,
    /// The URL as it may appear in a log: no credentials, no query.
    shown_url: String,
    headers: HeaderMap,
    basic_auth: Option<(String, Option<String>)>,
    gzip: bool,
    timeout: Duration,
    api: ApiKind,
}

impl InfluxClient {
    pub fn new(target: &InfluxTarget) -> Result<Self, ClientError> {
        let write_url = write_url(&target.url, &target.api)?;
        let mut shown = write_url.clone();
        // Infallible for http(s) URLs, which `write_url` has checked.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.set_query(None);

        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        if target.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let mut basic_auth = None;
        let api = match &target.api {
            InfluxApi::V2 { token, .. } => {
                let mut value = HeaderValue::from_str(&format!("Token {token}"))
                    .map_err(|e| ClientError::Token(e.to_string()))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
                ApiKind::V2
            }
            InfluxApi::V1 { username, password, .. } => {
                basic_auth = username.clone().map(|u| (u, password.clone()));
                ApiKind::V1
            }
        };

        // reqwest is built without a crypto provider; ring is the one this crate links. Err only means a
        // provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(target.timeout)
            .connect_timeout(target.timeout)
            // A redirected POST may come back as a GET whose 200 would read as "stored".
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &target.ca_file {
            let pem = std::fs::read(path)
                .map_err(|source| ClientError::CaFileRead { path: path.clone(), source })?;
            let pem_error = |reason: String| ClientError::CaFilePem { path: path.clone(), reason };
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| pem_error(format!("not a PEM certificate bundle ({e})")))?;
            // A file without any CERTIFICATE block parses as an empty bundle: trusting nothing extra
            // would fail later with a far less helpful TLS error.
            if certs.is_empty() {
                return Err(pem_error("no PEM CERTIFICATE block in it".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(ClientError::Client)?;

        Ok(Self {
            http,
            write_url,
            shown_url: shown.to_string(),
            headers,
            basic_auth,
            gzip: target.gzip,
            timeout: target.timeout,
            api,
        })
    }

    /// The full write URL, query included (no secrets: those travel in headers).
    pub fn write_url(&self) -> &Url {
        &self.write_url
    }

    /// The write URL as a log may show it: no credentials, no query.
    pub fn shown_url(&self) -> &str {
        &self.shown_url
    }

    /// Sends `lines` (line protocol, newline separated) as one request.
    pub async fn write(&self, lines: &[u8]) -> WriteOutcome {
        self.write_owned(lines.to_vec()).await
    }

    /// [`Self::write`] of a body built for it, which an uncompressed request sends without a copy.
    pub async fn write_owned(&self, lines: Vec<u8>) -> WriteOutcome {
        let body = if self.gzip {
            match gzip(&lines) {
                Ok(b) => b,
                Err(e) => {
                    return WriteOutcome::Retry {
                        reason: format!("cannot gzip the batch for {}: {e}", self.shown_url),
                        after: None,
                    };
                }
            }
        } else {
            lines
        };
        let mut request = self.http.post(self.write_url.clone()).headers(self.headers.clone()).body(body);
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, password.as_ref());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return self.transport_failure(&e),
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            return WriteOutcome::Accepted;
        }
        let headers = response.headers();
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let location = headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        // An unreadable body still leaves the status to act on.
        let body = response.bytes().await.unwrap_or_default();
        let cx = Context { url: &self.shown_url, api: self.api, location: location.as_deref() };
        classify(status, retry_after, &server_message(&body), &cx)
    }

    fn transport_failure(&self, e: &reqwest::Error) -> WriteOutcome {
        let reason = if e.is_timeout() {
            format!("no answer from historian at {} within {:?}", self.shown_url, self.timeout)
        } else if e.is_connect() {
            format!("cannot connect to historian at {}: {}", self.shown_url, error_chain(e))
        } else {
            format!("write to historian at {} failed: {}", self.shown_url, error_chain(e))
        };
        WriteOutcome::Retry { reason, after: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ApiKind {
    V1,
    V2,
}

fn write_url(base: &str, api: &InfluxApi) -> Result<Url, ClientError> {
    let bad = |reason: &str| ClientError::Url { url: base.to_owned(), reason: reason.to_owned() };
    let mut url = Url::parse(base).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("give the base URL only; org, bucket and db have their own settings"));
    }
    let path: &[&str] = match api {
        InfluxApi::V2 { .. } => &["api", "v2", "write"],
        InfluxApi::V1 { .. } => &["write"],
    };
    url.path_segments_mut().map_err(|()| bad("not a base URL"))?.pop_if_empty().extend(path);
    {
        let mut q = url.query_pairs_mut();
        match api {
            InfluxApi::V2 { org, bucket, .. } => {
                q.append_pair("org", org).append_pair("bucket", bucket);
            }
            InfluxApi::V1 { db, rp, .. } => {
                q.append_pair("db", db);
                if let Some(rp) = rp {
                    q.append_pair("rp", rp);
                }
            }
        }
        q.append_pair("precision", "ns");
    }
    Ok(url)
}

fn gzip(lines: &[u8]) -> std::io::Result<Vec<u8>> {
    // Fast level: on a gateway CPU is scarcer than uplink bandwidth, and line protocol shrinks ~10x anyway.
    let mut enc = GzEncoder::new(Vec::with_capacity(lines.len() / 4 + 64), Compression::fast());
    enc.write_all(lines)?;
    enc.finish()
}

/// `error sending request: client error (Connect): tcp connect error: Connection refused`: the top message
/// alone ("error sending request") does not say what to fix.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // hyper and reqwest repeat their inner error in their own message.
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2() -> InfluxApi {
        InfluxApi::V2 { org: "plant & co".into(), bucket: "line/1".into(), token: "s3cr3t".into() }
    }

    #[test]
    fn write_urls() {
        let v1 =
            InfluxApi::V1 { db: "scada".into(), rp: Some("one year".into()), username: None, password: None };
        let table: &[(&str, &InfluxApi, &str)] = &[
            (
                "http://127.0.0.1:8086",
                &v2(),
                "http://127.0.0.1:8086/api/v2/write?org=plant+%26+co&bucket=line%2F1&precision=ns",
            ),
            (
                "https://proxy.example/influx/",
                &v1,
                "https://proxy.example/influx/write?db=scada&rp=one+year&precision=ns",
            ),
        ];
        for (base, api, want) in table {
            assert_eq!(write_url(base, api).unwrap().as_str(), *want);
        }
        for bad in ["127.0.0.1:8086", "ftp://h/", "http://h/?org=x", "not a url"] {
            assert!(matches!(write_url(bad, &v2()), Err(ClientError::Url { .. })), "{bad}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_and_shown_url() {
        let target = InfluxTarget {
            url: "http://user:pw@127.0.0.1:8086".into(),
            api: v2(),
            gzip: false,
            timeout: Duration::from_secs(1),
            ca_file: None,
        };
        let debug = format!("{target:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        let client = InfluxClient::new(&target).unwrap();
        assert_eq!(client.shown_url, "http://127.0.0.1:8086/api/v2/write");
    }

    #[test]
    fn ca_file_problems_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        for (path, is_read_error) in [(dir.path().join("missing.pem"), true), (not_pem, false)] {
            let target = InfluxTarget {
                url: "https://127.0.0.1:8086".into(),
                api: v2(),
                gzip: true,
                timeout: Duration::from_secs(1),
                ca_file: Some(path.clone()),
            };
            let err = InfluxClient::new(&target).err().expect("a bad ca_file must fail");
            assert_eq!(matches!(err, ClientError::CaFileRead { .. }), is_read_error, "{err}");
            assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
        }
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read as _;
        let lines = b"pump1,tag=flow value=1.5 1700000000000000000\n".repeat(100);
        let packed = gzip(&lines).unwrap();
        assert!(packed.len() < lines.len() / 10);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, lines);
    }
}
