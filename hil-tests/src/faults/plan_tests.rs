use super::*;

const MS: u64 = 1_000_000;

fn at(v: &Verdict) -> u64 {
    match v {
        Verdict::Forward { at, .. } => *at,
        other => panic!("{other:?} is not a forward"),
    }
}

#[test]
fn specs_parse_and_print_back() {
    let table = [
        ("pass", Fault::Pass),
        ("refuse", Fault::Refuse),
        ("blackhole", Fault::Blackhole),
        (
            "latency=200ms/50ms",
            Fault::Latency { delay: Duration::from_millis(200), jitter: Duration::from_millis(50) },
        ),
        ("bandwidth=8000", Fault::Bandwidth { bytes_per_sec: 8000 }),
        ("drop=0.25", Fault::Drop { chance: 0.25 }),
        ("reset=1", Fault::Reset { chance: 1.0 }),
        ("flip=0.001", Fault::Flip { chance: 0.001 }),
    ];
    for (spec, fault) in table {
        assert_eq!(spec.parse::<Fault>().unwrap(), fault, "{spec}");
        assert_eq!(fault.to_string(), spec);
    }
    let plain = "latency=1s".parse::<Fault>().unwrap();
    assert_eq!(plain, Fault::Latency { delay: Duration::from_secs(1), jitter: Duration::ZERO });
}

#[test]
fn a_bad_spec_says_what_is_wrong_and_how_to_write_it() {
    let table = [
        ("lag=1s", "unknown kind"),
        ("drop", "needs a value"),
        ("drop=1.5", "not between 0 and 1"),
        ("flip=often", "not a number"),
        ("latency=fast", "is not a duration"),
        ("bandwidth=0", "above 0"),
        ("blackhole=1", "takes no value"),
    ];
    for (spec, why) in table {
        let err = spec.parse::<Fault>().unwrap_err();
        assert!(err.contains(why) && err.contains("latency=200ms/50ms"), "{spec}: {err}");
    }
}

#[test]
fn the_same_seed_gives_the_same_decisions() {
    let fault = Fault::Flip { chance: 0.5 };
    let run = |seed| {
        let mut lane = Lane::new(seed);
        (0..100).map(|i| lane.chunk(&fault, i * MS, 64)).collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn latency_holds_each_chunk_within_its_bounds_and_never_reorders() {
    let fault = Fault::Latency { delay: Duration::from_millis(100), jitter: Duration::from_millis(50) };
    // Chunks 1 ms apart: a chunk's jitter cannot take it past the one before.
    let mut lane = Lane::new(1);
    let mut last = 0;
    for i in 0..1000 {
        let (now, t) = (i * MS, at(&lane.chunk(&fault, i * MS, 10)));
        assert!(t >= last, "chunk {i} overtook the one before");
        assert!(t >= now + 100 * MS && (t <= now + 150 * MS || t == last), "chunk {i}: {t}");
        last = t;
    }
    // Chunks a second apart: each delay is drawn anew, across the whole range.
    let delays: Vec<u64> =
        (0..1000).map(|i| at(&lane.chunk(&fault, (i + 2) * 1000 * MS, 10)) - (i + 2) * 1000 * MS).collect();
    let (lo, hi) = (*delays.iter().min().unwrap(), *delays.iter().max().unwrap());
    assert!((100 * MS..105 * MS).contains(&lo) && (145 * MS..=150 * MS).contains(&hi), "{lo}..{hi}");
}

#[test]
fn bandwidth_spaces_chunks_by_their_length() {
    let fault = Fault::Bandwidth { bytes_per_sec: 1000 };
    assert_eq!(fault.read_size(), 50);
    let mut lane = Lane::new(1);
    // Four 50-byte chunks read at once arrive 50 ms apart, each once its last byte crossed; one read
    // later, after the lane went idle, 50 ms after it is read.
    let times: Vec<u64> = (0..4).map(|_| at(&lane.chunk(&fault, 0, 50))).collect();
    assert_eq!(times, [50 * MS, 100 * MS, 150 * MS, 200 * MS]);
    assert_eq!(at(&lane.chunk(&fault, 500 * MS, 50)), 550 * MS);
}

#[test]
fn drop_and_reset_end_connections_at_their_chance() {
    for (fault, end) in
        [(Fault::Drop { chance: 0.1 }, Verdict::Close), (Fault::Reset { chance: 0.1 }, Verdict::Reset)]
    {
        let mut lane = Lane::new(3);
        let ends = (0..10_000).filter(|_| lane.chunk(&fault, 0, 100) == end).count();
        assert!((800..1200).contains(&ends), "{fault}: {ends} of 10000");
    }
    let mut lane = Lane::new(3);
    assert_eq!(lane.chunk(&Fault::Reset { chance: 1.0 }, 0, 1), Verdict::Reset);
    assert!(matches!(lane.chunk(&Fault::Drop { chance: 0.0 }, 0, 1), Verdict::Forward { .. }));
}

#[test]
fn a_flip_lands_inside_the_chunk_and_changes_its_byte() {
    let mut lane = Lane::new(5);
    let mut flips = 0;
    for len in 1..2000usize {
        match lane.chunk(&Fault::Flip { chance: 0.5 }, 0, len) {
            Verdict::Forward { flip: Some((i, mask)), .. } => {
                assert!(i < len && mask != 0);
                flips += 1;
            }
            Verdict::Forward { flip: None, .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert!((800..1200).contains(&flips), "{flips} flips in 1999 chunks");
    assert_eq!(lane.chunk(&Fault::Flip { chance: 1.0 }, 0, 0), Verdict::Forward { at: 0, flip: None });
}

#[test]
fn blackhole_holds_chunks_and_connections_refuse_resets_only_new_ones() {
    let mut lane = Lane::new(1);
    assert_eq!(lane.chunk(&Fault::Blackhole, 0, 10), Verdict::Hold);
    assert_eq!(lane.chunk(&Fault::Refuse, 0, 10), Verdict::Forward { at: 0, flip: None });
    assert_eq!(admit(&Fault::Refuse), Admit::Reset);
    assert_eq!(admit(&Fault::Blackhole), Admit::Wait);
    assert_eq!(admit(&Fault::Flip { chance: 1.0 }), Admit::Connect);
}
