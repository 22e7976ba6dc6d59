//! A device's scan plan: for each poll group, the fewest reads that cover its tags (the planner in
//! `protocols`), how each answer becomes samples, and what the device taught us it refuses to read.

use std::time::Duration;

use protocols::modbus::pdu::Exception;
use protocols::modbus::plan::{Block, Cut, Limits, TagError, plan_vec};
use protocols::modbus::{Base, DataType, Space, TagCodec};
use protocols::{Quality, Reason, Sample, TagId, TextPool, Timestamp, Value};

use super::config::{ModbusDeviceConfig, base_of, parse_range};
use super::holes::Lesson;
use super::transport::Answer;

/// One tag placed in a read.
#[derive(Debug, Clone)]
pub struct PlannedTag {
    pub id: TagId,
    pub name: String,
    pub codec: TagCodec,
    /// The registers (or bits) it is read from.
    pub block: Block,
    /// Which of its group's reads serves it.
    pub read: usize,
    /// The device refused it even alone: it is read apart from the tags that answer.
    pub refused: bool,
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
    /// Where the device's manual starts numbering, for the config lines the driver suggests.
    pub base: Base,
    pub groups: Vec<Group>,
    pub writes: Vec<WriteTarget>,
    max_registers: u16,
    max_gap: u16,
    /// The config's forbidden ranges, then those the device taught us.
    pub forbidden: Vec<Block>,
    /// Boundaries the device refuses to read across, as it taught us.
    pub cuts: Vec<Cut>,
}

impl DevicePlan {
    /// Plans `cfg` (already checked by `problems()`); `tag_id` names tags as the agent registered them.
    pub fn new(
        cfg: &ModbusDeviceConfig,
        tag_id: &impl Fn(&str) -> Option<TagId>,
    ) -> Result<DevicePlan, String> {
        let device = cfg.name.get_ref();
        let base = base_of(cfg);
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
            let tags: Vec<PlannedTag> = resolved
                .iter()
                .filter(|(_, p)| p.group.as_ref() == group)
                .map(|(id, p)| PlannedTag {
                    id: *id,
                    name: p.name.clone(),
                    codec: p.codec,
                    block: Block::new(p.address.space, p.address.wire, p.codec.registers()),
                    read: 0,
                    refused: false,
                })
                .collect();
            if !tags.is_empty() {
                groups.push(Group { period, reads: Vec::new(), tags });
            }
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
        let mut plan = DevicePlan {
            name: device.clone(),
            unit: *cfg.unit.get_ref(),
            base,
            groups,
            writes,
            max_registers: *cfg.max_registers.get_ref(),
            max_gap: cfg.max_gap,
            forbidden: cfg.forbidden.iter().filter_map(|f| parse_range(f.get_ref(), base)).collect(),
            cuts: Vec::new(),
        };
        plan.replan()?;
        Ok(plan)
    }

    fn limits(&self) -> Limits<'_> {
        Limits {
            max_registers: self.max_registers,
            max_bits: 2000,
            max_gap: self.max_gap,
            forbidden: &self.forbidden,
            cuts: &self.cuts,
        }
    }

    /// Plans every group again, with what the device taught us; the plan stays as it was if one fails.
    fn replan(&mut self) -> Result<(), String> {
        let mut groups = self.groups.clone();
        for g in &mut groups {
            g.plan(&self.limits()).map_err(|(t, e)| {
                format!("device {} / tag {}: cannot be read: {e}", self.name, g.tags[t].name)
            })?;
        }
        self.groups = groups;
        Ok(())
    }

    /// Takes in what a search of a refused read of group `gi` found (`tags[i]` is the group's tag the
    /// search calls `i`) and plans again.
    pub fn learn(&mut self, gi: usize, tags: &[usize], lessons: &[Lesson]) -> Result<(), String> {
        let before = self.clone();
        for lesson in lessons {
            match *lesson {
                Lesson::Forbid(range) if !self.forbidden.contains(&range) => self.forbidden.push(range),
                Lesson::Cut(cut) if !self.cuts.contains(&cut) => self.cuts.push(cut),
                Lesson::RefusedAlone(i) => self.groups[gi].tags[tags[i]].refused = true,
                Lesson::Forbid(_) | Lesson::Cut(_) => {}
            }
        }
        self.replan().inspect_err(|_| *self = before)
    }

    /// Tags of group `gi` refused alone before were answered: they join the others' reads again.
    pub fn forgive(&mut self, gi: usize, tags: &[usize]) -> Result<(), String> {
        for &t in tags {
            self.groups[gi].tags[t].refused = false;
        }
        self.replan()
    }

    /// Every tag of the device, whatever its group.
    pub fn tag_blocks(&self) -> Vec<Block> {
        self.groups.iter().flat_map(|g| g.tags.iter().map(|t| t.block)).collect()
    }
}

impl Group {
    /// Plans the reads: the tags that answer together, and apart from them those refused alone (so a
    /// refusal of theirs costs nobody else a value). On failure, which tag and why.
    fn plan(&mut self, limits: &Limits<'_>) -> Result<(), (usize, TagError)> {
        self.reads.clear();
        for refused in [false, true] {
            let members: Vec<usize> =
                (0..self.tags.len()).filter(|&i| self.tags[i].refused == refused).collect();
            let blocks: Vec<Block> = members.iter().map(|&i| self.tags[i].block).collect();
            let (reads, served) = plan_vec(&blocks, limits);
            for (&i, s) in members.iter().zip(served) {
                self.tags[i].read = self.reads.len() + s.map_err(|e| (i, e))?.read;
            }
            self.reads.extend(reads);
        }
        Ok(())
    }

    /// Whether read `read`, refused, is worth splitting: tags of at least two places, not tags already
    /// known to be refused alone.
    pub fn splittable(&self, read: usize) -> bool {
        let mut tags = self.tags_of(read).map(|t| &self.tags[t]);
        let Some(first) = tags.next() else { return false };
        !first.refused && tags.any(|t| t.block != first.block)
    }

    /// The tags of read `read` in the order a [`super::holes::HoleSearch`] takes them: by start, the
    /// longest first.
    pub fn by_start(&self, read: usize) -> Vec<usize> {
        let mut tags: Vec<usize> = self.tags_of(read).collect();
        tags.sort_by_key(|&t| (self.tags[t].block.start, std::cmp::Reverse(self.tags[t].block.count)));
        tags
    }

    /// The indices of the tags served by read `read`.
    pub fn tags_of(&self, read: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.tags.len()).filter(move |&i| self.tags[i].read == read)
    }

    /// Samples of the tags served by read `read`, from its answer.
    pub fn decode(
        &self,
        read: usize,
        answer: &Answer,
        ts: Timestamp,
        texts: &TextPool,
        out: &mut Vec<Sample>,
    ) -> usize {
        let tags: Vec<usize> = self.tags_of(read).collect();
        self.decode_tags(&tags, self.reads[read].start, answer, ts, texts, out)
    }

    /// Samples of `tags`, from the answer to a read that starts at wire address `start`.
    pub fn decode_tags(
        &self,
        tags: &[usize],
        start: u16,
        answer: &Answer,
        ts: Timestamp,
        texts: &TextPool,
        out: &mut Vec<Sample>,
    ) -> usize {
        let mut decode_errors = 0;
        for t in tags.iter().map(|&i| &self.tags[i]) {
            let at = usize::from(t.block.start - start);
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
        let tags: Vec<usize> = self.tags_of(read).collect();
        self.fail_tags(&tags, why, ts, out);
    }

    /// Bad samples for every tag of the group.
    pub fn fail_all(&self, why: Failure, ts: Timestamp, out: &mut Vec<Sample>) {
        let tags: Vec<usize> = (0..self.tags.len()).collect();
        self.fail_tags(&tags, why, ts, out);
    }

    pub fn fail_tags(&self, tags: &[usize], why: Failure, ts: Timestamp, out: &mut Vec<Sample>) {
        let reason = match why {
            Failure::Exception(e) => Reason::Exception(e.code()),
            Failure::Timeout => Reason::Timeout,
            Failure::Link => Reason::CommsLost,
        };
        for t in tags.iter().map(|&i| &self.tags[i]) {
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
