//! `[[mqtt.broker]]`: one broker connection (the keys of [`super::link`]) and its subscriptions, each a
//! topic template whose `{device}` level is filled from a list of devices, so one entry declares the
//! same tags for every boiler of a hall:
//!
//! ```toml
//! [[mqtt.broker]]
//! name = "plant-broker"
//! url = "mqtt://10.0.0.9:1883"
//! [[mqtt.broker.subscription]]
//! topic = "plant/{device}/telemetry"
//! devices = ["锅炉一号", "锅炉二号"]
//! timestamp = "/ts"
//! tags = [{ name = "{device}.温度", pointer = "/temp" }]
//! ```

use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;
use toml::de::DeValue;

use super::link::{self, LINK_KEYS, LinkSettings, LinkToml};
use crate::diag::ConfigErrors;
use crate::sections::{each, section, split_keys, take_list};
use crate::units::Span;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrokerToml {
    name: Spanned<String>,
    stale: Option<Span>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionToml {
    topic: Option<Spanned<String>>,
    #[serde(default)]
    format: Format,
    device: Option<Spanned<String>>,
    devices: Option<Vec<Spanned<String>>>,
    group: Option<Spanned<String>>,
    node: Option<Spanned<String>>,
    qos: Option<Spanned<u8>>,
    timestamp: Option<Spanned<String>>,
    #[serde(default)]
    timestamp_unit: TimeUnit,
    stale: Option<Span>,
    tags: Vec<TagToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagToml {
    name: Spanned<String>,
    pointer: Option<Spanned<String>>,
    metric: Option<Spanned<String>>,
    #[serde(rename = "type", default)]
    kind: Kind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
    /// Sparkplug B DDATA/NDATA of another edge node, by the metric names of its births.
    Sparkplug,
}

/// What a JSON value becomes. Numbers are floats unless `int` is asked for, so a value that is
/// sometimes whole does not change its series' type in the historian.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Float,
    Int,
    Bool,
    Text,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    S,
    #[default]
    Ms,
    Us,
    Ns,
}

impl TimeUnit {
    pub fn nanos(self) -> i64 {
        match self {
            TimeUnit::S => 1_000_000_000,
            TimeUnit::Ms => 1_000_000,
            TimeUnit::Us => 1_000,
            TimeUnit::Ns => 1,
        }
    }
}

/// One level of a topic template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Literal(String),
    /// `{device}`: the device's name.
    Device,
    Plus,
    Hash,
}

/// Where a tag's value is in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Pointer(String, Kind),
    Metric(String),
}

/// A device as one subscription sees it: its name and its tags with their fields.
#[derive(Debug, Clone, PartialEq)]
pub struct SubDevice {
    pub name: Spanned<String>,
    pub tags: Vec<(Spanned<String>, Field)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// What is subscribed: the template with `{device}` as `+`.
    pub filter: String,
    pub levels: Vec<Level>,
    pub format: Format,
    pub qos: u8,
    /// JSON pointer of the timestamp and its unit; none: the time of arrival.
    pub timestamp: Option<(String, i64)>,
    pub stale: Duration,
    pub devices: Vec<SubDevice>,
    /// Sparkplug: whether the devices are the node's devices (DDATA) or the node itself (NDATA).
    pub node_level: bool,
}

/// `[[mqtt.broker]]`, checked: the factory of its driver.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttBrokerConfig {
    pub name: Spanned<String>,
    pub link: LinkSettings,
    pub subscriptions: Vec<Subscription>,
    /// Every device of every subscription once, in config order, with all its tags.
    pub devices: Vec<(Spanned<String>, Vec<Spanned<String>>)>,
}

/// A device goes down when nothing arrived for it within this long.
const DEFAULT_STALE: Duration = Duration::from_secs(60);

/// One `[[mqtt.broker]]` entry; its mistakes go to `errors`, each at its place.
pub fn parse_broker(item: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Option<MqttBrokerConfig> {
    let (link, mut own) = split_keys(item, LINK_KEYS, errors)?;
    let before = errors.len();
    // Each subscription read on its own: a mistake in one still lets the others be checked.
    let listed = take_list(&mut own, "subscription");
    let t = section::<BrokerToml>(own, errors);
    let l = section::<LinkToml>(link, errors);
    let subs: Vec<SubscriptionToml> = listed.map(|l| each(l, "subscription", errors)).unwrap_or_default();
    let (t, l) = (t?, l?);
    let settings = link::resolve(l, &format!("edge-agent-{}", t.name.get_ref()), errors);
    let stale = t.stale.map_or(DEFAULT_STALE, Span::get);
    let subscriptions: Vec<Subscription> =
        subs.into_iter().filter_map(|s| subscription(s, stale, errors)).collect();
    if subscriptions.is_empty() && errors.len() == before {
        errors.push(
            Some(t.name.span()),
            format!("mqtt broker {}: add its topics as [[mqtt.broker.subscription]]", t.name.get_ref()),
        );
    }
    let mut devices: Vec<(Spanned<String>, Vec<Spanned<String>>)> = Vec::new();
    for d in subscriptions.iter().flat_map(|s| &s.devices) {
        let tags = d.tags.iter().map(|(n, _)| n.clone());
        match devices.iter_mut().find(|(n, _)| n.get_ref() == d.name.get_ref()) {
            Some((_, all)) => all.extend(tags),
            None => devices.push((d.name.clone(), tags.collect())),
        }
    }
    let link = settings?;
    (errors.len() == before).then_some(MqttBrokerConfig { name: t.name, link, subscriptions, devices })
}

fn subscription(s: SubscriptionToml, stale: Duration, errors: &mut ConfigErrors) -> Option<Subscription> {
    let before = errors.len();
    let qos = s.qos.as_ref().map_or(1, |q| {
        if *q.get_ref() > 1 {
            errors.push(Some(q.span()), "qos: 0 or 1 (QoS 2 buys nothing a tag sample needs)");
        }
        *q.get_ref()
    });
    let names: Vec<Spanned<String>> = match (&s.device, s.devices.clone()) {
        (Some(d), None) => vec![d.clone()],
        (None, Some(list)) if !list.is_empty() => list,
        (d, list) => {
            let at = d.as_ref().map(|d| d.span()).or_else(|| s.tags.first().map(|t| t.name.span()));
            let why = if list.is_some() && d.is_some() { "not both" } else { "one of them" };
            errors.push(
                at,
                format!("a subscription names its devices: `device = \"..\"` or `devices = [..]`, {why}"),
            );
            return None;
        }
    };
    let (levels, node_level) = match s.format {
        Format::Json => {
            let Some(topic) = &s.topic else {
                let at = names.first().map(|n| n.span());
                errors.push(at, "a JSON subscription needs `topic`, e.g. \"plant/{device}/telemetry\"");
                return None;
            };
            (template(topic, names.len() > 1, errors)?, false)
        }
        Format::Sparkplug => sparkplug_levels(&s, &names, errors)?,
    };
    let filter = levels
        .iter()
        .map(|l| match l {
            Level::Literal(s) => s.as_str(),
            Level::Device | Level::Plus => "+",
            Level::Hash => "#",
        })
        .collect::<Vec<_>>()
        .join("/");
    let mut devices = Vec::new();
    for name in &names {
        let mut tags = Vec::new();
        for t in &s.tags {
            let tag = Spanned::new(t.name.span(), t.name.get_ref().replace("{device}", name.get_ref()));
            let field = match (s.format, &t.pointer, &t.metric) {
                (Format::Json, Some(p), None) if p.get_ref().is_empty() || p.get_ref().starts_with('/') => {
                    Field::Pointer(p.get_ref().clone(), t.kind)
                }
                (Format::Json, Some(p), None) => {
                    errors.push(
                        Some(p.span()),
                        format!(
                            "pointer {:?}: a JSON pointer starts with `/`, e.g. \"/temp\" or \"/values/0\"",
                            p.get_ref()
                        ),
                    );
                    continue;
                }
                (Format::Sparkplug, None, Some(m)) => {
                    Field::Metric(m.get_ref().replace("{device}", name.get_ref()))
                }
                (Format::Json, ..) => {
                    errors.push(
                        Some(t.name.span()),
                        format!("tag {}: a JSON tag needs `pointer` (and no `metric`)", tag.get_ref()),
                    );
                    continue;
                }
                (Format::Sparkplug, ..) => {
                    errors.push(
                        Some(t.name.span()),
                        format!("tag {}: a Sparkplug tag needs `metric` (and no `pointer`)", tag.get_ref()),
                    );
                    continue;
                }
            };
            tags.push((tag, field));
        }
        devices.push(SubDevice { name: name.clone(), tags });
    }
    let timestamp = match &s.timestamp {
        Some(p) if p.get_ref().starts_with('/') => Some((p.get_ref().clone(), s.timestamp_unit.nanos())),
        Some(p) => {
            errors.push(Some(p.span()), "timestamp: a JSON pointer to epoch time, e.g. \"/ts\"");
            None
        }
        None => None,
    };
    let stale = s.stale.map_or(stale, Span::get);
    if stale.is_zero() {
        let at = names.first().map(|n| n.span());
        errors.push(at, "stale must be above 0: how long a device may send nothing before it counts as down");
    }
    (errors.len() == before).then_some(Subscription {
        filter,
        levels,
        format: s.format,
        qos,
        timestamp,
        stale,
        devices,
        node_level,
    })
}

/// The levels of a topic template; `{device}` must be a whole level, and is needed for several devices.
fn template(topic: &Spanned<String>, many: bool, errors: &mut ConfigErrors) -> Option<Vec<Level>> {
    let text = topic.get_ref();
    let parts: Vec<&str> = text.split('/').collect();
    let mut levels = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        levels.push(match *p {
            "{device}" => Level::Device,
            "+" => Level::Plus,
            "#" if i + 1 == parts.len() => Level::Hash,
            p if p.contains(['+', '#', '{', '}']) => {
                errors.push(
                    Some(topic.span()),
                    format!(
                        "topic {text:?}: `{p}`: `+`, `#` and `{{device}}` stand alone as a level, `#` last"
                    ),
                );
                return None;
            }
            p => Level::Literal(p.to_owned()),
        });
    }
    if many && !levels.contains(&Level::Device) {
        errors.push(
            Some(topic.span()),
            format!("topic {text:?}: several devices need a `{{device}}` level to tell them apart"),
        );
        return None;
    }
    Some(levels)
}

fn sparkplug_levels(
    s: &SubscriptionToml,
    names: &[Spanned<String>],
    errors: &mut ConfigErrors,
) -> Option<(Vec<Level>, bool)> {
    let (Some(group), Some(node)) = (&s.group, &s.node) else {
        let at = names.first().map(|n| n.span());
        errors
            .push(at, "a Sparkplug subscription needs the `group` and `node` ids of the edge node it reads");
        return None;
    };
    for id in [group, node] {
        if !protocols::sparkplug::valid_id(id.get_ref()) {
            errors.push(Some(id.span()), "a Sparkplug id is not empty and has no `/`, `+` or `#`");
            return None;
        }
    }
    if let Some(t) = &s.topic {
        errors.push(
            Some(t.span()),
            "a Sparkplug subscription takes no `topic`: it follows from `group` and `node`",
        );
    }
    let lit = |x: &str| Level::Literal(x.to_owned());
    let levels = vec![
        lit(protocols::sparkplug::NAMESPACE),
        lit(group.get_ref()),
        Level::Plus,
        lit(node.get_ref()),
        Level::Hash,
    ];
    Some((levels, s.devices.is_none()))
}
