//! `${NAME}` in any string value takes the environment variable NAME; `$${` writes a literal `${`.
//! Done on the parsed tree, so every error still points at its string.

use std::borrow::Cow;

use toml::Spanned;
use toml::de::DeValue;

use super::ConfigErrors;

/// Replaces `${NAME}` in every string below `value`.
pub fn substitute(
    value: &mut Spanned<DeValue<'_>>,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut ConfigErrors,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) if s.contains('$') => match expand(s, env) {
            Ok(expanded) => *s = Cow::Owned(expanded),
            Err(message) => errors.push(Some(span), message),
        },
        DeValue::Array(items) => items.iter_mut().for_each(|v| substitute(v, env, errors)),
        DeValue::Table(table) => table.iter_mut().for_each(|(_, v)| substitute(v, env, errors)),
        _ => {}
    }
}

fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err("`${` without a closing `}`; write `${NAME}`, or `$${` for a literal `${`".into());
            };
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`${{{name}}}` is not a variable name; use letters, digits and `_`, or `$${{` for a literal `${{`"
                ));
            }
            match env(name) {
                Some(value) => out.push_str(&value),
                None => {
                    return Err(format!(
                        "environment variable {name} is not set; export it for the agent (systemd: \
                         Environment= or EnvironmentFile=), or write the value here"
                    ));
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "INFLUX_TOKEN" => Some("t0k".into()),
            "SITE" => Some("plant-a".into()),
            _ => None,
        }
    }

    #[test]
    fn expansion_table() {
        let cases = [
            ("${INFLUX_TOKEN}", "t0k"),
            ("Bearer ${INFLUX_TOKEN}!", "Bearer t0k!"),
            ("${SITE}-${SITE}", "plant-a-plant-a"),
            ("$${SITE}", "${SITE}"),
            ("costs $5", "costs $5"),
            ("no vars", "no vars"),
        ];
        for (text, want) in cases {
            assert_eq!(expand(text, &env).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn mistakes_say_what_to_do() {
        assert!(expand("${NOPE}", &env).unwrap_err().contains("environment variable NOPE is not set"));
        assert!(expand("${SITE", &env).unwrap_err().contains("without a closing"));
        assert!(expand("${A B}", &env).unwrap_err().contains("not a variable name"));
    }
}
