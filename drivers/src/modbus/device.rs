//! A device's scan plan: for each poll group, the fewest reads that cover its tags (the planner in
//! `protocols`), and how each answer becomes samples.

use std::time::Duration;

use protocols::modbus::pdu::Exception;
use protocols::modbus::plan::{Block, Limits, plan_vec};
use protocols::modbus::{DataType, Space, TagCodec};
use protocols::{Quality, Reason, Sample, TagId, TextPool, Timestamp, Value};

use super::config::{ModbusDeviceConfig, base_of, parse_range};
use super::transport::Answer;

/// One tag placed in a read.
#[derive(Debug, Clone)]
pub struct PlannedTag {
    pub id: TagId,
    pub name: String,
    pub codec: TagCodec,
    pub read: usize,
    pub offset: u16,
}

/// Tags read at one rate.
#[derive(Debug, Clone)]
pub struct Group {
    pub period: Duration,
    pub reads: Vec<Block>,
    pub tags: Vec<PlannedTag>,
}

/// A writable tag: where it lives and how its value is encoded.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    pub id: TagId,
    pub name: String,
    pub limits: crate::write::WritableSpec,
    pub space: Space,
    pub wire: u16,
    pub codec: TagCodec,
}

#[derive(Debug, Clone)]
pub struct DevicePlan {
    pub name: String,
    pub unit: u8,
    pub groups: Vec<Group>,
    pub writes: Vec<WriteTarget>,
}

impl DevicePlan {
    /// Plans `cfg` (already checked by `problems()`); `tag_id` names tags as the agent registered them.
    pub fn new(
        cfg: &ModbusDeviceConfig,
        tag_id: &impl Fn(&str) -> Option<TagId>,
    ) -> Result<DevicePlan, String> {
        let device = cfg.name.get_ref();
        let base = base_of(cfg);
        let forbidden: Vec<Block> =
            cfg.forbidden.iter().filter_map(|f| parse_range(f.get_ref(), base)).collect();
        let limits = Limits {
            max_registers: *cfg.max_registers.get_ref(),
            max_bits: 2000,
            max_gap: cfg.max_gap,
            forbidden: &forbidden,
            cuts: &[],
        };
        let mut resolved = Vec::new();
        for t in &cfg.tags {
            let plan = t
                .resolve(base)
                .map_err(|(_, m)| format!("device {device} / tag {}: {m}", t.name.get_ref()))?;
            let id = tag_id(&plan.name)
                .ok_or_else(|| format!("device {device}: tag {} is not registered", plan.name))?;
            resolved.push((id, plan));
        }
        let mut names: Vec<Option<&String>> = vec![None];
        names.extend(cfg.poll_groups.keys().map(Some));
        let mut groups = Vec::new();
        for group in names {
            let period = group.map_or(cfg.scan.get(), |g| cfg.poll_groups[g].get());
            let members: Vec<&(TagId, super::config::TagPlan)> =
                resolved.iter().filter(|(_, p)| p.group.as_ref() == group).collect();
            if members.is_empty() {
                continue;
            }
            let blocks: Vec<Block> = members
                .iter()
                .map(|(_, p)| Block::new(p.address.space, p.address.wire, p.codec.registers()))
                .collect();
            let (reads, served) = plan_vec(&blocks, &limits);
            let mut tags = Vec::new();
            for ((id, p), s) in members.iter().zip(served) {
                let s = s.map_err(|e| format!("device {device} / tag {}: cannot be read: {e:?}", p.name))?;
                tags.push(PlannedTag {
                    id: *id,
                    name: p.name.clone(),
                    codec: p.codec,
                    read: s.read,
                    offset: s.offset,
                });
            }
            groups.push(Group { period, reads, tags });
        }
        let writes = resolved
            .iter()
            .filter_map(|(id, p)| p.writable.map(|limits| (id, p, limits)))
            .map(|(id, p, limits)| WriteTarget {
                id: *id,
                name: p.name.clone(),
                limits,
                space: p.address.space,
                wire: p.address.wire,
                codec: p.codec,
            })
            .collect();
        Ok(DevicePlan { name: device.clone(), unit: *cfg.unit.get_ref(), groups, writes })
    }
}

impl Group {
    /// Samples of the tags served by read `read`, from its answer.
    pub fn decode(
        &self,
        read: usize,
        answer: &Answer,
        ts: Timestamp,
        texts: &TextPool,
        out: &mut Vec<Sample>,
    ) -> usize {
        let mut decode_errors = 0;
        for t in self.tags.iter().filter(|t| t.read == read) {
            let at = t.offset as usize;
            let n = t.codec.registers() as usize;
            let value = match answer {
                Answer::Registers(regs) => match regs.get(at..at + n) {
                    Some(words) if matches!(t.codec.data_type(), DataType::Text(_)) => {
                        let mut buf = [0u8; 512];
                        t.codec.decode_text(words, &mut buf).map(|s| Value::Text(texts.intern(s)))
                    }
                    Some(words) => t.codec.decode(words),
                    None => Err(protocols::modbus::ValueError::Short {
                        need: n as u16,
                        got: regs.len().saturating_sub(at),
                    }),
                },
                Answer::Bits(bits) => match bits.get(at) {
                    Some(&b) => t.codec.decode(&[b as u16]),
                    None => Err(protocols::modbus::ValueError::Short { need: 1, got: 0 }),
                },
                Answer::Written => continue,
            };
            out.push(match value {
                Ok(v) => Sample::good(t.id, ts, v),
                Err(_) => {
                    decode_errors += 1;
                    Sample::bad(t.id, ts, Reason::DecodeError)
                }
            });
        }
        decode_errors
    }

    /// Bad samples for the tags of read `read`: the device refused it, or it never answered.
    pub fn fail(&self, read: usize, why: Failure, ts: Timestamp, out: &mut Vec<Sample>) {
        let reason = match why {
            Failure::Exception(e) => Reason::Exception(e.code()),
            Failure::Timeout => Reason::Timeout,
            Failure::Link => Reason::CommsLost,
        };
        for t in self.tags.iter().filter(|t| t.read == read) {
            out.push(Sample { tag: t.id, ts, value: Value::Float(f64::NAN), quality: Quality::Bad(reason) });
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Failure {
    Exception(Exception),
    Timeout,
    Link,
}
