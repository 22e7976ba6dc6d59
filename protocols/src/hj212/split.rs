//! Splitting a segment over `MAX_SEGMENT` into packets with `PNUM`/`PNO` and Flag's D bit
//! (HJ 212-2017 §6.3.3). Cuts fall between groups, or between fields of a group too long alone, so
//! no cut lands inside a value (nor inside a multi-byte character). A leading `DataTime` group is
//! repeated in every packet: each packet then reads alone on a platform that does not reassemble.

use alloc::string::String;
use alloc::vec::Vec;

use super::segment::encode_group;
use super::{Cp, Field, Flag, Hj212Error, Segment};

/// The segment as one or more segments none longer than `max` bytes encoded.
pub fn split(seg: &Segment, max: usize) -> Result<Vec<Segment>, Hj212Error> {
    let mut whole = String::new();
    seg.encode(&mut whole)?;
    if whole.len() <= max {
        return Ok(alloc::vec![seg.clone()]);
    }
    // The header at its longest, so every packet's own numbers fit.
    let mut header = seg.clone();
    header.cp = Cp::default();
    header.packet = Some((9999, 9999));
    header.flag = Some(header.flag.unwrap_or(Flag(0)).with_packet(true));
    let mut probe = String::new();
    header.encode(&mut probe)?;
    let mut groups: &[Vec<Field>] = &seg.cp.groups;
    let mut common: Option<&Vec<Field>> = None;
    if let Some((first, rest)) = groups.split_first()
        && !first.is_empty()
        && first.iter().all(|f| f.key == "DataTime")
    {
        common = Some(first);
        groups = rest;
    }
    let common_len = common.map_or(0, |g| group_len(g) + 1);
    let room = max
        .checked_sub(probe.len() + common_len)
        .filter(|r| *r > 0)
        .ok_or(Hj212Error::TooLong { len: probe.len() + common_len, max })?;

    // Pieces: whole groups, or runs of fields of a group too long for a packet.
    let mut pieces: Vec<Vec<Field>> = Vec::new();
    for g in groups.iter().filter(|g| !g.is_empty()) {
        if group_len(g) <= room {
            pieces.push(g.clone());
            continue;
        }
        let mut run: Vec<Field> = Vec::new();
        for f in g {
            let flen = f.key.len() + 1 + f.value.len();
            if flen > room {
                return Err(Hj212Error::Unsplittable { field: f.key.clone(), len: flen, max: room });
            }
            if !run.is_empty() && group_len(&run) + 1 + flen > room {
                pieces.push(core::mem::take(&mut run));
            }
            run.push(f.clone());
        }
        pieces.push(run);
    }

    let mut packets: Vec<Vec<Vec<Field>>> = Vec::new();
    let mut used = 0usize;
    for p in pieces {
        let plen = group_len(&p);
        match packets.last_mut() {
            Some(last) if used + 1 + plen <= room => {
                last.push(p);
                used += 1 + plen;
            }
            _ => {
                packets.push(alloc::vec![p]);
                used = plen;
            }
        }
    }
    let pnum = u16::try_from(packets.len())
        .ok()
        .filter(|n| *n <= 9999)
        .ok_or(Hj212Error::TooLong { len: whole.len(), max: max * 9999 })?;
    Ok(packets
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut p = header.clone();
            p.packet = Some((pnum, i as u16 + 1));
            p.cp.groups = common.into_iter().cloned().chain(body).collect();
            p
        })
        .collect())
}

fn group_len(g: &[Field]) -> usize {
    let mut s = String::new();
    let _ = encode_group(g, &mut s);
    s.len()
}

/// Puts the packets of one split segment back together, in `PNO` order; `None` until all are there.
pub fn reassemble(packets: &[Segment]) -> Option<Segment> {
    let (pnum, _) = packets.first()?.packet?;
    let mut sorted: Vec<&Segment> = packets.iter().collect();
    sorted.sort_by_key(|p| p.packet.map(|(_, n)| n));
    if sorted.len() != usize::from(pnum)
        || sorted.iter().enumerate().any(|(i, p)| p.packet != Some((pnum, i as u16 + 1)))
    {
        return None;
    }
    let first = sorted[0];
    let mut out = first.clone();
    out.packet = None;
    out.flag = first.flag.map(|f| f.with_packet(false));
    out.cp.groups.clear();
    let repeated = first.cp.groups.first().filter(|g| g.iter().all(|f| f.key == "DataTime")).cloned();
    if let Some(g) = &repeated {
        out.cp.groups.push(g.clone());
    }
    for p in sorted {
        let skip = usize::from(repeated.is_some());
        out.cp.groups.extend(p.cp.groups.iter().skip(skip).cloned());
    }
    Some(out)
}
