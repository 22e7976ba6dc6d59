//! The uplink kinds, each keyed by its `type = "..."`. Config loading, `check`, the summary and the
//! runtime go through [`UplinkConfig`] and know no kind by name; adding a kind is one line in [`KINDS`].
//!
//! Each `[[uplink]]` table is split in two: the keys every uplink has ([`COMMON_KEYS`], read by the
//! generic sender) and the kind's own keys, which the kind reads with `deny_unknown_fields`, so a typo is
//! still an error at the key.

use std::any::Any;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::UplinkStats;
use super::influxdb;
pub use super::pacing::COMMON_KEYS;
use super::pacing::{CommonToml, Pacing};
use super::task::UplinkContext;
use crate::config::ConfigErrors;
use crate::runtime::writes::Routes;
use crate::store::Shared;

/// Reads a kind's own keys of one `[[uplink]]` (every key but [`COMMON_KEYS`]); `kind` is the `type`
/// value, for errors about the table as a whole. Every error goes to `errors` with its location.
pub type Parse = fn(
    table: Spanned<DeValue<'_>>,
    kind: &Spanned<String>,
    name: &str,
    errors: &mut ConfigErrors,
) -> Option<Arc<dyn KindConfig>>;

/// One uplink kind.
pub struct Kind {
    /// Its `type = "..."` value.
    pub name: &'static str,
    pub parse: Parse,
}

/// Every uplink kind the agent speaks.
pub const KINDS: &[Kind] = &[
    Kind { name: "influxdb_v2", parse: influxdb::parse },
    Kind { name: "influxdb_v1", parse: influxdb::parse },
    Kind { name: "sparkplug_b", parse: super::sparkplug::parse },
    Kind { name: "mqtt_json", parse: super::mqtt_json::parse },
    Kind { name: "hj212", parse: super::hj212::parse },
];

/// A kind's own settings, read from its keys: what it needs to start.
pub trait KindConfig: DynEq + fmt::Debug + Send + Sync + 'static {
    /// Its `type = "..."` value.
    fn kind(&self) -> &'static str;
    /// Where it sends, as `edge-agent check` shows it (no secrets).
    fn peer(&self) -> String;
    /// Starts the uplink's task: `task::spawn(cx, MySink::new(self))`.
    fn start(&self, cx: UplinkContext) -> JoinHandle<Result<(), String>>;
}

/// Equality across kinds, so a config compares as a whole; implemented for every `PartialEq` type.
pub trait DynEq {
    fn as_any(&self) -> &dyn Any;
    fn dyn_eq(&self, other: &dyn Any) -> bool;
}

impl<T: PartialEq + Any> DynEq for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn dyn_eq(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<T>() == Some(self)
    }
}

/// One `[[uplink]]`: a peer that gets every sample, with its own position in the store.
#[derive(Clone, Debug)]
pub struct UplinkConfig {
    pub name: String,
    pub pacing: Pacing,
    settings: Arc<dyn KindConfig>,
}

impl PartialEq for UplinkConfig {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.pacing == other.pacing
            && self.settings.dyn_eq((*other.settings).as_any())
    }
}

impl UplinkConfig {
    /// An uplink of a kind's `settings` (what `parse_section` builds from each `[[uplink]]`).
    pub fn new(name: String, pacing: Pacing, settings: Arc<dyn KindConfig>) -> Self {
        UplinkConfig { name, pacing, settings }
    }

    /// Its `type = "..."`.
    pub fn kind(&self) -> &str {
        self.settings.kind()
    }

    /// One line for `edge-agent check`.
    pub fn summary(&self) -> String {
        format!(
            "uplink {} → {} {} · batches of {}",
            self.name,
            self.kind(),
            self.settings.peer(),
            self.pacing.batch_size
        )
    }

    /// Starts sending `store` until `stop` turns true, with no route for commands from the peer.
    pub fn start(
        &self,
        store: Arc<Shared>,
        stats: Arc<UplinkStats>,
        stop: watch::Receiver<bool>,
    ) -> JoinHandle<Result<(), String>> {
        self.start_routed(store, stats, stop, Routes::default())
    }

    /// [`Self::start`], with the generation's write router for commands the peer sends.
    pub fn start_routed(
        &self,
        store: Arc<Shared>,
        stats: Arc<UplinkStats>,
        stop: watch::Receiver<bool>,
        writes: Routes,
    ) -> JoinHandle<Result<(), String>> {
        let pacing = self.pacing.clone();
        self.settings.start(UplinkContext { name: self.name.clone(), pacing, store, stats, stop, writes })
    }
}

/// The whole `[[uplink]]` array, each name once: the name keys the uplink's position in the store.
pub fn parse_section(value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<UplinkConfig> {
    let span = value.span();
    let DeValue::Array(list) = value.into_inner() else {
        errors.push(Some(span), "`uplink` is a list: write each entry as `[[uplink]]`");
        return Vec::new();
    };
    let mut seen: Vec<Spanned<String>> = Vec::new();
    let mut out = Vec::new();
    for item in list {
        let Some((common, rest)) = split(item, errors) else { continue };
        let name = &common.name;
        if let Some(first) = seen.iter().find(|s| s.get_ref() == name.get_ref()) {
            let (line, _) = errors.line_col(first.span().start);
            errors.push(
                Some(name.span()),
                format!(
                    "uplink `{}` is declared twice (first at line {line}); give each uplink its own name",
                    name.get_ref()
                ),
            );
        }
        seen.push(name.clone());
        out.extend(uplink(common, rest, errors));
    }
    out
}

/// The common keys, read, and the kind's keys as a table of their own.
fn split<'i>(
    item: Spanned<DeValue<'i>>,
    errors: &mut ConfigErrors,
) -> Option<(CommonToml, Spanned<DeValue<'i>>)> {
    let span = item.span();
    let DeValue::Table(table) = item.into_inner() else {
        errors.push(Some(span), "each `[[uplink]]` entry is a table of keys");
        return None;
    };
    let (mut common, mut rest) = (DeTable::new(), DeTable::new());
    for (key, value) in table {
        let side = if COMMON_KEYS.contains(&key.get_ref().as_ref()) { &mut common } else { &mut rest };
        side.insert(key, value);
    }
    let common = read::<CommonToml>(Spanned::new(span.clone(), DeValue::Table(common)), errors)?;
    Some((common, Spanned::new(span, DeValue::Table(rest))))
}

fn uplink(common: CommonToml, rest: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Option<UplinkConfig> {
    let pacing = common.pacing(errors);
    let Some(kind) = KINDS.iter().find(|k| k.name == common.kind.get_ref()) else {
        let known: Vec<String> = KINDS.iter().map(|k| format!("\"{}\"", k.name)).collect();
        errors.push(
            Some(common.kind.span()),
            format!("uplink type `{}`: expected {}", common.kind.get_ref(), one_of(&known)),
        );
        return None;
    };
    let settings = (kind.parse)(rest, &common.kind, common.name.get_ref(), errors)?;
    Some(UplinkConfig { name: common.name.into_inner(), pacing: pacing?, settings })
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn one_of(names: &[String]) -> String {
    match names {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A table read into a kind's config struct; its errors come back located. A key the struct does not
/// know is an error at the key, which also names the keys every uplink takes.
pub fn read<T: DeserializeOwned>(table: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Option<T> {
    let span: Range<usize> = table.span();
    T::deserialize(ValueDeserializer::from(table))
        .map_err(|e| {
            let mut message = e.message().trim().to_owned();
            if message.starts_with("unknown field") {
                message.push_str(&format!("; every uplink also takes `{}`", COMMON_KEYS.join("`, `")));
            }
            errors.push(Some(e.span().unwrap_or(span)), message);
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::parse;

    const V2: &str = "[[uplink]]\nname = \"vm\"\ntype = \"influxdb_v2\"\nurl = \"http://h:8086/\"\norg = \"o\"\nbucket = \"b\"\ntoken = \"t\"\n";

    fn uplinks(text: &str) -> Result<Vec<super::UplinkConfig>, Vec<String>> {
        parse(text, "t.toml", &|_| None)
            .map(|c| c.uplinks)
            .map_err(|e| e.lines().into_iter().map(|l| l.trim_start_matches("t.toml:").to_owned()).collect())
    }

    #[test]
    fn a_typo_is_an_error_at_the_key_naming_both_sides_keys() {
        for (typo, at) in [("gzp = true", "8:1"), ("batch_sise = 10", "8:1")] {
            let errors = uplinks(&format!("{V2}{typo}\n")).unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:?}");
            let key = typo.split(' ').next().unwrap();
            assert!(
                errors[0].starts_with(&format!("{at}: unknown field `{key}`, expected one of `url`")),
                "{errors:?}"
            );
            assert!(errors[0].contains("every uplink also takes `name`, `type`, `batch_size`"), "{errors:?}");
        }
    }

    #[test]
    fn common_keys_reach_the_sender_and_kind_keys_the_kind() {
        let all = format!(
            "{V2}batch_size = 10\nbatch_age = \"2s\"\nbacklog_rate = 7\nin_flight = 3\nmax_retry_wait = \"5s\"\ngzip = false\n"
        );
        let u = &uplinks(&all).unwrap()[0];
        let p = &u.pacing;
        assert_eq!(
            (p.batch_size, p.batch_age, p.backlog_rate, p.in_flight),
            (10, Duration::from_secs(2), 7, 3)
        );
        assert_eq!(p.max_retry_wait, Duration::from_secs(5));
        assert_eq!((u.name.as_str(), u.kind()), ("vm", "influxdb_v2"));
        assert_eq!(u.summary(), "uplink vm → influxdb_v2 http://h:8086 · batches of 10");
        // The text sets every common key and parses: the common side reads each key it claims.
        assert!(super::COMMON_KEYS.iter().all(|k| all.contains(&format!("\n{k} ="))));
    }

    #[test]
    fn an_mqtt_json_client_id_defaults_to_one_per_host_and_uplink_so_none_collide() {
        let json = "[[uplink]]\nname = \"json\"\ntype = \"mqtt_json\"\nurl = \"mqtt://127.0.0.1:1883\"\ntopic = \"{site}/{gateway}/{device}\"\n";
        let default = format!("{:?}", uplinks(json).unwrap()[0]);
        let host = crate::config::default_gateway();
        assert!(default.contains(&format!("client_id: \"edge-agent-json-{host}-json\"")), "{default}");
        // Two uplinks of one gateway to one broker (per sample and per scan) must not take over each other.
        let second = json.replace("name = \"json\"", "name = \"per-scan\"");
        let both = uplinks(&format!("{json}{second}")).unwrap();
        let ids: Vec<String> = both.iter().map(|u| format!("{u:?}")).collect();
        assert!(ids[1].contains(&format!("client_id: \"edge-agent-json-{host}-per-scan\"")), "{}", ids[1]);
        let set = format!("{:?}", uplinks(&format!("{json}client_id = \"三号网关-json\"\n")).unwrap()[0]);
        assert!(set.contains("client_id: \"三号网关-json\""), "{set}");
    }

    #[test]
    fn max_retry_wait_is_30s_unless_set_and_bounded_either_way() {
        let default = &uplinks(V2).unwrap()[0];
        assert_eq!(default.pacing.max_retry_wait, Duration::from_secs(30));
        for (value, ok) in [("\"1s\"", true), ("\"10m\"", true), ("\"500ms\"", false), ("\"1h\"", false)] {
            let got = uplinks(&format!("{V2}max_retry_wait = {value}\n"));
            match (ok, got) {
                (true, Ok(u)) => assert!(u[0].pacing.max_retry_wait >= Duration::from_secs(1)),
                (false, Err(e)) => {
                    assert!(e[0].starts_with("8:18: max_retry_wait: between \"1s\" and \"10m\""), "{e:?}")
                }
                (_, got) => panic!("max_retry_wait = {value}: {got:?}"),
            }
        }
    }

    #[test]
    fn names_are_unique_and_configs_compare_whole() {
        let twice = format!("{V2}\n{V2}");
        let errors = uplinks(&twice).unwrap_err();
        assert_eq!(
            errors,
            ["10:8: uplink `vm` is declared twice (first at line 2); give each uplink its own name"]
        );
        let a = uplinks(V2).unwrap();
        assert_eq!(a, uplinks(V2).unwrap());
        assert_ne!(a, uplinks(&V2.replace("h:8086", "h:8087")).unwrap());
        assert_ne!(a, uplinks(&format!("{V2}batch_size = 9\n")).unwrap());
    }

    #[test]
    fn an_unknown_type_lists_the_kinds() {
        let errors = uplinks(&V2.replace("influxdb_v2", "mqtt")).unwrap_err();
        assert_eq!(
            errors,
            [
                "3:8: uplink type `mqtt`: expected \"influxdb_v2\", \"influxdb_v1\", \"sparkplug_b\", \"mqtt_json\" or \"hj212\""
            ]
        );
    }
}
