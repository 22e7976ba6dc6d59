//! The Sparkplug B keys of an `[[uplink]]`, and the MQTT connection keys every MQTT uplink shares
//! (read by `drivers::mqtt::link`, the same code as the ingest driver's).

use std::collections::BTreeMap;
use std::sync::Arc;

use drivers::mqtt::{LINK_KEYS, LinkSettings, LinkToml};
use drivers::sections::split_keys;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::config::ConfigErrors;
use crate::uplink::registry::{self, KindConfig};

/// An MQTT uplink's table read in two: the kind's own keys into `T`, then the connection keys, with
/// the client id `default_id` gives from `T` when none is written.
pub(crate) fn read_link<T: serde::de::DeserializeOwned>(
    table: Spanned<DeValue<'_>>,
    default_id: impl FnOnce(&T) -> String,
    errors: &mut ConfigErrors,
) -> Option<(T, LinkSettings)> {
    let (link, own) = split_keys(table, LINK_KEYS, errors)?;
    let own = registry::read::<T>(own, errors);
    let link = registry::read::<LinkToml>(link, errors);
    let own = own?;
    let settings = drivers::mqtt::link::resolve(link?, &default_id(&own), errors)?;
    Some((own, settings))
}

/// QoS 0 or 1 at `q`, 1 by default.
pub(crate) fn qos(q: Option<Spanned<u8>>, errors: &mut ConfigErrors) -> u8 {
    match q {
        None => 1,
        Some(q) if *q.get_ref() <= 1 => *q.get_ref(),
        Some(q) => {
            errors.push(
                Some(q.span()),
                "qos: 1 (a message leaves the store at its PUBACK) or 0 (at the socket)",
            );
            1
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SparkplugToml {
    group_id: Spanned<String>,
    edge_node: Spanned<String>,
    primary_host: Option<Spanned<String>>,
    qos: Option<Spanned<u8>>,
    report_by_exception: Option<bool>,
    deadband: Option<f64>,
    #[serde(default)]
    deadbands: BTreeMap<String, f64>,
    max_metrics: Option<Spanned<usize>>,
}

/// A Sparkplug B edge node: where it publishes, as what, and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct SparkplugTarget {
    pub link: LinkSettings,
    pub group: String,
    pub node: String,
    /// The host application whose STATE gates publishing (Sparkplug 3.0 ch. 5, primary host).
    pub primary_host: Option<String>,
    pub qos: u8,
    pub report_by_exception: bool,
    pub deadband: f64,
    /// Per tag name, overriding `deadband`.
    pub deadbands: BTreeMap<String, f64>,
    /// Metrics per DDATA message at most.
    pub max_metrics: usize,
}

/// `type = "sparkplug_b"`.
pub fn parse(
    table: Spanned<DeValue<'_>>,
    _kind: &Spanned<String>,
    _name: &str,
    errors: &mut ConfigErrors,
) -> Option<Arc<dyn KindConfig>> {
    let before = errors.len();
    // The client id names the node by default, so two gateways never share one and knock each other off.
    let (t, link) = read_link(
        table,
        |t: &SparkplugToml| format!("{}-{}", t.group_id.get_ref(), t.edge_node.get_ref()),
        errors,
    )?;
    for id in [&t.group_id, &t.edge_node].into_iter().chain(&t.primary_host) {
        if !protocols::sparkplug::valid_id(id.get_ref()) {
            errors.push(Some(id.span()), "a Sparkplug id is not empty and has no `/`, `+` or `#`");
        }
    }
    let deadband = t.deadband.unwrap_or(0.0);
    if deadband < 0.0 || t.deadbands.values().any(|d| *d < 0.0 || d.is_nan()) || deadband.is_nan() {
        errors.push(Some(t.group_id.span()), "deadbands are 0 or more (in the tag's unit)");
    }
    let max_metrics = t.max_metrics.map_or(500, |m| {
        if *m.get_ref() == 0 {
            errors.push(Some(m.span()), "max_metrics: at least 1 metric per message");
        }
        *m.get_ref()
    });
    let qos = qos(t.qos, errors);
    (errors.len() == before).then(|| {
        Arc::new(SparkplugTarget {
            link,
            group: t.group_id.into_inner(),
            node: t.edge_node.into_inner(),
            primary_host: t.primary_host.map(Spanned::into_inner),
            qos,
            report_by_exception: t.report_by_exception.unwrap_or(true),
            deadband,
            deadbands: t.deadbands,
            max_metrics,
        }) as Arc<dyn KindConfig>
    })
}
