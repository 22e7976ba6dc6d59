//! Single-threaded behaviour: wrap-around, skip counts, gates, close, stats.

use super::*;
use drivers::PushOutcome;
use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};

/// Sample `n` of tag `tag`: the value carries `n` so order and identity can be checked.
fn sample(tag: u32, n: u64) -> Sample {
    Sample::good(TagId(tag), Timestamp(n as i64), Value::UInt(n))
}

fn batch(tag: u32, range: std::ops::Range<u64>) -> Vec<Sample> {
    range.map(|n| sample(tag, n)).collect()
}

fn numbers(samples: &[Sample]) -> Vec<u64> {
    samples.iter().map(|s| s.ts.0 as u64).collect()
}

#[test]
fn capacity_rounds_up_to_a_power_of_two() {
    for (asked, got) in [(0, 2), (1, 2), (2, 2), (3, 4), (4, 4), (5, 8), (1000, 1024), (1024, 1024)] {
        assert_eq!(Ring::new(asked).capacity(), got, "asked for {asked}");
    }
}

#[test]
fn every_value_kind_and_quality_survives_the_ring() {
    let ring = Ring::new(8);
    let mut reader = ring.reader("store", ReadPolicy::Lossless);
    let sent = vec![
        Sample::good(TagId(1), Timestamp(10), Value::Bool(true)),
        Sample::good(TagId(2), Timestamp(-5), Value::Int(-42)),
        Sample::good(TagId(3), Timestamp(11), Value::UInt(u64::MAX)),
        Sample::good(TagId(4), Timestamp(12), Value::Float(-0.25)),
        Sample::good(TagId(5), Timestamp(13), Value::Text(protocols::TextId(9))),
        Sample { quality: Quality::Uncertain(Reason::Stale), ..sample(6, 14) },
        Sample::bad(TagId(7), Timestamp(15), Reason::Exception(0x02)),
    ];
    assert_eq!(ring.writer().try_push(&sent), PushOutcome::Accepted(7));
    let mut out = Vec::new();
    assert_eq!(reader.try_read(&mut out, 100), ReadResult { read: 7, skipped: 0, closed: false });
    let words = |v: &[Sample]| v.iter().map(Sample::to_words).collect::<Vec<_>>();
    assert_eq!(words(&out), words(&sent));
}

#[test]
fn wraps_around_many_laps_in_order() {
    let ring = Ring::new(4);
    let writer = ring.writer();
    let mut reader = ring.reader("store", ReadPolicy::Lossless);
    let mut out = Vec::new();
    // Odd batch sizes so the runs straddle the end of the slot array.
    for (i, len) in (0..50u64).zip([1u64, 3, 2, 4].into_iter().cycle()) {
        let from = i * 10;
        assert_eq!(writer.try_push(&batch(1, from..from + len)), PushOutcome::Accepted(len as usize));
        out.clear();
        assert_eq!(reader.try_read(&mut out, 16).read, len as usize);
        assert_eq!(numbers(&out), (from..from + len).collect::<Vec<_>>());
    }
}

#[test]
fn runs_read_in_parts_keep_order_across_writers_and_laps() {
    let ring = Ring::new(8);
    let (a, b) = (ring.writer(), ring.writer());
    let mut store = ring.reader("store", ReadPolicy::Lossless);
    let mut monitor = ring.reader("monitor", ReadPolicy::Lossy);
    let (mut got, mut seen) = (Vec::new(), Vec::new());
    for lap in 0..20u64 {
        let from = lap * 10;
        // A run of five good floats, then a run of two UInts from another writer.
        let floats: Vec<_> = (from..from + 5)
            .map(|n| Sample::good(TagId(1), Timestamp(n as i64), Value::Float(n as f64 + 0.5)))
            .collect();
        assert_eq!(a.try_push(&floats), PushOutcome::Accepted(5));
        assert_eq!(b.try_push(&batch(2, from..from + 2)), PushOutcome::Accepted(2));
        // Two samples per call: every run is taken in parts, one part spanning both runs.
        let mut out = Vec::new();
        while store.try_read(&mut out, 2).read > 0 {}
        assert_eq!(out.len(), 7, "lap {lap}: both runs, whole");
        assert_eq!(&out[..5], &floats[..], "lap {lap}: the float run, in order, intact");
        assert_eq!(numbers(&out[5..]), vec![from, from + 1], "lap {lap}");
        got.extend(out);
        while monitor.try_read(&mut seen, 3).read > 0 {}
    }
    assert_eq!(got.len(), 140);
    assert_eq!(seen, got, "a lossy reader that keeps up sees the same samples");
    assert_eq!(monitor.skipped(), 0);
}

#[test]
fn a_full_lossless_reader_holds_writers_back() {
    let ring = Ring::new(4);
    let writer = ring.writer();
    let mut store = ring.reader("store", ReadPolicy::Lossless);
    assert_eq!(writer.try_push(&batch(1, 0..6)), PushOutcome::Accepted(4), "only a prefix fits");
    assert_eq!(writer.try_push(&batch(1, 4..6)), PushOutcome::Accepted(0), "full: nothing overwritten");
    assert_eq!(ring.stats().depth, 4);
    let mut out = Vec::new();
    assert_eq!(store.try_read(&mut out, 3).read, 3);
    assert_eq!(writer.try_push(&batch(1, 4..9)), PushOutcome::Accepted(3));
    assert_eq!(store.try_read(&mut out, 100).read, 4);
    assert_eq!(numbers(&out), (0..7).collect::<Vec<_>>());
}

#[test]
fn lossless_readers_gate_at_the_slowest() {
    let ring = Ring::new(4);
    let writer = ring.writer();
    let mut fast = ring.reader("uplink", ReadPolicy::Lossless);
    let mut slow = ring.reader("store", ReadPolicy::Lossless);
    let mut out = Vec::new();
    assert_eq!(writer.try_push(&batch(1, 0..4)), PushOutcome::Accepted(4));
    fast.try_read(&mut out, 4);
    assert_eq!(writer.try_push(&batch(1, 4..5)), PushOutcome::Accepted(0), "the slow reader holds it");
    slow.try_read(&mut out, 1);
    assert_eq!(writer.try_push(&batch(1, 4..6)), PushOutcome::Accepted(1));
    let stats = ring.stats();
    assert_eq!((stats.written, stats.depth), (5, 4));
}

/// (capacity, written before the lossy reader reads, read max) -> (read, skipped, first seen).
#[test]
fn a_lapped_lossy_reader_counts_exactly_what_it_missed() {
    let table: &[(usize, u64, usize, usize, u64, u64)] = &[
        // capacity, written, max, read, skipped, first number read
        (4, 3, 10, 3, 0, 0),
        (4, 4, 10, 4, 0, 0),
        (4, 5, 10, 4, 1, 1),
        (4, 11, 10, 4, 7, 7),
        (4, 11, 2, 2, 7, 7),
        (8, 100, 3, 3, 92, 92),
        (2, 9, 10, 2, 7, 7),
    ];
    for &(cap, written, max, read, skipped, first) in table {
        let ring = Ring::new(cap);
        let mut monitor = ring.reader("monitor", ReadPolicy::Lossy);
        let writer = ring.writer();
        for n in 0..written {
            assert_eq!(writer.try_push(&[sample(1, n)]), PushOutcome::Accepted(1));
        }
        let mut out = Vec::new();
        let r = monitor.try_read(&mut out, max);
        let case = format!("capacity {cap}, written {written}, max {max}");
        assert_eq!((r.read, r.skipped), (read, skipped), "{case}");
        assert_eq!(numbers(&out), (first..first + read as u64).collect::<Vec<_>>(), "{case}");
        assert_eq!(monitor.skipped(), skipped, "{case}");
        // Whatever is left is read without further loss.
        let rest = monitor.try_read(&mut out, 100);
        assert_eq!(rest.skipped, 0, "{case}");
        assert_eq!(read as u64 + rest.read as u64 + skipped, written, "{case}");
        assert_eq!(ring.stats().readers[0].skipped, skipped, "{case}");
    }
}

#[test]
fn lossy_readers_never_hold_writers_back() {
    let ring = Ring::new(2);
    let _monitor = ring.reader("monitor", ReadPolicy::Lossy);
    let writer = ring.writer();
    for n in 0..10 {
        assert_eq!(writer.try_push(&batch(1, n * 3..n * 3 + 3)), PushOutcome::Accepted(2));
    }
    assert_eq!(ring.stats().depth, 0);
}

#[test]
fn a_reader_starts_at_the_current_head() {
    let ring = Ring::new(8);
    let writer = ring.writer();
    writer.try_push(&batch(1, 0..5));
    let mut late = ring.reader("late", ReadPolicy::Lossless);
    writer.try_push(&batch(1, 5..7));
    let mut out = Vec::new();
    late.try_read(&mut out, 10);
    assert_eq!(numbers(&out), vec![5, 6]);
}

#[test]
fn dropping_a_lossless_reader_releases_its_gate() {
    let ring = Ring::new(2);
    let writer = ring.writer();
    let store = ring.reader("store", ReadPolicy::Lossless);
    assert_eq!(writer.try_push(&batch(1, 0..3)), PushOutcome::Accepted(2));
    assert_eq!(writer.try_push(&batch(1, 2..3)), PushOutcome::Accepted(0));
    assert_eq!(ring.stats().readers.len(), 1);
    drop(store);
    assert!(ring.stats().readers.is_empty());
    assert_eq!(writer.try_push(&batch(1, 2..3)), PushOutcome::Accepted(1));
}

#[test]
fn gate_slots_are_reused_after_drop() {
    let ring = Ring::new(4);
    let readers: Vec<_> =
        (0..MAX_LOSSLESS_READERS).map(|i| ring.reader(&format!("r{i}"), ReadPolicy::Lossless)).collect();
    drop(readers);
    let _again: Vec<_> =
        (0..MAX_LOSSLESS_READERS).map(|i| ring.reader(&format!("r{i}"), ReadPolicy::Lossless)).collect();
    assert_eq!(ring.stats().readers.len(), MAX_LOSSLESS_READERS);
}

#[test]
#[should_panic(expected = "make monitoring and dashboard readers ReadPolicy::Lossy")]
fn too_many_lossless_readers_is_refused_with_advice() {
    let ring = Ring::new(4);
    let _readers: Vec<_> =
        (0..=MAX_LOSSLESS_READERS).map(|i| ring.reader(&format!("r{i}"), ReadPolicy::Lossless)).collect();
}

#[test]
fn close_lets_readers_drain_then_reports_closed() {
    let ring = Ring::new(8);
    let writer = ring.writer();
    let mut store = ring.reader("store", ReadPolicy::Lossless);
    let mut monitor = ring.reader("monitor", ReadPolicy::Lossy);
    assert_eq!(writer.try_push(&batch(1, 0..3)), PushOutcome::Accepted(3));
    ring.close();
    assert!(ring.is_closed());
    assert_eq!(writer.try_push(&batch(1, 3..4)), PushOutcome::Closed);
    assert_eq!(writer.try_push(&[]), PushOutcome::Closed);
    for reader in [&mut store, &mut monitor] {
        let mut out = Vec::new();
        assert_eq!(reader.try_read(&mut out, 2), ReadResult { read: 2, skipped: 0, closed: false });
        assert_eq!(reader.try_read(&mut out, 2), ReadResult { read: 1, skipped: 0, closed: false });
        assert_eq!(reader.try_read(&mut out, 2), ReadResult { read: 0, skipped: 0, closed: true });
        assert_eq!(numbers(&out), vec![0, 1, 2]);
    }
}

#[test]
fn stats_report_each_reader() {
    let ring = Ring::new(8);
    let writer = ring.writer();
    let mut store = ring.reader("store", ReadPolicy::Lossless);
    let _monitor = ring.reader("monitor", ReadPolicy::Lossy);
    writer.try_push(&batch(1, 0..6));
    store.try_read(&mut Vec::new(), 2);
    writer.note_back_pressure();
    let stats = ring.stats();
    assert_eq!(
        stats,
        RingStats {
            capacity: 8,
            written: 6,
            depth: 4,
            back_pressure_events: 1,
            readers: vec![
                ReaderStats { name: "store".into(), policy: ReadPolicy::Lossless, lag: 4, skipped: 0 },
                ReaderStats { name: "monitor".into(), policy: ReadPolicy::Lossy, lag: 6, skipped: 0 },
            ],
        }
    );
    assert_eq!(store.lag(), 4);
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["readers"][1]["policy"], "lossy");
}

#[test]
fn an_empty_push_accepts_nothing() {
    let ring = Ring::new(2);
    assert_eq!(ring.writer().try_push(&[]), PushOutcome::Accepted(0));
    assert_eq!(ring.stats().written, 0);
}

/// The store thread's two waits: `readable` wakes on the first push, `held_back` only once a writer
/// finds the ring full, so pushes into a ring with room do not wake a lingering lossless reader.
#[tokio::test]
async fn a_lingering_reader_is_woken_by_a_full_ring_not_by_each_push() {
    use std::time::Duration;
    let ring = Ring::new(4);
    let writer = ring.writer();
    let mut reader = ring.reader("store", ReadPolicy::Lossless);
    let short = Duration::from_millis(50);
    assert!(tokio::time::timeout(short, reader.readable()).await.is_err(), "nothing pushed yet");
    assert_eq!(writer.try_push(&batch(1, 0..2)), PushOutcome::Accepted(2));
    assert!(tokio::time::timeout(short, reader.readable()).await.is_ok(), "a sample is there");
    assert!(tokio::time::timeout(short, reader.held_back()).await.is_err(), "the ring has room");

    assert_eq!(writer.try_push(&batch(1, 2..6)), PushOutcome::Accepted(2), "two slots were left");
    let parked = tokio::spawn({
        let writer = writer.clone();
        async move { writer.wait_for_space().await }
    });
    tokio::time::timeout(Duration::from_secs(5), reader.held_back()).await.expect("a full ring wakes it");
    let mut out = Vec::new();
    assert_eq!(reader.try_read(&mut out, 16).read, 4);
    tokio::time::timeout(Duration::from_secs(5), parked).await.expect("the writer has room again").unwrap();
    assert_eq!(numbers(&out), vec![0, 1, 2, 3]);

    ring.close();
    tokio::time::timeout(Duration::from_secs(5), reader.held_back()).await.expect("close ends the linger");
    tokio::time::timeout(Duration::from_secs(5), reader.readable()).await.expect("close ends the wait");
}

/// A lossless reader's `readable` follows runs by their ends: ready mid-run, not ready on an entry
/// left from an earlier lap, ready again once the next run is stored, lap after lap.
#[tokio::test]
async fn a_lossless_reader_is_readable_mid_run_and_not_on_an_earlier_laps_run() {
    use std::time::Duration;
    let ring = Ring::new(4);
    let writer = ring.writer();
    let mut reader = ring.reader("store", ReadPolicy::Lossless);
    let short = Duration::from_millis(20);
    let mut out = Vec::new();
    for lap in 0..6u64 {
        let from = lap * 3;
        assert_eq!(writer.try_push(&batch(1, from..from + 3)), PushOutcome::Accepted(3), "lap {lap}");
        assert_eq!(reader.try_read(&mut out, 1).read, 1, "lap {lap}: the run's first sample");
        assert!(tokio::time::timeout(short, reader.readable()).await.is_ok(), "lap {lap}: mid-run");
        assert_eq!(reader.try_read(&mut out, 4).read, 2, "lap {lap}: the rest of the run");
        assert!(
            tokio::time::timeout(short, reader.readable()).await.is_err(),
            "lap {lap}: the next slot holds only an earlier lap's run"
        );
    }
    assert_eq!(numbers(&out), (0..18).collect::<Vec<_>>());
}
