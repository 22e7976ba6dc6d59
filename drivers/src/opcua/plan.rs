//! What a link reads, planned from its config: per device, one item per node (several tags may read
//! elements of one array node), each with its monitoring parameters; and turning what arrives for an
//! item into samples.

use std::time::Duration;

use opcua::types::{
    AttributeId, ByteString, DataChangeFilter, DataChangeTrigger, DataValue, DeadbandType, ExtensionObject,
    Guid, MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters, NamespaceMap, NodeId,
    ReadValueId, StatusCode, Variant,
};
use protocols::{Sample, TagId, TextPool, Timestamp};

use super::config::{Deadband, OpcuaDeviceConfig, Stamp};
use super::node_id::{Identifier, Namespace, NodeRef};
use super::values::{self, Refusal};
use crate::write::WritableSpec;

#[derive(Debug, Clone)]
pub struct TagPlan {
    pub id: TagId,
    pub name: String,
    pub index: Option<u32>,
    pub writable: Option<WritableSpec>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub node: NodeRef,
    pub sampling: Option<Duration>,
    pub queue: u32,
    pub deadband: Option<Deadband>,
    pub tags: Vec<TagPlan>,
    /// The last value's variant, to write in the node's own type.
    pub last: Option<Variant>,
}

#[derive(Debug, Clone)]
pub struct DevicePlan {
    pub name: String,
    pub publishing: Duration,
    pub poll: Option<Duration>,
    pub retry: Duration,
    pub stamp: Stamp,
    pub items: Vec<Item>,
}

impl DevicePlan {
    pub fn new(d: &OpcuaDeviceConfig, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<DevicePlan, String> {
        let mut items: Vec<Item> = Vec::new();
        for t in &d.tags {
            let node = t.node_ref()?;
            let name = t.name.get_ref();
            let id = tag_id(name).ok_or_else(|| format!("tag {name} is not in the tag registry"))?;
            let tag = TagPlan {
                id,
                name: name.clone(),
                index: t.index,
                writable: t.writable.as_ref().map(|w| w.get_ref().into()),
            };
            match items.iter_mut().find(|i| i.node == node) {
                Some(item) => item.tags.push(tag),
                None => items.push(Item {
                    node,
                    sampling: t.sampling.map(|s| s.get()),
                    queue: t.queue.as_ref().map_or(1, |q| *q.get_ref()),
                    deadband: t.deadband(),
                    tags: vec![tag],
                    last: None,
                }),
            }
        }
        Ok(DevicePlan {
            name: d.name.get_ref().clone(),
            publishing: d.publishing_interval(),
            poll: d.poll_period(),
            retry: d.retry.get(),
            stamp: d.timestamp,
            items,
        })
    }

    pub fn tags(&self) -> impl Iterator<Item = TagId> + '_ {
        self.items.iter().flat_map(|i| i.tags.iter().map(|t| t.id))
    }
}

/// The node id in the server's numbering: `nsu=` looked up in its namespace array.
pub fn node_id(n: &NodeRef, namespaces: &NamespaceMap) -> Result<NodeId, String> {
    let ns = match &n.namespace {
        Namespace::Index(i) => *i,
        Namespace::Uri(u) => namespaces.get_index(u).ok_or_else(|| {
            format!("node {n}: the server has no namespace {u:?} (check its NamespaceArray with `edge-agent opcua browse`)")
        })?,
    };
    Ok(match &n.id {
        Identifier::Numeric(i) => NodeId::new(ns, *i),
        Identifier::String(s) => NodeId::new(ns, s.clone()),
        Identifier::Guid(g) => {
            NodeId::new(ns, g.parse::<Guid>().map_err(|_| format!("node {n}: not a GUID"))?)
        }
        Identifier::Opaque(b) => {
            NodeId::new(ns, ByteString::from_base64(b).ok_or_else(|| format!("node {n}: not base64"))?)
        }
    })
}

pub fn read_value_id(node_id: NodeId) -> ReadValueId {
    ReadValueId { node_id, attribute_id: AttributeId::Value as u32, ..Default::default() }
}

impl Item {
    pub fn create_request(
        &self,
        node_id: NodeId,
        handle: u32,
        publishing: Duration,
    ) -> MonitoredItemCreateRequest {
        let filter = match self.deadband {
            None => ExtensionObject::null(),
            Some(d) => {
                let (deadband_type, deadband_value) = match d {
                    Deadband::Absolute(v) => (DeadbandType::Absolute as u32, v),
                    Deadband::Percent(v) => (DeadbandType::Percent as u32, v),
                };
                ExtensionObject::from_message(DataChangeFilter {
                    trigger: DataChangeTrigger::StatusValue,
                    deadband_type,
                    deadband_value,
                })
            }
        };
        MonitoredItemCreateRequest {
            item_to_monitor: read_value_id(node_id),
            monitoring_mode: MonitoringMode::Reporting,
            requested_parameters: MonitoringParameters {
                client_handle: handle,
                sampling_interval: self.sampling.unwrap_or(publishing).as_secs_f64() * 1000.0,
                filter,
                queue_size: self.queue,
                discard_oldest: true,
            },
        }
    }

    /// The samples of every tag of the item for one value; a refusal names the tag and why.
    pub fn samples(
        &mut self,
        dv: &DataValue,
        stamp: Stamp,
        arrival: Timestamp,
        texts: &TextPool,
        out: &mut Vec<Sample>,
        problems: &mut Vec<String>,
    ) {
        let ts = values::stamp_of(dv, stamp, arrival);
        let status = dv.status.unwrap_or(StatusCode::Good);
        let quality = values::quality(status);
        let Some(v) = dv.value.as_ref().filter(|_| !status.is_bad()) else {
            let reason = quality.reason().unwrap_or(protocols::Reason::DecodeError);
            out.extend(self.tags.iter().map(|t| Sample::bad(t.id, ts, reason)));
            if status.is_bad() {
                problems.push(format!("node {}: {}", self.node, values::status_name(status)));
            }
            return;
        };
        for t in &self.tags {
            match values::value(v, t.index, texts) {
                Ok(value) => out.push(Sample { tag: t.id, ts, value, quality }),
                Err(r) => {
                    out.push(Sample::bad(t.id, ts, protocols::Reason::DecodeError));
                    problems.push(format!("tag {} (node {}): {r}", t.name, self.node));
                }
            }
        }
        self.last = Some(v.clone());
    }
}

/// The variant to write for `tag`, in its node's type.
pub fn write_variant(item: &Item, tag: &TagPlan, value: f64) -> Result<Variant, String> {
    if tag.index.is_some() {
        return Err(
            "writing one element of an array is not supported; write the whole node from its own tool".into(),
        );
    }
    let like =
        item.last.as_ref().ok_or("no value has been read from the node yet, so its type is unknown")?;
    values::to_variant(value, like).ok_or_else(|| {
        let r = Refusal::Unsupported(values::type_name(like).into());
        match values::value(like, None, &TextPool::new()) {
            Ok(_) => format!("{value} does not fit the node's type {}", values::type_name(like)),
            Err(_) => r.to_string(),
        }
    })
}
