//! The planner on plant-like tag lists, and against brute force on small random ones.

use proptest::prelude::*;

use super::address::Space::{self, Coil, HoldingRegister as Holding, InputRegister as Input};
use super::plan::{Block, BuffersTooSmall, Cut, Limits, Served, TagError, plan, plan_vec};

fn limits(max: u16, gap: u16) -> Limits<'static> {
    Limits { max_registers: max, max_bits: max, max_gap: gap, forbidden: &[], cuts: &[] }
}

/// Every rule a plan must keep, checked on the plan itself: each read within the space's limit, away from
/// forbidden ranges, across no cut (unless it is one tag), starting and ending on a served tag, with no
/// hole of unserved addresses longer than `max_gap`; each tag inside its read, or refused exactly when
/// it cannot be read alone.
fn check_plan(tags: &[Block], l: &Limits<'_>, reads: &[Block], served: &[Result<Served, TagError>]) {
    assert_eq!(served.len(), tags.len());
    for (tag, s) in tags.iter().zip(served) {
        let alone = tag.count >= 1
            && tag.end() <= 0x1_0000
            && tag.count <= l.max_read(tag.space)
            && !l.forbidden.iter().any(|f| f.count > 0 && f.overlaps(tag));
        assert_eq!(s.is_ok(), alone, "{tag}: {s:?}");
        if let Ok(Served { read, offset }) = *s {
            let r = reads[read];
            assert_eq!(r.space, tag.space, "{tag} in {r}");
            assert_eq!(u32::from(r.start) + u32::from(offset), u32::from(tag.start), "{tag} in {r}");
            assert!(tag.end() <= r.end(), "{tag} not inside {r}");
        }
    }
    for (i, read) in reads.iter().enumerate() {
        let mine: Vec<&Block> = tags
            .iter()
            .zip(served)
            .filter(|(_, s)| matches!(s, Ok(s) if s.read == i))
            .map(|(t, _)| t)
            .collect();
        assert!(!mine.is_empty(), "{read} serves no tag");
        assert!(
            read.count >= 1 && read.count <= l.max_read(read.space),
            "{read}: max {}",
            l.max_read(read.space)
        );
        assert!(
            !l.forbidden.iter().any(|f| f.count > 0 && f.overlaps(read)),
            "{read} reads a forbidden range"
        );
        assert!(mine.len() == 1 || !l.cuts.iter().any(|c| c.crossed_by(read)), "{read} crosses a cut");
        assert!(mine.iter().any(|t| t.start == read.start), "{read} starts before its first tag");
        assert!(mine.iter().any(|t| t.end() == read.end()), "{read} ends after its last tag");
        let mut hole = 0u32;
        for a in u32::from(read.start)..read.end() {
            let covered = mine.iter().any(|t| u32::from(t.start) <= a && a < t.end());
            hole = if covered { 0 } else { hole + 1 };
            assert!(hole <= u32::from(l.max_gap), "{read}: a hole of {hole} at {a}, max_gap {}", l.max_gap);
        }
    }
}

/// `plan_vec`, checked.
fn planned(tags: &[Block], l: &Limits<'_>) -> (Vec<Block>, Vec<Result<Served, TagError>>) {
    let (reads, served) = plan_vec(tags, l);
    check_plan(tags, l, &reads, &served);
    (reads, served)
}

fn at(read: usize, offset: u16) -> Result<Served, TagError> {
    Ok(Served { read, offset })
}

#[test]
fn energy_meter_float_pairs_with_small_holes() {
    // Voltages at 3000..3006, currents at 3010..3016, power 3054..3060, energy 3094..3100 (f32 pairs).
    let tags: Vec<Block> = [3000, 3002, 3004, 3010, 3012, 3014, 3054, 3056, 3058, 3094, 3098]
        .iter()
        .map(|&a| Block::new(Holding, a, 2))
        .collect();
    let (reads, served) = planned(&tags, &limits(125, 3));
    // The 2-register hole at 3096 is read over; holes of 4 (3006..3010) and more are not, with max_gap 3.
    assert_eq!(
        reads,
        [
            Block::new(Holding, 3000, 6),
            Block::new(Holding, 3010, 6),
            Block::new(Holding, 3054, 6),
            Block::new(Holding, 3094, 6),
        ]
    );
    assert_eq!(served[4], at(1, 2));
    assert_eq!(served[10], at(3, 4));

    let (reads, served) = planned(&tags, &limits(125, 40));
    assert_eq!(reads, [Block::new(Holding, 3000, 100)]);
    assert_eq!(served[10], at(0, 98));
}

#[test]
fn the_read_limit_splits_a_long_block() {
    // 100 float pairs back to back: 200 registers need two reads of at most 125.
    let tags: Vec<Block> = (0..100).map(|i| Block::new(Input, 1000 + 2 * i, 2)).collect();
    let (reads, served) = planned(&tags, &Limits::default());
    assert_eq!(reads, [Block::new(Input, 1000, 124), Block::new(Input, 1124, 76)]);
    assert_eq!(served[61], at(0, 122));
    assert_eq!(served[62], at(1, 0));
}

#[test]
fn forbidden_ranges_are_never_read_over() {
    // The meter raises exception 2 for 3020..3030; tags on either side need separate reads.
    let forbidden = [Block::new(Holding, 3020, 10)];
    let l = Limits { max_gap: 50, forbidden: &forbidden, ..Limits::default() };
    let tags = [Block::new(Holding, 3000, 2), Block::new(Holding, 3030, 2), Block::new(Holding, 3019, 2)];
    let (reads, served) = planned(&tags, &l);
    assert_eq!(reads, [Block::new(Holding, 3000, 2), Block::new(Holding, 3030, 2)]);
    assert_eq!(served, [at(0, 0), at(1, 0), Err(TagError::Forbidden { range: forbidden[0] })]);
    // The same addresses in another space are not forbidden.
    let (reads, _) = planned(&[Block::new(Input, 3000, 2), Block::new(Input, 3030, 2)], &l);
    assert_eq!(reads, [Block::new(Input, 3000, 32)]);
}

#[test]
fn a_cut_keeps_reads_apart_where_the_device_tables_meet() {
    // The meter's tables meet at 3100: 3098..3100 and 3100..3102 read alone, never together.
    let cuts = [Cut { space: Holding, at: 3100 }];
    let l = Limits { max_gap: 50, cuts: &cuts, ..Limits::default() };
    let tags = [Block::new(Holding, 3096, 2), Block::new(Holding, 3098, 2), Block::new(Holding, 3100, 2)];
    let (reads, served) = planned(&tags, &l);
    assert_eq!(reads, [Block::new(Holding, 3096, 4), Block::new(Holding, 3100, 2)]);
    assert_eq!(served, [at(0, 0), at(0, 2), at(1, 0)]);
    // A tag that straddles the boundary is still read, on its own.
    let tags = [Block::new(Holding, 3096, 2), Block::new(Holding, 3099, 2), Block::new(Holding, 3102, 2)];
    let (reads, _) = planned(&tags, &l);
    assert_eq!(
        reads,
        [Block::new(Holding, 3096, 2), Block::new(Holding, 3099, 2), Block::new(Holding, 3102, 2)]
    );
    // Other spaces do not see it.
    let (reads, _) = planned(&[Block::new(Input, 3098, 2), Block::new(Input, 3100, 2)], &l);
    assert_eq!(reads, [Block::new(Input, 3098, 4)]);
}

#[test]
fn spaces_are_planned_apart_with_their_own_limits() {
    let tags = [
        Block::new(Coil, 0, 1),
        Block::new(Holding, 10, 1),
        Block::new(Coil, 1999, 1),
        Block::new(Holding, 0, 1),
        Block::new(Coil, 2000, 1),
    ];
    let l = Limits { max_gap: 2000, ..Limits::default() };
    let (reads, served) = planned(&tags, &l);
    assert_eq!(reads, [Block::new(Coil, 0, 2000), Block::new(Coil, 2000, 1), Block::new(Holding, 0, 11)]);
    assert_eq!(served, [at(0, 0), at(2, 10), at(0, 1999), at(2, 0), at(1, 0)]);
}

#[test]
fn duplicate_and_overlapping_tags_share_registers() {
    // A u32 at 40, its high word as u16 at 40, and an f64 at 38 that overlaps both.
    let tags = [Block::new(Holding, 40, 2), Block::new(Holding, 40, 1), Block::new(Holding, 38, 4)];
    let (reads, served) = planned(&tags, &Limits::default());
    assert_eq!(reads, [Block::new(Holding, 38, 4)]);
    assert_eq!(served, [at(0, 2), at(0, 2), at(0, 0)]);
}

#[test]
fn tags_that_cannot_be_read_are_errors_not_panics() {
    let tags = [
        Block::new(Holding, 0, 0),
        Block::new(Holding, 65535, 2),
        Block::new(Holding, 0, 126),
        Block::new(Holding, 65535, 1),
        Block::new(Coil, 0, 2001),
    ];
    let l = Limits { max_registers: 200, max_bits: 5000, ..Limits::default() };
    let (reads, served) = planned(&tags, &l);
    assert_eq!(reads, [Block::new(Holding, 65535, 1)]);
    assert_eq!(
        served,
        [
            Err(TagError::Empty),
            Err(TagError::PastEnd),
            Err(TagError::TooLong { max: 125 }),
            at(0, 0),
            Err(TagError::TooLong { max: 2000 })
        ]
    );
    assert!(TagError::TooLong { max: 125 }.to_string().contains("split it"));
}

#[test]
fn short_buffers_are_refused() {
    let tags = [Block::new(Holding, 0, 1); 3];
    let (mut order, mut reads, mut served) = ([0; 3], [tags[0]; 2], [Err(TagError::Empty); 3]);
    let got = plan(&tags, &Limits::default(), &mut order, &mut reads, &mut served);
    assert_eq!(got, Err(BuffersTooSmall { need: 3 }));
}

/// Brute force's idea of a valid read for a group of tags, written from the definition, not the sweep:
/// the group's block fits, touches no forbidden range, crosses no cut (unless it is one tag), and no
/// hole in the union exceeds `max_gap`.
fn group_is_valid(group: &[Block], l: &Limits<'_>) -> bool {
    let space = group[0].space;
    if group.iter().any(|t| t.space != space) {
        return false;
    }
    let start = group.iter().map(|t| u32::from(t.start)).min().unwrap_or(0);
    let end = group.iter().map(Block::end).max().unwrap_or(0);
    if end - start > u32::from(l.max_read(space)) {
        return false;
    }
    let block = Block::new(space, start as u16, (end - start) as u16);
    if l.forbidden.iter().any(|f| f.count > 0 && f.overlaps(&block)) {
        return false;
    }
    if group.len() > 1 && l.cuts.iter().any(|c| c.crossed_by(&block)) {
        return false;
    }
    let mut hole = 0;
    for a in start..end {
        let covered = group.iter().any(|t| u32::from(t.start) <= a && a < t.end());
        hole = if covered { 0 } else { hole + 1 };
        if hole > l.max_gap {
            return false;
        }
    }
    true
}

/// Fewest reads over every way to cut the sorted valid tags into contiguous groups.
fn brute_force_min(sorted: &[Block], l: &Limits<'_>) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let cuts = sorted.len() - 1;
    let mut best = usize::MAX;
    for mask in 0u32..(1 << cuts) {
        let mut groups = 0;
        let mut from = 0;
        let mut ok = true;
        for i in 0..sorted.len() {
            if i == cuts || mask & (1 << i) != 0 {
                ok &= group_is_valid(&sorted[from..=i], l);
                groups += 1;
                from = i + 1;
            }
        }
        if ok {
            best = best.min(groups);
        }
    }
    best
}

fn space() -> impl Strategy<Value = Space> {
    prop_oneof![Just(Holding), Just(Input), Just(Coil)]
}

fn tag() -> impl Strategy<Value = Block> {
    (space(), 0u16..60, 1u16..8).prop_map(|(s, a, n)| Block::new(s, a, n))
}

proptest! {
    #[test]
    fn greedy_matches_brute_force(
        tags in prop::collection::vec(tag(), 0..=8),
        forbidden in prop::collection::vec((space(), 0u16..70, 0u16..4), 0..=2),
        cuts in prop::collection::vec((space(), 1u16..70), 0..=2),
        max in 1u16..16,
        gap in 0u16..6,
    ) {
        let forbidden: Vec<Block> = forbidden.into_iter().map(|(s, a, n)| Block::new(s, a, n)).collect();
        let cuts: Vec<Cut> = cuts.into_iter().map(|(space, at)| Cut { space, at }).collect();
        let l = Limits { max_registers: max, max_bits: max, max_gap: gap, forbidden: &forbidden, cuts: &cuts };
        let (reads, served) = planned(&tags, &l);

        let mut valid: Vec<Block> =
            tags.iter().zip(&served).filter(|(_, s)| s.is_ok()).map(|(t, _)| *t).collect();
        valid.sort_by_key(|t| (t.space, t.start, core::cmp::Reverse(t.count)));
        let mut min = 0;
        for space in Space::ALL {
            let group: Vec<Block> = valid.iter().copied().filter(|t| t.space == space).collect();
            min += brute_force_min(&group, &l);
        }
        prop_assert!(reads.len() <= min, "plan {} reads, brute force {}: {:?}", reads.len(), min, reads);
    }

    #[test]
    fn planner_never_panics(
        tags in prop::collection::vec((space(), any::<u16>(), any::<u16>()), 0..20),
        max in any::<u16>(),
        gap in any::<u16>(),
    ) {
        let tags: Vec<Block> = tags.into_iter().map(|(s, a, n)| Block::new(s, a, n)).collect();
        let cuts: Vec<Cut> = tags.iter().take(2).map(|t| Cut { space: t.space, at: t.start.wrapping_add(t.count / 2) }).collect();
        let l = Limits { max_registers: max, max_bits: max, max_gap: gap, forbidden: &tags[..tags.len().min(2)], cuts: &cuts };
        let (reads, served) = planned(&tags, &l);
        prop_assert!(served.iter().flatten().all(|s| s.read < reads.len()));
    }
}
