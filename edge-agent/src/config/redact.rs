//! The config file as the console shows it: the engineer's own layout and comments, with every secret
//! taken out. Secrets are found by key name in the parsed TOML tree (`password`, `token`, `api_key`,
//! a whole `auth = {..}` table), so a value is redacted wherever it sits; userinfo in any URL
//! (`mqtt://user:pw@host`) and comments that mention a secret word (a commented-out `# token = ".."`)
//! go too. Works on the text before `${NAME}` substitution, so a secret from the environment never
//! reaches it at all.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub const REDACTED: &str = "\"[redacted]\"";
const REDACTED_COMMENT: &str = "# [redacted: this comment names a secret]";

/// Key words that make a key (or the comment naming it) secret; matched against the key's words.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "secret",
    "token",
    "key",
    "apikey",
    "psk",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "cookie",
    "signature",
    "private",
    "keys",
    "passwords",
    "tokens",
    "secrets",
];

/// Is a key with this name a secret? `influx_token`, `apiKey`, `tls.key_file` and `password` are.
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_lowercase();
    let joined: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    ["password", "passwd", "secret", "token", "apikey", "accesskey", "privatekey"]
        .iter()
        .any(|w| joined.contains(w))
        || split_words(key).iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
}

/// `apiKey` and `api_key` both give `api`, `key`: camelCase humps and `_ - .` separate words.
fn split_words(key: &str) -> Vec<String> {
    let mut words = vec![String::new()];
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            words.push(String::new());
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            words.push(String::new());
        }
        prev_lower = c.is_lowercase();
        words.last_mut().expect("never empty").extend(c.to_lowercase());
    }
    words.retain(|w| !w.is_empty());
    words
}

/// `text` with secrets replaced by `"[redacted]"`. A file that does not parse is not shown at all
/// (the running config always parsed; this is only for safety).
pub fn redact(text: &str) -> String {
    let Ok(root) = DeTable::parse(text) else {
        return "# the config could not be parsed for display; nothing is shown\n".to_owned();
    };
    let mut found = Found::default();
    walk_table(root.get_ref(), false, &mut found);
    let mut cuts: Vec<(Range<usize>, String)> =
        found.secrets.into_iter().map(|r| (r, REDACTED.to_owned())).collect();
    for span in &found.strings {
        if let Some(userinfo) = url_userinfo(&text[span.clone()]) {
            let at = span.start + userinfo.start..span.start + userinfo.end;
            if !cuts.iter().any(|(c, _)| c.start <= at.start && at.end <= c.end) {
                cuts.push((at, "[redacted]".to_owned()));
            }
        }
    }
    for comment in comments(text, &found.strings) {
        let words = split_words(&text[comment.clone()]);
        if words.iter().any(|w| SECRET_WORDS.contains(&w.as_str())) || is_secret_key(&text[comment.clone()]) {
            cuts.push((comment, REDACTED_COMMENT.to_owned()));
        }
    }
    cuts.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, with) in cuts {
        if range.start < at {
            continue; // inside a cut already made (a secret table's leaves)
        }
        out.push_str(&text[at..range.start]);
        out.push_str(&with);
        at = range.end;
    }
    out.push_str(&text[at..]);
    // Kept for the console as long as the config runs: a replacement longer than its secret doubled it.
    out.shrink_to_fit();
    out
}

#[derive(Default)]
struct Found {
    /// Spans of values to replace.
    secrets: Vec<Range<usize>>,
    /// Spans of every string and key, where a `#` is not a comment.
    strings: Vec<Range<usize>>,
}

fn walk_table(table: &DeTable<'_>, secret: bool, found: &mut Found) {
    for (key, value) in table {
        found.strings.push(key.span());
        walk_value(value, secret || is_secret_key(key.get_ref()), found);
    }
}

fn walk_value(value: &Spanned<DeValue<'_>>, secret: bool, found: &mut Found) {
    match value.get_ref() {
        // A secret table or array has its leaves redacted one by one: a header table's span does not
        // cover its keys, so replacing the span would miss them.
        DeValue::Table(t) => walk_table(t, secret, found),
        DeValue::Array(items) => items.iter().for_each(|v| walk_value(v, secret, found)),
        other => {
            if matches!(other, DeValue::String(_)) {
                found.strings.push(value.span());
            }
            if secret {
                found.secrets.push(value.span());
            }
        }
    }
}

/// The `user:password` of `scheme://user:password@host`, as a range within `s`.
fn url_userinfo(s: &str) -> Option<Range<usize>> {
    let start = s.find("://")? + 3;
    let rest = &s[start..];
    let end_of_authority = rest.find(['/', '?', '#', '"', '\'']).unwrap_or(rest.len());
    let at = rest[..end_of_authority].rfind('@')?;
    (at > 0).then_some(start..start + at)
}

/// Every comment's range (from `#` to the end of its line), skipping `#` inside strings and keys.
fn comments(text: &str, strings: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut strings: Vec<&Range<usize>> = strings.iter().collect();
    strings.sort_by_key(|r| r.start);
    let mut out = Vec::new();
    let mut next_string = 0;
    let mut pos = 0;
    while let Some(off) = text[pos..].find('#') {
        let hash = pos + off;
        while next_string < strings.len() && strings[next_string].end <= hash {
            next_string += 1;
        }
        if let Some(s) = strings.get(next_string).filter(|s| s.start <= hash) {
            pos = s.end;
            continue;
        }
        let end = text[hash..].find('\n').map_or(text.len(), |n| hash + n);
        let end = if text[..end].ends_with('\r') { end - 1 } else { end };
        out.push(hash..end);
        pos = end;
    }
    out
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
