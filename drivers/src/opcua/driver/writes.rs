//! Writes to tags declared writable: limits checked next to the actuator, the node's type read once,
//! the server's status code reported back by name; refused at once while there is no session.

use std::collections::HashMap;
use std::sync::Arc;

use opcua::types::{AttributeId, DataValue, NodeId, TimestampsToReturn, WriteValue};
use protocols::TagId;

use super::{Live, OpcuaDriver};
use crate::opcua::{plan, values};
use crate::telemetry::{DeviceStats, ErrorKind};
use crate::write::{WriteError, WriteRequest};

impl OpcuaDriver {
    pub(super) async fn write(&mut self, live: &Live, req: WriteRequest, stats: &[Arc<DeviceStats>]) {
        let found = self.devices.iter().enumerate().find_map(|(di, d)| {
            d.items.iter().position(|i| i.tags.iter().any(|t| t.id == req.tag)).map(|ii| (di, ii))
        });
        let Some((di, ii)) = found else {
            let _ = req.reply.send(Err(WriteError::NotWritable { tag: format!("{:?}", req.tag) }));
            return;
        };
        let result = self.write_to(live, di, ii, req.tag, req.value).await;
        if let Err(e) = &result {
            stats[di].request_failed(ErrorKind::Write, &e.to_string());
        }
        let _ = req.reply.send(result);
    }

    pub(super) async fn write_to(
        &mut self,
        live: &Live,
        di: usize,
        ii: usize,
        tag: TagId,
        value: protocols::Value,
    ) -> Result<(), WriteError> {
        let item = &self.devices[di].items[ii];
        let t = item.tags.iter().find(|t| t.id == tag).cloned().unwrap_or_else(|| item.tags[0].clone());
        let name = t.name.clone();
        // Checked again next to the actuator: the agent's check may have been bypassed.
        let spec = t.writable.ok_or_else(|| WriteError::NotWritable { tag: name.clone() })?;
        spec.check(&name, value)?;
        let v = value.as_f64().ok_or_else(|| WriteError::Type { tag: name.clone() })?;
        let node: NodeId = plan::node_id(&item.node, &live.namespaces)
            .map_err(|reason| WriteError::Refused { tag: name.clone(), reason })?;
        if item.last.is_none() {
            // The node's type is needed to write in it: read it once.
            let read = live
                .session
                .read(&[plan::read_value_id(node.clone())], TimestampsToReturn::Neither, 0.0)
                .await;
            let dv = read.map_err(|e| WriteError::Link { tag: name.clone(), reason: e.to_string() })?;
            self.devices[di].items[ii].last = dv.into_iter().next().and_then(|d| d.value);
        }
        let item = &self.devices[di].items[ii];
        let variant = plan::write_variant(item, &t, v)
            .map_err(|reason| WriteError::Refused { tag: name.clone(), reason })?;
        let wv = WriteValue {
            node_id: node,
            attribute_id: AttributeId::Value as u32,
            index_range: Default::default(),
            value: DataValue { value: Some(variant), ..Default::default() },
        };
        let codes = live
            .session
            .write(&[wv])
            .await
            .map_err(|e| WriteError::Link { tag: name.clone(), reason: e.to_string() })?;
        match codes.first() {
            Some(s) if s.is_good() => Ok(()),
            Some(s) => Err(WriteError::Refused {
                tag: name,
                reason: format!("the server answered {}", values::status_name(*s)),
            }),
            None => Err(WriteError::Link { tag: name, reason: "the server answered no status".into() }),
        }
    }
}

/// A write while there is no session: the limits are still checked first, so a bad value is refused
/// as such; a good one is answered at once instead of being left to time out.
pub(super) fn refuse_offline(
    req: WriteRequest,
    limits: &HashMap<TagId, (String, Option<crate::write::WritableSpec>)>,
    endpoint: &str,
) {
    let answer = match limits.get(&req.tag) {
        None => Err(WriteError::NotWritable { tag: format!("{:?}", req.tag) }),
        Some((name, None)) => Err(WriteError::NotWritable { tag: name.clone() }),
        Some((name, Some(spec))) => spec
            .check(name, req.value)
            .and(Err(WriteError::Link { tag: name.clone(), reason: format!("no session with {endpoint}") })),
    };
    let _ = req.reply.send(answer);
}
