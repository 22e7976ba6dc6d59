//! The request planner: which reads serve one poll group of a device's tags.
//!
//! Each tag is a [`Block`] (space, wire start, register or bit count). Per space, tags sorted by start are
//! swept once: a read opens at the first tag and grows while the next tag keeps the read within the
//! space's limit, leaves a hole of unwanted registers no larger than `max_gap`, covers no forbidden
//! range and crosses no [`Cut`]; otherwise a new read opens at that tag. Overlapping and duplicate tags share registers.
//!
//! # Why the greedy sweep is optimal
//!
//! Compare it with any valid plan that cuts the same sorted list into contiguous groups. Whenever the
//! sweep cuts before tag `c`, tag `c` failed to join because it reaches past the open read's end (a
//! tag inside the read never changes its extent, hole, forbidden or cut test), and that end already covers
//! every earlier tag. So from `c` on, a group that started earlier has the same running end as one
//! that starts at `c`: the same holes, and a block that only gets shorter. Any valid group of the other
//! plan that straddles the cut therefore stays valid when trimmed to start at `c`, so by induction after
//! `k` reads the sweep has served at least as many tags as the other plan has after `k` groups
//! ("greedy stays ahead"), and it never needs more reads. `plan_tests.rs` checks this against brute force.
//!
//! No allocation: the caller passes the buffers ([`plan`]); with `std`, `plan_vec` allocates them.

use core::fmt;

use super::address::Space;

/// A run of consecutive registers (or bits) in one space: a tag, a read (a "block read") or a forbidden
/// range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    pub space: Space,
    pub start: u16,
    pub count: u16,
}

impl Block {
    pub const fn new(space: Space, start: u16, count: u16) -> Self {
        Block { space, start, count }
    }

    /// One past the last address; `u32` because a block may end exactly at 65536.
    pub fn end(&self) -> u32 {
        u32::from(self.start) + u32::from(self.count)
    }

    /// Shares at least one address with `other` in the same space.
    pub fn overlaps(&self, other: &Block) -> bool {
        self.space == other.space
            && u32::from(self.start) < other.end()
            && u32::from(other.start) < self.end()
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}..{} (wire)", self.space, self.start, self.end())
    }
}

/// A boundary no read may cross: no read covers both `at - 1` and `at`. Devices whose register tables
/// meet there refuse such a read even with no unmapped register in it; a tag that crosses it alone is
/// still read (the device answers it, or it is refused as any tag can be).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cut {
    pub space: Space,
    pub at: u16,
}

impl Cut {
    /// `block` covers both sides of the boundary.
    pub fn crossed_by(&self, block: &Block) -> bool {
        self.space == block.space && block.start < self.at && u32::from(self.at) < block.end()
    }
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}|{} (wire)", self.space, self.at.wrapping_sub(1), self.at)
    }
}

/// What one device tolerates in a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits<'f> {
    /// Registers per read for holding and input registers; capped at the spec's 125.
    pub max_registers: u16,
    /// Bits per read for coils and discrete inputs; capped at the spec's 2000.
    pub max_bits: u16,
    /// Largest hole of unwanted addresses worth reading over to save a request.
    pub max_gap: u16,
    /// Ranges that must never be read (unmapped registers that answer with exception 2, say).
    pub forbidden: &'f [Block],
    /// Boundaries no read crosses.
    pub cuts: &'f [Cut],
}

impl Default for Limits<'_> {
    /// The spec's limits and no gaps: reading over an unmapped hole can fail the whole read.
    fn default() -> Self {
        Limits { max_registers: 125, max_bits: 2000, max_gap: 0, forbidden: &[], cuts: &[] }
    }
}

impl Limits<'_> {
    /// The largest read in `space`: the configured limit, never above the spec (V1.1b3 §6.1-6.4).
    pub fn max_read(&self, space: Space) -> u16 {
        let configured = if space.is_bits() { self.max_bits } else { self.max_registers };
        configured.min(space.max_read())
    }

    fn forbidden_in(&self, block: &Block) -> Option<Block> {
        self.forbidden.iter().copied().find(|f| f.count > 0 && f.overlaps(block))
    }
}

/// Where a tag's registers are found: `reads[read]`, from `offset` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    pub read: usize,
    pub offset: u16,
}

/// Why a tag cannot be read at all. The caller adds which device and tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagError {
    /// A tag of zero registers.
    Empty,
    /// The tag runs past address 65535.
    PastEnd,
    /// The tag alone is longer than one read may be.
    TooLong { max: u16 },
    /// The tag covers addresses the device must not be asked for.
    Forbidden { range: Block },
}

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagError::Empty => f.write_str("the tag spans no registers; give it a length of at least 1"),
            TagError::PastEnd => f.write_str("the tag runs past the last address, 65535; check its address"),
            TagError::TooLong { max } => {
                write!(f, "the tag is longer than one read may be ({max}); split it or raise the limit")
            }
            TagError::Forbidden { range } => {
                write!(f, "the tag overlaps the forbidden range {range}; check its address or the range")
            }
        }
    }
}

impl core::error::Error for TagError {}

/// A buffer given to [`plan`] is shorter than the tag list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuffersTooSmall {
    pub need: usize,
}

impl fmt::Display for BuffersTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the planner needs buffers of at least {} entries", self.need)
    }
}

impl core::error::Error for BuffersTooSmall {}

/// Plans the reads for `tags` and returns how many it wrote to `reads`.
///
/// `served[i]` says where `tags[i]` is found, or why it cannot be read. `order` is scratch space. All three
/// buffers need `tags.len()` entries (one read per tag is the worst case). Reads come out sorted by space,
/// then address.
pub fn plan(
    tags: &[Block],
    limits: &Limits<'_>,
    order: &mut [usize],
    reads: &mut [Block],
    served: &mut [Result<Served, TagError>],
) -> Result<usize, BuffersTooSmall> {
    let n = tags.len();
    let need = BuffersTooSmall { need: n };
    let order = order.get_mut(..n).ok_or(need)?;
    let served = served.get_mut(..n).ok_or(need)?;
    let reads = reads.get_mut(..n).ok_or(need)?;

    let mut valid = 0;
    for (i, tag) in tags.iter().enumerate() {
        served[i] = check(tag, limits);
        if served[i].is_ok() {
            order[valid] = i;
            valid += 1;
        }
    }
    let order = &mut order[..valid];
    // Longest first among equal starts, so shorter duplicates ride along inside the longer tag.
    order.sort_unstable_by_key(|&i| (tags[i].space, tags[i].start, core::cmp::Reverse(tags[i].count), i));

    let mut n_reads = 0;
    let mut open: Option<Block> = None;
    for &i in order.iter() {
        let tag = tags[i];
        let joined = open.and_then(|read| extend(read, &tag, limits));
        let read = match joined {
            Some(read) => read,
            None => {
                if let Some(done) = open {
                    reads[n_reads] = done;
                    n_reads += 1;
                }
                tag
            }
        };
        open = Some(read);
        served[i] = Ok(Served { read: n_reads, offset: tag.start - read.start });
    }
    if let Some(done) = open {
        reads[n_reads] = done;
        n_reads += 1;
    }
    Ok(n_reads)
}

/// A tag that can be read on its own.
fn check(tag: &Block, limits: &Limits<'_>) -> Result<Served, TagError> {
    if tag.count == 0 {
        return Err(TagError::Empty);
    }
    if tag.end() > 0x1_0000 {
        return Err(TagError::PastEnd);
    }
    let max = limits.max_read(tag.space);
    if tag.count > max {
        return Err(TagError::TooLong { max });
    }
    if let Some(range) = limits.forbidden_in(tag) {
        return Err(TagError::Forbidden { range });
    }
    Ok(Served { read: 0, offset: 0 })
}

/// `read` grown to cover `tag` (which starts at or after it), if that keeps it within the limits.
fn extend(read: Block, tag: &Block, limits: &Limits<'_>) -> Option<Block> {
    if tag.space != read.space {
        return None;
    }
    let gap = u32::from(tag.start).saturating_sub(read.end());
    if gap > u32::from(limits.max_gap) {
        return None;
    }
    let end = read.end().max(tag.end());
    let count = u16::try_from(end - u32::from(read.start)).ok()?;
    if count > limits.max_read(read.space) {
        return None;
    }
    let grown = Block { count, ..read };
    if limits.forbidden_in(&grown).is_some() || limits.cuts.iter().any(|c| c.crossed_by(&grown)) {
        return None;
    }
    Some(grown)
}

/// [`plan`] with buffers it allocates: the reads, and where each tag is found.
#[cfg(feature = "std")]
pub fn plan_vec(tags: &[Block], limits: &Limits<'_>) -> (Vec<Block>, Vec<Result<Served, TagError>>) {
    let mut order = vec![0; tags.len()];
    let mut reads = vec![Block::new(Space::HoldingRegister, 0, 0); tags.len()];
    let mut served = vec![Err(TagError::Empty); tags.len()];
    let n = plan(tags, limits, &mut order, &mut reads, &mut served).unwrap_or(0);
    reads.truncate(n);
    (reads, served)
}
