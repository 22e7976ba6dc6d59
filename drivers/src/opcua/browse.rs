//! `edge-agent opcua browse`: a server's address space as a tree (node ids, display names, data types,
//! access levels) and a ready-to-paste `[[opcua.link]]` block for the variables a tag can read, so
//! engineers write configs from what they see.

use std::fmt::Write;

use ::opcua::client::Session;
use ::opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, DataValue, NodeClass, NodeId, ObjectId, ReferenceTypeId,
    TimestampsToReturn, Variant,
};

use super::plan::read_value_id;
use super::values::{self, Refusal};

/// One node under the start, with what a tag needs to know of it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub depth: usize,
    pub node: String,
    pub name: String,
    /// Display names from the start down, joined by `.`: the tag name proposed.
    pub path: String,
    pub variable: Option<VariableInfo>,
}

#[derive(Debug, Clone)]
pub struct VariableInfo {
    pub data_type: String,
    pub readable: bool,
    pub writable: bool,
    /// Elements when the value is an array.
    pub array: Option<usize>,
    /// Why a tag cannot read it, when it cannot.
    pub unsupported: Option<String>,
}

/// Walks the hierarchy from `start` (default the Objects folder) down to `depth` levels.
pub async fn walk(session: &Session, start: Option<NodeId>, depth: usize) -> Result<Vec<Entry>, String> {
    let start = start.unwrap_or_else(|| ObjectId::ObjectsFolder.into());
    let mut out = Vec::new();
    let mut stack = children(session, &start, 0, "").await?;
    stack.reverse();
    // Depth first, in the server's order.
    while let Some((entry, id)) = stack.pop() {
        let descend = entry.variable.is_none() && entry.depth + 1 < depth;
        let (level, path) = (entry.depth + 1, entry.path.clone());
        out.push(entry);
        if descend {
            let mut below = children(session, &id, level, &path).await?;
            below.reverse();
            stack.extend(below);
        }
    }
    Ok(out)
}

async fn children(
    session: &Session,
    node: &NodeId,
    level: usize,
    path: &str,
) -> Result<Vec<(Entry, NodeId)>, String> {
    let desc = BrowseDescription {
        node_id: node.clone(),
        browse_direction: BrowseDirection::Forward,
        reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
        include_subtypes: true,
        node_class_mask: (NodeClass::Object as u32) | (NodeClass::Variable as u32),
        result_mask: 0x3f,
    };
    let results = session.browse(&[desc], 1000, None).await.map_err(|e| format!("Browse {node}: {e}"))?;
    let refs = results.into_iter().next().and_then(|r| r.references).unwrap_or_default();
    let mut out = Vec::new();
    for r in refs {
        let id = r.node_id.node_id.clone();
        // The server's own diagnostics object under Objects is not plant data.
        if id == ObjectId::Server {
            continue;
        }
        let name = r.display_name.text.as_ref().to_owned();
        let child_path = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
        let variable = match r.node_class {
            NodeClass::Variable => Some(variable(session, &id).await?),
            _ => None,
        };
        out.push((Entry { depth: level, node: id.to_string(), name, path: child_path, variable }, id));
    }
    Ok(out)
}

async fn variable(session: &Session, id: &NodeId) -> Result<VariableInfo, String> {
    let attrs = [AttributeId::DataType, AttributeId::AccessLevel, AttributeId::Value];
    let ids: Vec<_> = attrs
        .iter()
        .map(|a| ::opcua::types::ReadValueId { attribute_id: *a as u32, ..read_value_id(id.clone()) })
        .collect();
    let dv =
        session.read(&ids, TimestampsToReturn::Neither, 0.0).await.map_err(|e| format!("Read {id}: {e}"))?;
    let get = |i: usize| dv.get(i).and_then(|d: &DataValue| d.value.clone());
    let data_type = match get(0) {
        Some(Variant::NodeId(t)) => match type_name(&t) {
            Some(name) => name,
            None => type_display_name(session, &t).await,
        },
        _ => "unknown".into(),
    };
    let access = match get(1) {
        Some(Variant::Byte(b)) => b,
        _ => 0,
    };
    let value = get(2).unwrap_or_default();
    let array = match &value {
        Variant::Array(a) => Some(a.values.len()),
        _ => None,
    };
    let probe = match &value {
        Variant::Array(a) => a.values.first().cloned().unwrap_or_default(),
        v => v.clone(),
    };
    let unsupported = match values::value(&probe, None, &protocols::TextPool::new()) {
        Err(Refusal::Unsupported(_)) => Some(format!("data type {data_type} is not supported")),
        _ => None,
    };
    Ok(VariableInfo { data_type, readable: access & 1 != 0, writable: access & 2 != 0, array, unsupported })
}

/// A structure or other non-built-in type by its DataType node's name (`Range`, not `i=884`), so the
/// engineer reading the tree knows what the node holds; its node id when the server does not say.
async fn type_display_name(session: &Session, t: &NodeId) -> String {
    let id = ::opcua::types::ReadValueId {
        attribute_id: AttributeId::DisplayName as u32,
        ..read_value_id(t.clone())
    };
    match session.read(&[id], TimestampsToReturn::Neither, 0.0).await.ok().and_then(|d| d.into_iter().next())
    {
        Some(DataValue { value: Some(Variant::LocalizedText(n)), .. }) if !n.text.is_empty() => {
            format!("{} ({t})", n.text)
        }
        _ => t.to_string(),
    }
}

/// The built-in types by name; None for the others.
fn type_name(t: &NodeId) -> Option<String> {
    let builtin = [
        "",
        "Boolean",
        "SByte",
        "Byte",
        "Int16",
        "UInt16",
        "Int32",
        "UInt32",
        "Int64",
        "UInt64",
        "Float",
        "Double",
        "String",
        "DateTime",
        "Guid",
        "ByteString",
        "XmlElement",
        "NodeId",
        "ExpandedNodeId",
        "StatusCode",
        "QualifiedName",
        "LocalizedText",
        "Structure",
        "DataValue",
        "BaseDataType",
        "DiagnosticInfo",
    ];
    match (&t.namespace, &t.identifier) {
        (0, ::opcua::types::Identifier::Numeric(n)) if (*n as usize) < builtin.len() && *n > 0 => {
            Some(builtin[*n as usize].into())
        }
        _ => None,
    }
}

/// The tree, one node a line, indented by depth.
pub fn tree(entries: &[Entry]) -> String {
    let mut s = String::new();
    for e in entries {
        let pad = "  ".repeat(e.depth);
        match &e.variable {
            None => {
                let _ = writeln!(s, "{pad}{}  [{}]", e.name, e.node);
            }
            Some(v) => {
                let access = match (v.readable, v.writable) {
                    (true, true) => "read/write",
                    (true, false) => "read",
                    (false, true) => "write",
                    _ => "no access",
                };
                let array = v.array.map(|n| format!("[{n}]")).unwrap_or_default();
                let _ = writeln!(s, "{pad}{}  [{}]  {}{array}  {access}", e.name, e.node, v.data_type);
            }
        }
    }
    s
}

/// A `[[opcua.link]]` block with one tag per readable variable (one per element of an array); the
/// variables a tag cannot read are listed as comments with their data type.
pub fn toml_block(entries: &[Entry], link: &str, endpoint: &str, device: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut s = format!(
        "[[opcua.link]]\nname = {}\nendpoint = {}\n\n[[opcua.link.device]]\nname = {}\npublishing_interval = \"1s\"\ntags = [\n",
        q(link),
        q(endpoint),
        q(device)
    );
    let mut skipped = String::new();
    let mut used: Vec<String> = Vec::new();
    let mut unique = |name: String| {
        let mut n = name.clone();
        let mut k = 2;
        while used.contains(&n) {
            n = format!("{name}_{k}");
            k += 1;
        }
        used.push(n.clone());
        n
    };
    for e in entries {
        let Some(v) = &e.variable else { continue };
        if let Some(why) = &v.unsupported {
            let _ = writeln!(skipped, "# not a tag: {} ({}): {why}", e.path, e.node);
            continue;
        }
        if !v.readable {
            let _ = writeln!(skipped, "# not a tag: {} ({}): not readable", e.path, e.node);
            continue;
        }
        let note =
            if v.writable { "  # writable on the server: add writable = { min = .., max = .. }" } else { "" };
        match v.array {
            Some(n) => {
                for i in 0..n {
                    let name = unique(format!("{device}.{}.{i}", e.path));
                    let _ = writeln!(s, "  {{ name = {}, node = {}, index = {i} }},", q(&name), q(&e.node));
                }
            }
            None => {
                let name = unique(format!("{device}.{}", e.path));
                let _ = writeln!(s, "  {{ name = {}, node = {} }},{note}", q(&name), q(&e.node));
            }
        }
    }
    s.push_str("]\n");
    s.push_str(&skipped);
    s
}
