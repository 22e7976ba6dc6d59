//! A historian's non-2xx answer, turned into what to do with the batch, in words an engineer can act on.

use std::time::Duration;

use super::client::{ApiKind, WriteOutcome};

const MESSAGE_LIMIT: usize = 1024;

/// The server's own words: `message` of InfluxDB 2's JSON, `error` of 1.x's, else the body as text; at most
/// about 1 KiB, cut on a character boundary.
pub(super) fn server_message(body: &[u8]) -> String {
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

pub(super) struct Context<'a> {
    pub url: &'a str,
    pub api: ApiKind,
    pub location: Option<&'a str>,
}

/// A non-2xx answer to what to do with the batch.
pub(super) fn classify(
    status: u16,
    retry_after: Option<Duration>,
    message: &str,
    cx: &Context<'_>,
) -> WriteOutcome {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
