//! Checks that need the whole file: names unique, references resolved, limits sane. Each error points
//! at the value it is about and says what to change.

use std::collections::HashMap;
use std::net::SocketAddr;

use drivers::WritableSpec;
use drivers::modbus::ModbusLinkConfig;
use drivers::sim::SimDeviceConfig;
use toml::Spanned;

use super::{AgentConfig, ApiConfig, ApiToml, ConfigErrors, TagInfo, TagTable, read_secret_file};
use crate::engine::alarm::AlarmConfig;

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

/// A device of any driver, as the plant check sees it: its name, its own problems, its tags.
pub struct Declared<'a> {
    pub name: &'a Spanned<String>,
    pub problems: Vec<(std::ops::Range<usize>, String)>,
    pub tags: Vec<(&'a Spanned<String>, Option<WritableSpec>)>,
}

impl<'a> Declared<'a> {
    pub fn sim(d: &'a SimDeviceConfig) -> Self {
        let tags = d
            .tags
            .iter()
            .map(|t| {
                (
                    &t.name,
                    t.writable.as_ref().map(|w| WritableSpec { min: w.get_ref().min, max: w.get_ref().max }),
                )
            })
            .collect();
        Declared { name: &d.name, problems: d.problems(), tags }
    }

    /// The devices of a Modbus link; the link's problems go with its first device.
    pub fn modbus(link: &'a ModbusLinkConfig) -> Vec<Self> {
        let mut problems = link.problems();
        if link.devices.is_empty() {
            problems.push((
                link.name.span(),
                format!("modbus link {}: declare its devices as [[modbus.link.device]]", link.name.get_ref()),
            ));
            return vec![Declared { name: &link.name, problems, tags: Vec::new() }];
        }
        link.devices
            .iter()
            .map(|d| {
                let tags = d
                    .tags
                    .iter()
                    .map(|t| {
                        (
                            &t.name,
                            t.writable
                                .as_ref()
                                .map(|w| WritableSpec { min: w.get_ref().min, max: w.get_ref().max }),
                        )
                    })
                    .collect();
                Declared { name: &d.name, problems: std::mem::take(&mut problems), tags }
            })
            .collect()
    }
}

/// Checks devices and engines together and interns every tag: declared ones in order, then derived ones.
/// With `complete` false (some device could not be read), unknown-tag errors are left out: they would
/// only echo the error already reported.
pub fn plant(
    devices: &[Declared<'_>],
    alarms: &[AlarmConfig],
    complete: bool,
    errors: &mut ConfigErrors,
) -> TagTable {
    let mut table = TagTable::default();
    // Where each name was first declared, to point at it from a duplicate.
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut device_seen: HashMap<&str, usize> = HashMap::new();

    for device in devices {
        let name = device.name.get_ref().as_str();
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
        for (span, message) in &device.problems {
            errors.push(Some(span.clone()), message.clone());
        }
        for (tag, writable) in &device.tags {
            let tag_name = tag.get_ref();
            if let Some(&at) = first_seen.get(tag_name) {
                let (line, _) = errors.line_col(at);
                errors.push(
                    Some(tag.span()),
                    format!("tag {tag_name:?} is already declared at line {line}; tag names are unique across all devices"),
                );
                continue;
            }
            first_seen.insert(tag_name.clone(), tag.span().start);
            table.registry.intern(tag_name);
            table.info.push(TagInfo { name: tag_name.clone(), device: name.to_owned(), writable: *writable });
        }
    }

    let declared: Vec<String> = table.info.iter().map(|t| t.name.clone()).collect();
    for alarm in alarms {
        let tag = alarm.tag.get_ref();
        if complete && table.registry.id(tag).is_none() {
            let hint = closest(tag, &declared)
                .map(|c| format!("did you mean {c:?}?"))
                .unwrap_or_else(|| "declare it under a device's `tags`".into());
            errors.push(
                Some(alarm.tag.span()),
                format!("alarm on tag {tag:?}, which no device declares; {hint}"),
            );
        }
        if let Err(message) = alarm.check() {
            errors.push(Some(alarm.tag.span()), message);
        }
        let state = alarm.state_tag();
        if let Some(&at) = first_seen.get(&state) {
            let (line, _) = errors.line_col(at);
            errors.push(
                Some(alarm.tag.span()),
                format!(
                    "this alarm's state tag {state:?} is already a tag (line {line}); rename that tag or use one alarm per tag"
                ),
            );
            continue;
        }
        first_seen.insert(state.clone(), alarm.tag.span().start);
        table.registry.intern(&state);
        table.info.push(TagInfo { name: state, device: "alarm".into(), writable: None });
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
