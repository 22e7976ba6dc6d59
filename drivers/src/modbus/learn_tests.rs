//! The hole search, the lessons and the planner together over many scans, against made-up devices:
//! whatever their unmapped registers and table boundaries, the plan settles within a few scans, every tag
//! the device answers alone is read at every scan on the way, and once settled the only reads refused
//! are of tags the device refuses alone.

use proptest::prelude::*;
use protocols::TagId;
use protocols::modbus::plan::Block;

use super::config::ModbusDeviceConfig;
use super::device::DevicePlan;
use super::holes::HoleSearch;

/// A device from its manual: registers it does not map, and boundaries between its tables.
#[derive(Debug)]
pub(super) struct Device {
    /// `(first, end)`: registers `first..end`.
    pub unmapped: Vec<(u32, u32)>,
    pub tables_meet: Vec<u32>,
}

impl Device {
    pub fn refuses(&self, b: &Block) -> bool {
        let (s, e) = (u32::from(b.start), b.end());
        self.unmapped.iter().any(|&(a, z)| a < e && s < z) || self.tables_meet.iter().any(|&c| s < c && c < e)
    }
}

/// A device of `tags` (wire address, registers), named `t0`, `t1`, ..
fn device_plan(tags: &[(u16, u16)], max_gap: u16) -> DevicePlan {
    let tags: Vec<String> = tags
        .iter()
        .enumerate()
        .map(|(i, (a, n))| {
            let ty = if *n == 2 { "u32" } else { "u16" };
            format!("{{ name = \"t{i}\", address = \"holding:{a}\", type = \"{ty}\" }}")
        })
        .collect();
    let text = format!("name = \"meter\"\nunit = 1\nmax_gap = {max_gap}\ntags = [{}]", tags.join(", "));
    let cfg: ModbusDeviceConfig = toml::from_str(&text).unwrap();
    DevicePlan::new(&cfg, &|n: &str| n[1..].parse().ok().map(TagId)).unwrap()
}

/// One scan as the driver makes it, answered by `device`: which tags got a value, and whether the scan
/// taught anything (then the plan changed).
fn scan(plan: &mut DevicePlan, device: &Device) -> (Vec<bool>, bool) {
    let group = &plan.groups[0];
    let mut valued = vec![false; group.tags.len()];
    let (mut searches, mut answer_again) = (Vec::new(), Vec::new());
    for (r, read) in group.reads.iter().enumerate() {
        if !device.refuses(read) {
            group.tags_of(r).for_each(|t| valued[t] = true);
            if group.tags_of(r).any(|t| group.tags[t].refused) {
                answer_again.extend(group.tags_of(r));
            }
            continue;
        }
        if !group.splittable(r) {
            continue;
        }
        let tags = group.by_start(r);
        let mut search =
            HoleSearch::new(tags.iter().map(|&t| group.tags[t].block).collect(), plan.tag_blocks());
        while let Some(probe) = search.next_probe() {
            let refused = device.refuses(&probe.block);
            if let (false, Some(serves)) = (refused, &probe.serves) {
                tags[serves.clone()].iter().for_each(|&t| valued[t] = true);
            }
            search.answer(refused);
        }
        assert!(search.is_complete(), "out of probes");
        searches.push((tags, search.lessons().to_vec()));
    }
    let learnt = searches.iter().any(|(_, l)| !l.is_empty()) || !answer_again.is_empty();
    for (tags, lessons) in &searches {
        plan.learn(0, tags, lessons).unwrap();
    }
    if !answer_again.is_empty() {
        plan.forgive(0, &answer_again).unwrap();
    }
    (valued, learnt)
}

#[test]
fn a_meter_with_a_hole_and_a_table_boundary_settles_in_three_scans() {
    // Energy meter: u32 pairs at 0..8, a hole at 20..30, a table boundary at 100 between 98 and 100.
    let mut plan = device_plan(&[(0, 2), (2, 2), (4, 2), (6, 2), (40, 2), (96, 2), (98, 2), (100, 2)], 125);
    let device = Device { unmapped: vec![(20, 30)], tables_meet: vec![100] };
    assert_eq!(plan.groups[0].reads, [Block::new(protocols::modbus::Space::HoldingRegister, 0, 102)]);
    let mut scans = 0;
    loop {
        let (valued, learnt) = scan(&mut plan, &device);
        assert!(valued.iter().all(|v| *v), "scan {scans}: {valued:?}");
        scans += 1;
        if !learnt {
            break;
        }
    }
    // The boundary hides the hole at first (the half it is in is refused for the boundary too): the first
    // scan learns the boundary, the second the hole, the third reads the new plan.
    assert_eq!(scans, 3);
    let holding = protocols::modbus::Space::HoldingRegister;
    assert_eq!(plan.forbidden, [Block::new(holding, 20, 10)]);
    assert_eq!(plan.cuts, [protocols::modbus::Cut { space: holding, at: 100 }]);
    let reads = &plan.groups[0].reads;
    assert_eq!(reads, &[Block::new(holding, 0, 8), Block::new(holding, 40, 60), Block::new(holding, 100, 2)]);
}

proptest! {
    #[test]
    fn the_plan_settles_and_then_every_readable_tag_reads(
        tags in prop::collection::vec((0u16..80, 1u16..=2), 1..12),
        unmapped in prop::collection::vec((0u32..84, 1u32..6), 0..4),
        tables_meet in prop::collection::vec(1u32..84, 0..3),
        max_gap in 0u16..30,
    ) {
        let device = Device { unmapped: unmapped.iter().map(|&(a, n)| (a, a + n)).collect(), tables_meet };
        let mut plan = device_plan(&tags, max_gap);
        let readable: Vec<bool> = plan.groups[0].tags.iter().map(|t| !device.refuses(&t.block)).collect();
        let mut settled = false;
        for _ in 0..=3 * tags.len() + 2 {
            let (valued, learnt) = scan(&mut plan, &device);
            prop_assert_eq!(&valued, &readable, "every readable tag reads, at every scan");
            if !learnt {
                settled = true;
                break;
            }
        }
        prop_assert!(settled, "still learning: {:?}", plan.groups[0].reads);
        let group = &plan.groups[0];
        for (r, read) in group.reads.iter().enumerate() {
            if device.refuses(read) {
                let unreadable = group.tags_of(r).all(|t| device.refuses(&group.tags[t].block));
                prop_assert!(unreadable, "{} is refused for the others' sake", read);
            }
        }
        // What was learnt never forbids a tag, so the config line it suggests is one the config takes.
        for f in &plan.forbidden {
            prop_assert!(!group.tags.iter().any(|t| t.block.overlaps(f)), "{} forbids a tag", f);
        }
    }
}

#[test]
fn lessons_name_tags_by_the_search_order() {
    // Tags declared out of address order: the search numbers them by start.
    let mut plan = device_plan(&[(3, 1), (0, 1), (1, 1), (2, 1)], 0);
    let device = Device { unmapped: vec![(3, 4)], tables_meet: vec![] };
    let (valued, learnt) = scan(&mut plan, &device);
    assert!(learnt);
    assert_eq!(valued, [false, true, true, true]);
    let refused: Vec<bool> = plan.groups[0].tags.iter().map(|t| t.refused).collect();
    assert_eq!(refused, [true, false, false, false], "the tag at 3 is the one refused");
    assert_eq!(
        plan.groups[0].reads,
        [
            Block::new(protocols::modbus::Space::HoldingRegister, 0, 3),
            Block::new(protocols::modbus::Space::HoldingRegister, 3, 1)
        ]
    );
}
