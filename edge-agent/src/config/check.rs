//! Checks that need the whole file: names unique, references resolved, limits sane. Each error points
//! at the value it is about and says what to change.

use std::collections::HashMap;
use std::net::SocketAddr;

use std::sync::Arc;

use drivers::LinkConfig;
use toml::Spanned;
use toml::de::DeValue;

use super::{AgentConfig, ApiConfig, ApiToml, ConfigErrors, TagInfo, TagTable, read_secret_file};
use crate::engine::EngineConfig;

const RING_MIN: usize = 1 << 10;
const RING_MAX: usize = 1 << 24;

pub fn agent(agent: &AgentConfig, errors: &mut ConfigErrors) {
    let cap = *agent.ring_capacity.get_ref();
    if !(RING_MIN..=RING_MAX).contains(&cap) || !cap.is_power_of_two() {
        errors.push(
            Some(agent.ring_capacity.span()),
            format!(
                "ring_capacity {cap} must be a power of two from {RING_MIN} to {RING_MAX}; \
                 e.g. 65536 (2 MiB of samples)"
            ),
        );
    }
}

/// Why `name` cannot name a site, gateway, device or tag, if it cannot: every name is exported on one
/// line (line protocol, topics, platform frames), where a line break or an escape at the end breaks it.
pub fn name_problem(what: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("{what} is empty; give it a name"));
    }
    if let Some(at) = name.chars().position(char::is_control) {
        return Some(format!(
            "{what} {name:?} has a control character (a line break or tab) at character {}; names are written on one line",
            at + 1
        ));
    }
    if name.ends_with('\\') {
        return Some(format!(
            "{what} {name:?} ends with a backslash, which would escape what follows it when exported; drop it"
        ));
    }
    None
}

/// Site and gateway names, checked on the raw table where their places are known.
pub fn agent_names(value: &Spanned<DeValue<'_>>, errors: &mut ConfigErrors) {
    let DeValue::Table(table) = value.get_ref() else { return };
    for (key, v) in table.iter() {
        let key = key.get_ref().as_ref();
        if let ("site" | "gateway", DeValue::String(name)) = (key, v.get_ref())
            && let Some(why) = name_problem(key, name)
        {
            errors.push(Some(v.span()), why);
        }
    }
}

pub fn api(raw: ApiToml, errors: &mut ConfigErrors) -> ApiConfig {
    let mut api = ApiConfig::default();
    if let Some(listen) = raw.listen {
        match listen.get_ref().parse::<SocketAddr>() {
            Ok(addr) => api.listen = addr,
            Err(_) => errors.push(
                Some(listen.span()),
                format!(
                    "listen {:?} is not an address and port; write e.g. \"127.0.0.1:9100\"",
                    listen.get_ref()
                ),
            ),
        }
    }
    if let Some(file) = raw.token_file {
        api.token = read_secret_file("api.token_file", &file, errors);
        api.token_file = Some(file.into_inner().into());
    }
    api
}

/// Checks links and engines together and interns every tag: declared ones in order, then derived ones.
/// A reference to a name written in an item that could not be read is not reported: it would only echo
/// that item's own error.
pub fn plant(
    links: &[Arc<dyn LinkConfig>],
    engines: &[Arc<dyn EngineConfig>],
    errors: &mut ConfigErrors,
) -> TagTable {
    let mut table = TagTable::default();
    // Where each name was first declared, to point at it from a duplicate.
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut device_seen: HashMap<&str, usize> = HashMap::new();

    for link in links {
        for (span, message) in link.problems() {
            errors.push(Some(span), message);
        }
        for device in link.devices() {
            let name = device.name.get_ref().as_str();
            let problem = name_problem("device name", name).or_else(|| {
                // A line starting with `#` is a comment in line protocol: the device names the measurement.
                name.starts_with('#').then(|| format!("device name {name:?} starts with `#`, which would read as a comment when exported; drop the `#`"))
            });
            if let Some(why) = problem {
                errors.push(Some(device.name.span()), why);
            }
            if let Some(&at) = device_seen.get(name) {
                let (line, _) = errors.line_col(at);
                errors.push(
                    Some(device.name.span()),
                    format!(
                        "device {name:?} is declared twice (first at line {line}); device names must be unique"
                    ),
                );
            } else {
                device_seen.insert(name, device.name.span().start);
            }
            for tag in &device.tags {
                let tag_name = tag.name.get_ref();
                if let Some(why) = name_problem("tag name", tag_name) {
                    errors.push(Some(tag.name.span()), why);
                }
                if let Some(&at) = first_seen.get(tag_name) {
                    let (line, _) = errors.line_col(at);
                    errors.push(
                        Some(tag.name.span()),
                        format!("tag {tag_name:?} is already declared at line {line}; tag names are unique across all devices"),
                    );
                    continue;
                }
                first_seen.insert(tag_name.clone(), tag.name.span().start);
                table.registry.intern(tag_name);
                table.info.push(TagInfo {
                    name: tag_name.clone(),
                    device: name.to_owned(),
                    writable: tag.writable,
                });
            }
        }
    }

    // Derived tags first, so an engine may read what another derives.
    for engine in engines {
        for (span, message) in engine.problems() {
            errors.push(Some(span), message);
        }
        for derived in engine.derives() {
            if let Some(&at) = first_seen.get(&derived.name) {
                let (line, _) = errors.line_col(at);
                errors.push(
                    Some(derived.at.clone()),
                    format!(
                        "{}: its derived tag {:?} is already a tag (line {line}); rename that tag, or derive it once",
                        engine.name(),
                        derived.name
                    ),
                );
                continue;
            }
            first_seen.insert(derived.name.clone(), derived.at.start);
            table.registry.intern(&derived.name);
            table.info.push(TagInfo { name: derived.name, device: engine.kind().to_owned(), writable: None });
        }
    }

    let known: Vec<String> = table.info.iter().map(|t| t.name.clone()).collect();
    for engine in engines {
        for r in engine.reads() {
            let tag = r.tag.get_ref();
            if table.registry.id(tag).is_none() && !errors.is_unreadable(tag) {
                let hint = closest(tag, &known)
                    .map(|c| format!("did you mean {c:?}?"))
                    .unwrap_or_else(|| "declare it under a device's `tags`".into());
                errors.push(
                    Some(r.tag.span()),
                    format!("{} tag {tag:?}, which no device declares; {hint}", r.role),
                );
            }
        }
        for w in engine.writes() {
            let tag = w.tag.get_ref();
            match table.registry.id(tag).map(|id| table.info[id.0 as usize].writable) {
                Some(Some(_)) => {}
                Some(None) => errors.push(
                    Some(w.tag.span()),
                    format!(
                        "{} tag {tag:?}, which is not writable; add `writable = {{ min = .., max = .. }}` to its tag",
                        w.role
                    ),
                ),
                None if !errors.is_unreadable(tag) => {
                    errors.push(Some(w.tag.span()), format!("{} tag {tag:?}, which no device declares", w.role))
                }
                None => {}
            }
        }
    }
    table
}

/// The declared name nearest to a mistyped one, if it is near enough to be a typo.
fn closest<'a>(wrong: &str, names: &'a [String]) -> Option<&'a str> {
    let limit = (wrong.chars().count() / 3).max(2);
    names
        .iter()
        .map(|n| (edit_distance(wrong, n), n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_tag() {
        let names = vec!["kiln.temp".to_owned(), "kiln.fuel_valve".to_owned(), "incomer.kw".to_owned()];
        assert_eq!(closest("kiln.tmp", &names), Some("kiln.temp"));
        assert_eq!(closest("incomer.kW", &names), Some("incomer.kw"));
        assert_eq!(closest("boiler.pressure", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
