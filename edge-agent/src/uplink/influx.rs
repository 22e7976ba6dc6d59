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
pub enum UplinkError {
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
    pub fn new(target: &InfluxTarget) -> Result<Self, UplinkError> {
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
                    .map_err(|e| UplinkError::Token(e.to_string()))?;
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
                .map_err(|source| UplinkError::CaFileRead { path: path.clone(), source })?;
            let pem_error = |reason: String| UplinkError::CaFilePem { path: path.clone(), reason };
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| pem_error(format!("not a PEM certificate bundle ({e})")))?;
            // A file without any CERTIFICATE block parses as an empty bundle: trusting nothing extra
            // would fail later with a far less helpful TLS error.
            if certs.is_empty() {
                return Err(pem_error("no PEM CERTIFICATE block in it".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(UplinkError::Client)?;

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

    /// Sends `lines` (line protocol, newline separated) as one request.
    pub async fn write(&self, lines: &[u8]) -> WriteOutcome {
        let body = if self.gzip {
            match gzip(lines) {
                Ok(b) => b,
                Err(e) => {
                    return WriteOutcome::Retry {
                        reason: format!("cannot gzip the batch for {}: {e}", self.shown_url),
                        after: None,
                    };
                }
            }
        } else {
            lines.to_vec()
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
enum ApiKind {
    V1,
    V2,
}

fn write_url(base: &str, api: &InfluxApi) -> Result<Url, UplinkError> {
    let bad = |reason: &str| UplinkError::Url { url: base.to_owned(), reason: reason.to_owned() };
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

const MESSAGE_LIMIT: usize = 1024;

/// The server's own words: `message` of InfluxDB 2's JSON, `error` of 1.x's, else the body as text; at most
/// about 1 KiB, cut on a character boundary.
fn server_message(body: &[u8]) -> String {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let from_json = json
        .as_ref()
        .and_then(|v| ["message", "error"].iter().find_map(|k| v.get(k).and_then(|m| m.as_str())));
    let text = match from_json {
        Some(m) => m.to_owned(),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    let text = text.trim();
    if text.len() <= MESSAGE_LIMIT {
        return text.to_owned();
    }
    let mut end = MESSAGE_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

struct Context<'a> {
    url: &'a str,
    api: ApiKind,
    location: Option<&'a str>,
}

/// A non-2xx answer to what to do with the batch.
fn classify(status: u16, retry_after: Option<Duration>, message: &str, cx: &Context<'_>) -> WriteOutcome {
    let said = if message.is_empty() { String::new() } else { format!(": {message}") };
    let credentials = match cx.api {
        ApiKind::V2 => "check token / token_file and that the token may write to the bucket",
        ApiKind::V1 => "check username / password and the user's WRITE grant on the database",
    };
    let reason = match status {
        200..=299 => return WriteOutcome::Accepted,
        400 | 422 => {
            return WriteOutcome::Rejected { status, message: message.to_owned() };
        }
        413 => {
            return WriteOutcome::TooLarge { message: message.to_owned() };
        }
        429 | 503 => format!("historian at {} is busy ({status}){said}", cx.url),
        401 | 403 => format!(
            "historian at {} refused the credentials ({status}){said}; {credentials}; samples are kept until then",
            cx.url
        ),
        404 => {
            let what = match cx.api {
                ApiKind::V2 => "check url, org and bucket (the bucket must exist)",
                ApiKind::V1 => "check url and db (CREATE DATABASE on the historian)",
            };
            format!(
                "historian at {} has no such write target (404){said}; {what}; samples are kept until then",
                cx.url
            )
        }
        300..=399 => format!(
            "historian at {} redirects ({status}) to {}; put the final URL in the config",
            cx.url,
            cx.location.unwrap_or("an unnamed location")
        ),
        500..=599 => format!("historian at {} failed ({status}){said}", cx.url),
        // Not a statement about the batch: likely the URL points at something else (405, 406...). Keep it.
        _ => format!(
            "historian at {} answered {status}{said}; check that url points at an InfluxDB write API",
            cx.url
        ),
    };
    WriteOutcome::Retry { reason, after: retry_after }
}

/// RFC 9110 §10.2.3: delay-seconds or an HTTP-date; a date in the past means now.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is still "a very long time"; the backoff caps it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The three HTTP-date forms a recipient must accept (RFC 9110 §5.6.7), all GMT:
/// `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`.
/// The weekday is not checked: it adds nothing the date does not say.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let cleaned = s.replace(',', " ");
    let t: Vec<&str> = cleaned.split_whitespace().collect();
    let (day, month, year, time) = match t.as_slice() {
        [_, d, m, y, hms, "GMT"] => (*d, *m, y.parse::<i64>().ok()?, *hms),
        [_, dmy, hms, "GMT"] => {
            let mut parts = dmy.split('-');
            let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || y.len() != 2 {
                return None;
            }
            // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
            let yy: i64 = y.parse().ok()?;
            (d, m, if yy < 70 { 2000 + yy } else { 1900 + yy }, *hms)
        }
        [_, m, d, hms, y] => (*d, *m, y.parse::<i64>().ok()?, *hms),
        _ => return None,
    };
    let day: i64 = day.parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == month)? as i64
        + 1;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some()
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&mi)
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    let secs = days_since_epoch(year, month, day) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days from 1970-01-01 to a proleptic Gregorian date, counting in 400-year eras that start on March 1st
/// so the leap day falls at the end of each year.
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    // 1994-11-06T08:49:37Z, the RFC's example.
    const RFC_EXAMPLE: u64 = 784_111_777;

    #[test]
    fn retry_after_forms() {
        let now = at(RFC_EXAMPLE - 90);
        let table: &[(&str, Option<u64>)] = &[
            ("7", Some(7)),
            (" 120 ", Some(120)),
            ("0", Some(0)),
            ("99999999999999999999999", Some(u64::MAX)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(90)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(90)),
            ("Sun Nov  6 08:49:37 1994", Some(90)),
            // Already past: come back now.
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("Sun, 06 Nov 1994 08:49:37 CET", None),
            ("Sun, 06 Foo 1994 08:49:37 GMT", None),
            ("Sun, 32 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 24:00:00 GMT", None),
            ("Sun, 06 Nov 1994 08:49 GMT", None),
        ];
        for (value, want) in table {
            let got = parse_retry_after(value, now);
            assert_eq!(got, want.map(Duration::from_secs), "Retry-After: {value:?}");
        }
    }

    #[test]
    fn http_dates_across_leap_years_and_centuries() {
        let table: &[(&str, u64)] = &[
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400),
            ("Wed, 01 Mar 2000 00:00:00 GMT", 951_868_800),
            ("Sun, 31 Dec 2023 23:59:59 GMT", 1_704_067_199),
            ("Thu, 01 Jan 2105 00:00:00 GMT", 4_260_211_200),
            ("Tuesday, 14-Nov-23 22:13:20 GMT", 1_700_000_000),
        ];
        for (value, want) in table {
            assert_eq!(parse_http_date(value), Some(at(*want)), "{value}");
        }
    }

    fn cx(api: ApiKind) -> Context<'static> {
        Context { url: "http://historian:8086/api/v2/write", api, location: None }
    }

    enum Want {
        Accepted,
        Retry(&'static [&'static str]),
        Rejected,
        TooLarge,
    }

    #[test]
    fn status_classification() {
        let table: &[(u16, ApiKind, Want)] = &[
            (200, ApiKind::V2, Want::Accepted),
            (204, ApiKind::V1, Want::Accepted),
            (400, ApiKind::V2, Want::Rejected),
            (422, ApiKind::V2, Want::Rejected),
            (413, ApiKind::V2, Want::TooLarge),
            (429, ApiKind::V2, Want::Retry(&["busy (429)"])),
            (503, ApiKind::V1, Want::Retry(&["busy (503)"])),
            (401, ApiKind::V2, Want::Retry(&["(401)", "token_file"])),
            (403, ApiKind::V1, Want::Retry(&["(403)", "username / password"])),
            (404, ApiKind::V2, Want::Retry(&["(404)", "bucket"])),
            (404, ApiKind::V1, Want::Retry(&["(404)", "CREATE DATABASE"])),
            (302, ApiKind::V2, Want::Retry(&["redirects (302)"])),
            (500, ApiKind::V2, Want::Retry(&["failed (500)", "the server said"])),
            (502, ApiKind::V2, Want::Retry(&["failed (502)"])),
            (405, ApiKind::V2, Want::Retry(&["answered 405", "write API"])),
        ];
        for (status, api, want) in table {
            let got = classify(*status, None, "the server said", &cx(*api));
            match (want, &got) {
                (Want::Accepted, WriteOutcome::Accepted)
                | (Want::TooLarge, WriteOutcome::TooLarge { .. }) => {}
                (Want::Rejected, WriteOutcome::Rejected { status: s, message }) => {
                    assert_eq!((s, message.as_str()), (status, "the server said"));
                }
                (Want::Retry(words), WriteOutcome::Retry { reason, after: None }) => {
                    assert!(reason.contains("http://historian:8086"), "{status}: {reason}");
                    for w in *words {
                        assert!(reason.contains(w), "{status}: {reason:?} lacks {w:?}");
                    }
                }
                _ => panic!("{status}: got {got:?}"),
            }
        }
    }

    #[test]
    fn retry_after_travels_with_retries_only() {
        let seven = Some(Duration::from_secs(7));
        for status in [429, 503, 500] {
            let got = classify(status, seven, "", &cx(ApiKind::V2));
            assert!(matches!(got, WriteOutcome::Retry { after, .. } if after == seven), "{status}: {got:?}");
        }
        let got = classify(400, seven, "bad", &cx(ApiKind::V2));
        assert!(matches!(got, WriteOutcome::Rejected { .. }));
    }

    #[test]
    fn server_message_forms() {
        let long = "é".repeat(1000);
        let table: &[(&[u8], &str)] = &[
            (br#"{"code":"invalid","message":"unable to parse 'x': bad"}"#, "unable to parse 'x': bad"),
            (br#"{"error":"database not found: \"nope\""}"#, "database not found: \"nope\""),
            (b"  plain text\n", "plain text"),
            (br#"{"code":"internal error"}"#, r#"{"code":"internal error"}"#),
            (b"", ""),
        ];
        for (body, want) in table {
            assert_eq!(server_message(body), *want);
        }
        let cut = server_message(long.as_bytes());
        assert!(cut.len() <= MESSAGE_LIMIT + 3 && cut.ends_with('…'), "{}", cut.len());
    }

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
            assert!(matches!(write_url(bad, &v2()), Err(UplinkError::Url { .. })), "{bad}");
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
            assert_eq!(matches!(err, UplinkError::CaFileRead { .. }), is_read_error, "{err}");
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
