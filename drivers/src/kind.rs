//! The driver seam: what a protocol's configured section tells the rest of the agent.
//!
//! A protocol implements [`DriverKind`] (its TOML section and how to read it) and [`LinkConfig`] (one
//! configured link: what it declares, and how it builds its [`Driver`]). The config loader, `check`, its
//! summary, the plan of links and /healthz iterate [`crate::registry::DRIVERS`] and know no protocol by
//! name. `docs/adding-a-driver.md` is the recipe.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use protocols::TagId;
use toml::Spanned;
use toml::de::DeValue;

use crate::Driver;
use crate::diag::ConfigErrors;
use crate::sections::Problem;
use crate::write::WritableSpec;

/// A protocol, as the config loader sees it. One static value per protocol, listed in the registry.
pub trait DriverKind: Sync {
    /// The TOML section the protocol owns: `sim` for `[[sim.device]]`, `modbus` for `[[modbus.link]]`.
    fn section(&self) -> &'static str;
    /// Reads the section's value, every mistake pushed to `errors` at its place in the file. Returns the
    /// links that could be read; the ones that could not are left out (their errors say why).
    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn LinkConfig>>;
}

/// One configured link (a TCP endpoint, a serial port, a session, a simulated device) and the devices on
/// it. The config struct is the factory of its driver.
pub trait LinkConfig: Send + Sync + Debug {
    /// The protocol, as named in logs and /healthz: `modbus`, `sim`.
    fn kind(&self) -> &'static str;
    /// The link's name, as logged.
    fn name(&self) -> &str;
    /// The devices on the link and their tags, in config order.
    fn devices(&self) -> Vec<DeclaredDevice<'_>>;
    /// Everything wrong with the link that can be seen from the link alone, each at its place.
    fn problems(&self) -> Vec<Problem>;
    /// One line for `edge-agent check`.
    fn summary(&self) -> String;
    /// The driver, ready to run, or why it cannot be built (its devices then show down with that reason).
    fn build(&self, cx: &BuildContext<'_>) -> Result<Box<dyn Driver>, String>;
    /// Whether `other` is the same link configured the same way (a reload keeps such a link running).
    fn same_as(&self, other: &dyn LinkConfig) -> bool {
        self.kind() == other.kind()
            && without_spans(&format!("{self:?}")) == without_spans(&format!("{other:?}"))
    }
}

/// A config's `Debug` text without the byte spans of its `Spanned` values: a device that moved in the
/// file (an edit above it) is configured the same way.
pub fn without_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("span: ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "span: ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let a = digits(after);
        let range_end = after[a..].strip_prefix("..").map(|r| a + 2 + digits(r));
        match range_end {
            Some(end) if a > 0 => rest = after[end..].strip_prefix(", ").unwrap_or(&after[end..]),
            _ => {
                out.push_str("span: ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A device as the cross-checks, the tag registry and the summary see it.
#[derive(Debug, Clone)]
pub struct DeclaredDevice<'a> {
    pub name: &'a Spanned<String>,
    pub tags: Vec<DeclaredTag<'a>>,
}

/// A tag a device declares, and its write limits when it is an actuator.
#[derive(Debug, Clone)]
pub struct DeclaredTag<'a> {
    pub name: &'a Spanned<String>,
    pub writable: Option<WritableSpec>,
}

/// What building a driver may need from the agent.
pub struct BuildContext<'a> {
    /// The id the agent gave each tag name.
    pub tag_id: &'a dyn Fn(&str) -> Option<TagId>,
    /// `[agent] data_dir`: where a driver keeps what must survive a restart (certificates, pulse counts).
    pub data_dir: &'a Path,
}

#[cfg(test)]
mod span_tests {
    use super::without_spans;

    #[test]
    fn spans_are_left_out_and_everything_else_kept() {
        let a = r#"Sim { name: Spanned { span: 12..20, value: "锅炉一号" }, scan: Spanned { span: 3..4, value: 20ms } }"#;
        let b = r#"Sim { name: Spanned { span: 112..120, value: "锅炉一号" }, scan: Spanned { span: 93..94, value: 20ms } }"#;
        assert_eq!(without_spans(a), without_spans(b));
        assert_eq!(
            without_spans(a),
            r#"Sim { name: Spanned { value: "锅炉一号" }, scan: Spanned { value: 20ms } }"#
        );
        let c = b.replace("20ms", "30ms");
        assert_ne!(without_spans(a), without_spans(&c));
        // A value that merely contains the words is left alone.
        assert_eq!(without_spans(r#"note: "span: wide""#), r#"note: "span: wide""#);
    }
}
