//! Node ids as written in the config and printed by browse (OPC UA Part 6 §5.3.1.10, the XML/text
//! form): `ns=2;s=锅炉一号.温度`, `ns=2;i=1001`, `ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a`,
//! `ns=1;b=M/RbKBsRVkePCePcx24oRA==`, and `nsu=urn:plant:boilers;s=温度` with the namespace by URI (the
//! index is looked up in the server's namespace array once connected, so a server that renumbers its
//! namespaces after an upgrade keeps the config valid).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespace {
    Index(u16),
    Uri(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    Numeric(u32),
    String(String),
    /// Canonical lower-case `8-4-4-4-12` hex form.
    Guid(String),
    /// Base64 text, checked to decode.
    Opaque(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeRef {
    pub namespace: Namespace,
    pub id: Identifier,
}

const HINT: &str = "write it as `ns=2;s=锅炉一号.温度`, `ns=2;i=1001`, `ns=2;g=<guid>`, `ns=2;b=<base64>` or \
                    `nsu=<namespace uri>;s=..`";

impl NodeRef {
    pub fn parse(text: &str) -> Result<NodeRef, String> {
        let (namespace, rest) = if let Some(rest) = text.strip_prefix("nsu=") {
            let Some((uri, rest)) = rest.split_once(';') else {
                return Err(format!("node id {text:?}: `nsu=` needs `;` before the identifier; {HINT}"));
            };
            if uri.is_empty() {
                return Err(format!("node id {text:?}: empty namespace URI; {HINT}"));
            }
            (Namespace::Uri(uri.to_owned()), rest)
        } else if let Some(rest) = text.strip_prefix("ns=") {
            let Some((index, rest)) = rest.split_once(';') else {
                return Err(format!("node id {text:?}: `ns=` needs `;` before the identifier; {HINT}"));
            };
            let index = index.parse::<u16>().map_err(|_| {
                format!("node id {text:?}: namespace index {index:?} is not a number 0..=65535; {HINT}")
            })?;
            (Namespace::Index(index), rest)
        } else {
            (Namespace::Index(0), text)
        };
        let Some((kind, value)) = rest.split_once('=') else {
            return Err(format!("node id {text:?}: no identifier type (`i=`, `s=`, `g=` or `b=`); {HINT}"));
        };
        let id = match kind {
            "i" => Identifier::Numeric(value.parse::<u32>().map_err(|_| {
                format!("node id {text:?}: numeric identifier {value:?} is not a number 0..=4294967295")
            })?),
            "s" if !value.is_empty() => Identifier::String(value.to_owned()),
            "s" => return Err(format!("node id {text:?}: empty string identifier; {HINT}")),
            "g" => Identifier::Guid(guid(value).ok_or_else(|| {
                format!(
                    "node id {text:?}: {value:?} is not a GUID; write 32 hex digits as 8-4-4-4-12, e.g. \
                     09087e75-8e5e-499b-954f-f2a9603db28a"
                )
            })?),
            "b" if base64_ok(value) => Identifier::Opaque(value.to_owned()),
            "b" => return Err(format!("node id {text:?}: {value:?} is not base64 text")),
            other => {
                return Err(format!("node id {text:?}: unknown identifier type `{other}=`; {HINT}"));
            }
        };
        Ok(NodeRef { namespace, id })
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Namespace::Index(0) => {}
            Namespace::Index(i) => write!(f, "ns={i};")?,
            Namespace::Uri(u) => write!(f, "nsu={u};")?,
        }
        match &self.id {
            Identifier::Numeric(n) => write!(f, "i={n}"),
            Identifier::String(s) => write!(f, "s={s}"),
            Identifier::Guid(g) => write!(f, "g={g}"),
            Identifier::Opaque(b) => write!(f, "b={b}"),
        }
    }
}

fn guid(text: &str) -> Option<String> {
    let groups: Vec<&str> = text.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5
        && groups.iter().zip(lens).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then(|| text.to_ascii_lowercase())
}

fn base64_ok(text: &str) -> bool {
    !text.is_empty()
        && text.len() % 4 == 0
        && text.trim_end_matches('=').chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
        && text.len() - text.trim_end_matches('=').len() <= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_reads_and_prints_back() {
        let table = [
            ("ns=2;s=锅炉一号.温度", Namespace::Index(2), Identifier::String("锅炉一号.温度".into())),
            ("ns=2;i=1001", Namespace::Index(2), Identifier::Numeric(1001)),
            ("i=2258", Namespace::Index(0), Identifier::Numeric(2258)),
            (
                "ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a",
                Namespace::Index(3),
                Identifier::Guid("09087e75-8e5e-499b-954f-f2a9603db28a".into()),
            ),
            (
                "ns=1;b=M/RbKBsRVkePCePcx24oRA==",
                Namespace::Index(1),
                Identifier::Opaque("M/RbKBsRVkePCePcx24oRA==".into()),
            ),
            (
                "nsu=urn:plant:锅炉;s=温度;上限",
                Namespace::Uri("urn:plant:锅炉".into()),
                Identifier::String("温度;上限".into()),
            ),
        ];
        for (text, namespace, id) in table {
            let n = NodeRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(n, NodeRef { namespace, id }, "{text}");
            assert_eq!(n.to_string(), text);
        }
    }

    #[test]
    fn mistakes_say_what_and_how() {
        let table = [
            ("ns=x;i=1", "namespace index \"x\""),
            ("ns=2", "needs `;`"),
            ("ns=2;i=-4", "not a number"),
            ("ns=2;g=1234", "not a GUID"),
            ("ns=2;q=1", "unknown identifier type `q=`"),
            ("锅炉一号.温度", "no identifier type"),
            ("nsu=;s=a", "empty namespace URI"),
            ("ns=2;s=", "empty string identifier"),
            ("ns=2;b=%%%", "not base64"),
        ];
        for (text, want) in table {
            let e = NodeRef::parse(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
