//! A device that refuses a merged read: what it will not read over, found by splitting the read, sans-IO.
//!
//! Many devices answer exception 02 (sometimes 03) to any read that covers an unmapped register, so a read
//! merged over a hole between two tags is refused whole and every tag in it goes Bad. [`HoleSearch`]
//! halves the read's tags until each half is answered or is one tag refused alone. Where two halves read
//! alone but not together, two binary searches over reads that grow into the gap between them find the
//! first and the last register the device refuses: that range is forbidden from then on, or, when the
//! device refuses only the crossing (its register tables meet there), a [`Cut`] keeps reads apart.
//! The driver makes each [`Probe`] and reports whether it was refused; the search never does I/O.

use std::ops::Range;

use protocols::modbus::plan::{Block, Cut};

/// Requests one search may make; a device that refuses at random must not hold the link. What is not
/// learnt by then is searched again at the next scan, from the smaller reads of the new plan.
pub const MAX_PROBES: usize = 128;

/// What a search found out about the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lesson {
    /// Registers the device refuses to read over; none of them is a tag of the device.
    Forbid(Block),
    /// The device refuses a read across this boundary, and no register by it can be forbidden instead.
    Cut(Cut),
    /// The tag (an index into the search's tags) is refused even alone.
    RefusedAlone(usize),
}

/// A read to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub block: Block,
    /// The tags (indices into the search's tags) whose samples come from this read's answer; none for a
    /// read that only narrows down a hole.
    pub serves: Option<Range<usize>>,
}

#[derive(Debug, Clone)]
enum Step {
    /// Tags `lo..hi` were refused together: read `lo..mid`, then `mid..hi`.
    Split { lo: usize, mid: usize, hi: usize, left_refused: Option<bool> },
    /// `[start, ok)` is answered, `[start, refused)` refused: the first refused register is in between.
    First { edges: Edges, ok: u32, refused: u32 },
    /// `[refused, end)` is refused, `[ok, end)` answered, the first refused register is `first`.
    Last { edges: Edges, first: u32, refused: u32, ok: u32 },
}

/// Two neighbouring halves, answered alone, refused together.
#[derive(Debug, Clone, Copy)]
struct Edges {
    left: Block,
    right: Block,
}

#[derive(Debug, Clone)]
pub struct HoleSearch {
    /// The refused read's tags, sorted by start.
    tags: Vec<Block>,
    /// Every tag of the device, in any poll group: never forbidden.
    keep: Vec<Block>,
    /// Tag ranges (`lo..hi`, as pairs) refused together, still to split.
    todo: Vec<(usize, usize)>,
    step: Option<Step>,
    probes: usize,
    lessons: Vec<Lesson>,
}

impl HoleSearch {
    /// For a read of `tags` (sorted by start, at least two) that was refused; `keep` is every tag of the
    /// device.
    pub fn new(tags: Vec<Block>, keep: Vec<Block>) -> Self {
        let todo = vec![(0, tags.len())];
        HoleSearch { tags, keep, todo, step: None, probes: 0, lessons: Vec::new() }
    }

    /// The next read to make, or `None` when the search is over (done, or out of probes).
    pub fn next_probe(&mut self) -> Option<Probe> {
        if self.probes >= MAX_PROBES {
            return None;
        }
        if self.step.is_none() {
            let (lo, hi) = self.todo.pop()?;
            self.step = Some(Step::Split { lo, mid: (lo + hi) / 2, hi, left_refused: None });
        }
        self.probes += 1;
        let probe = match self.step.as_ref()? {
            Step::Split { lo, mid, hi, left_refused } => {
                let serves = if left_refused.is_none() { *lo..*mid } else { *mid..*hi };
                Probe { block: self.block(serves.clone()), serves: Some(serves) }
            }
            Step::First { edges, ok, refused } => {
                let end = (ok + refused) / 2;
                Probe { block: span(edges.left, u32::from(edges.left.start), end), serves: None }
            }
            Step::Last { edges, refused, ok, .. } => {
                let start = (refused + ok).div_ceil(2);
                Probe { block: span(edges.left, start, edges.right.end()), serves: None }
            }
        };
        Some(probe)
    }

    /// The answer to the last [`HoleSearch::next_probe`]: refused with exception 02 or 03, or answered.
    pub fn answer(&mut self, refused: bool) {
        match self.step.take() {
            None => {}
            Some(Step::Split { lo, mid, hi, left_refused: None }) => {
                self.step = Some(Step::Split { lo, mid, hi, left_refused: Some(refused) });
            }
            Some(Step::Split { lo, mid, hi, left_refused: Some(left) }) => {
                for (half, was_refused) in [(lo..mid, left), (mid..hi, refused)] {
                    match (was_refused, half.len()) {
                        (false, _) => {}
                        (true, 1) => self.lessons.push(Lesson::RefusedAlone(half.start)),
                        (true, _) => self.todo.push((half.start, half.end)),
                    }
                }
                if !left && !refused {
                    self.crossing(Edges { left: self.block(lo..mid), right: self.block(mid..hi) });
                }
            }
            Some(Step::First { edges, ok, refused: r }) => {
                let end = (ok + r) / 2;
                let (ok, r) = if refused { (ok, end) } else { (end, r) };
                self.step = Some(if r - ok > 1 {
                    Step::First { edges, ok, refused: r }
                } else {
                    Step::Last {
                        edges,
                        first: ok,
                        refused: u32::from(edges.left.start),
                        ok: u32::from(edges.right.start),
                    }
                });
            }
            Some(Step::Last { edges, first, refused: r, ok }) => {
                let start = (r + ok).div_ceil(2);
                let (r, ok) = if refused { (start, ok) } else { (r, start) };
                if ok - r > 1 {
                    self.step = Some(Step::Last { edges, first, refused: r, ok });
                } else {
                    self.learn(edges, first, r);
                }
            }
        }
    }

    /// Whether every tag got its answer (the search did not run out of probes).
    pub fn is_complete(&self) -> bool {
        self.step.is_none() && self.todo.is_empty()
    }

    pub fn lessons(&self) -> &[Lesson] {
        &self.lessons
    }

    /// The registers tags `range` need, as one read.
    fn block(&self, range: Range<usize>) -> Block {
        let tags = &self.tags[range];
        let start = tags.iter().map(|t| t.start).min().unwrap_or(0);
        let end = tags.iter().map(Block::end).max().unwrap_or(0);
        span(tags[0], u32::from(start), end)
    }

    fn crossing(&mut self, edges: Edges) {
        let gap = (edges.left.end(), u32::from(edges.right.start));
        if gap.0 >= gap.1 || self.free(gap.0, gap.1).is_empty() {
            // Nothing between them that may be forbidden: keep them apart at the right one's start.
            return self.lessons.push(Lesson::Cut(Cut { space: edges.left.space, at: edges.right.start }));
        }
        self.step = Some(Step::First { edges, ok: gap.0, refused: edges.right.end() });
    }

    /// `first` is the first register whose read is refused coming from the left, `last` the last one
    /// coming from the right: a hole when `first <= last`, a boundary at `first` when `first == last + 1`.
    fn learn(&mut self, edges: Edges, first: u32, last: u32) {
        let (gap_start, gap_end) = (edges.left.end(), u32::from(edges.right.start));
        let lo = first.min(last).max(gap_start);
        let hi = (first.max(last) + 1).min(gap_end);
        let pieces = if lo < hi { self.free(lo, hi) } else { Vec::new() };
        if pieces.is_empty() {
            let at = first.clamp(gap_start, gap_end) as u16;
            self.lessons.push(Lesson::Cut(Cut { space: edges.left.space, at }));
        }
        for (start, end) in pieces {
            self.lessons.push(Lesson::Forbid(span(edges.left, start, end)));
        }
    }

    /// The runs of `start..end` that are no tag of the device.
    fn free(&self, start: u32, end: u32) -> Vec<(u32, u32)> {
        let space = self.tags[0].space;
        let taken =
            |a: u32| self.keep.iter().any(|t| t.space == space && u32::from(t.start) <= a && a < t.end());
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for a in (start..end).filter(|&a| !taken(a)) {
            match runs.last_mut() {
                Some(run) if run.1 == a => run.1 = a + 1,
                _ => runs.push((a, a + 1)),
            }
        }
        runs
    }
}

/// `start..end` in the space of `like`.
fn span(like: Block, start: u32, end: u32) -> Block {
    Block::new(like.space, start as u16, (end - start) as u16)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use protocols::modbus::Space::HoldingRegister as Holding;

    use super::*;
    use crate::modbus::learn_tests::Device;

    fn regs(tags: &[(u16, u16)]) -> Vec<Block> {
        tags.iter().map(|&(a, n)| Block::new(Holding, a, n)).collect()
    }

    /// Runs a search to the end: its lessons, and which tags were answered.
    fn search(device: &Device, tags: &[Block], keep: &[Block]) -> (Vec<Lesson>, Vec<bool>, usize) {
        let mut s = HoleSearch::new(tags.to_vec(), keep.to_vec());
        let mut answered = vec![false; tags.len()];
        let mut probes = 0;
        while let Some(p) = s.next_probe() {
            probes += 1;
            let refused = device.refuses(&p.block);
            if let (false, Some(r)) = (refused, &p.serves) {
                answered[r.clone()].iter_mut().for_each(|a| *a = true);
            }
            s.answer(refused);
        }
        assert!(s.is_complete(), "ran out of probes");
        (s.lessons().to_vec(), answered, probes)
    }

    #[test]
    fn the_hole_between_two_tags_is_found_to_the_register() {
        // A meter with registers 0..3 and 10..12 and 40..42 mapped; 20..=25 answer exception 2.
        let device = Device { unmapped: vec![(20, 26)], tables_meet: vec![] };
        let tags = regs(&[(0, 1), (1, 1), (2, 1), (10, 2), (40, 2)]);
        let (lessons, answered, probes) = search(&device, &tags, &tags);
        assert_eq!(lessons, [Lesson::Forbid(Block::new(Holding, 20, 6))]);
        assert_eq!(answered, [true; 5], "every tag got its value from a probe");
        assert!(probes <= 4 + 2 * 6, "{probes} requests");
    }

    #[test]
    fn a_tag_refused_alone_is_told_apart_from_its_neighbours() {
        // Register 3 is not mapped but configured as a tag, right after three good ones.
        let device = Device { unmapped: vec![(3, 4)], tables_meet: vec![] };
        let tags = regs(&[(0, 1), (1, 1), (2, 1), (3, 1)]);
        let (lessons, answered, _) = search(&device, &tags, &tags);
        assert_eq!(lessons, [Lesson::RefusedAlone(3)]);
        assert_eq!(answered, [true, true, true, false]);
    }

    #[test]
    fn tables_that_meet_between_two_tags_become_a_cut() {
        let device = Device { unmapped: vec![], tables_meet: vec![100] };
        // Adjacent f32s on both sides of the boundary: nothing between them to forbid.
        let tags = regs(&[(96, 2), (98, 2), (100, 2), (102, 2)]);
        let (lessons, answered, _) = search(&device, &tags, &tags);
        assert_eq!(lessons, [Lesson::Cut(Cut { space: Holding, at: 100 })]);
        assert_eq!(answered, [true; 4]);
        // With a gap, the register just past the boundary is forbidden: a config line can say that.
        let tags = regs(&[(96, 2), (98, 1), (103, 2)]);
        let (lessons, _, _) = search(&device, &tags, &tags);
        assert_eq!(lessons, [Lesson::Forbid(Block::new(Holding, 99, 2))]);
    }

    #[test]
    fn a_tag_of_another_poll_group_in_the_gap_is_never_forbidden() {
        let device = Device { unmapped: vec![(20, 30)], tables_meet: vec![] };
        let tags = regs(&[(10, 2), (40, 2)]);
        let keep = regs(&[(10, 2), (40, 2), (24, 2)]);
        let (lessons, _, _) = search(&device, &tags, &keep);
        assert_eq!(
            lessons,
            [Lesson::Forbid(Block::new(Holding, 20, 4)), Lesson::Forbid(Block::new(Holding, 26, 4))]
        );
    }

    #[test]
    fn a_device_that_refuses_everything_stops_at_the_probe_limit() {
        let device = Device { unmapped: vec![(0, 1000)], tables_meet: vec![] };
        let tags: Vec<Block> = (0..120).map(|a| Block::new(Holding, a, 1)).collect();
        let mut s = HoleSearch::new(tags.clone(), tags);
        let mut probes = 0;
        while let Some(p) = s.next_probe() {
            probes += 1;
            s.answer(device.refuses(&p.block));
        }
        assert_eq!(probes, MAX_PROBES);
        assert!(!s.is_complete());
    }

    proptest! {
        /// Whatever the holes and boundaries: every tag that the device answers alone is answered by the
        /// search, every lesson is true of the device, and no forbidden register is a tag.
        #[test]
        fn every_lesson_is_true_and_every_readable_tag_is_read(
            tags in prop::collection::vec((0u16..60, 1u16..4), 2..10),
            unmapped in prop::collection::vec((0u32..64, 1u32..4), 0..3),
            tables_meet in prop::collection::vec(1u32..64, 0..2),
            pick in any::<u32>(),
        ) {
            let mut device = Device { unmapped: unmapped.iter().map(|&(a, n)| (a, a + n)).collect(), tables_meet };
            let mut tags = regs(&tags);
            tags.sort_by_key(|t| (t.start, core::cmp::Reverse(t.count)));
            let (start, end) = (u32::from(tags[0].start), tags.iter().map(Block::end).max().unwrap());
            if !device.refuses(&Block::new(Holding, start as u16, (end - start) as u16)) {
                // The search starts from a refused read: make this one refused, somewhere inside.
                let at = start + pick % (end - start);
                device.unmapped.push((at, at + 1));
            }
            let (lessons, answered, _) = search(&device, &tags, &tags);
            for (i, t) in tags.iter().enumerate() {
                prop_assert_eq!(answered[i], !device.refuses(t), "{}", t);
            }
            for lesson in &lessons {
                match *lesson {
                    // A forbidden range is never a tag, and is refused or borders where tables meet.
                    Lesson::Forbid(f) => {
                        prop_assert!(!tags.iter().any(|t| t.overlaps(&f)), "{} is a tag", f);
                        let borders = device.tables_meet.iter().any(|&c| c == u32::from(f.start) || c == f.end());
                        prop_assert!(device.refuses(&f) || borders, "{} reads fine", f);
                    }
                    Lesson::RefusedAlone(i) => prop_assert!(device.refuses(&tags[i])),
                    Lesson::Cut(_) => {}
                }
            }
        }
    }
}
