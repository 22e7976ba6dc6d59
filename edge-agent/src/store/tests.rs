use std::time::{Duration, Instant};

use protocols::{Sample, TagId, TextPool, Timestamp, Value};

use super::*;

fn dict() -> Dictionary {
    Dictionary {
        site: "plant".into(),
        gateway: "gw".into(),
        tags: (0..4).map(|i| ("press".to_string(), format!("t{i}"))).collect(),
    }
}

/// Sample number `n`: its value and timestamp say which it is, so a test can tell what arrived.
fn sample(n: u64) -> Sample {
    Sample::good(TagId((n % 4) as u32), Timestamp(1_000 + n as i64), Value::UInt(n))
}

fn cfg(max_bytes: u64, segment_bytes: u64) -> StoreConfig {
    StoreConfig { max_bytes, segment_bytes, sync: SyncPolicy::Never }
}

fn append_range(store: &mut Store, range: std::ops::Range<u64>, per_record: u64) {
    let texts = TextPool::new();
    let all: Vec<Sample> = range.map(sample).collect();
    for chunk in all.chunks(per_record as usize) {
        store.append(chunk, &texts, Instant::now()).unwrap();
    }
}

/// Reads everything from `from`: the sample numbers in order.
fn read_all(shared: &Arc<Shared>, from: u64) -> (Vec<u64>, reader::ReaderLosses) {
    let mut r = LogReader::new(shared.clone(), from);
    let mut got = Vec::new();
    while let Some(b) = r.read(1000).unwrap() {
        for (i, s) in b.samples.iter().enumerate() {
            assert_eq!(
                b.first_seq + i as u64,
                match s.value {
                    Value::UInt(n) => n,
                    _ => panic!(),
                }
            );
            got.push(b.first_seq + i as u64);
        }
        assert_eq!(b.dict.gateway, "gw");
    }
    (got, r.losses)
}

#[test]
fn what_is_appended_reads_back_in_order_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 10)).unwrap();
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 0..20_000, 333);
    assert!(list_segments(dir.path()).unwrap().len() > 3, "rotated at 64 KiB");
    let (got, losses) = read_all(&store.shared(), 0);
    assert_eq!(got, (0..20_000).collect::<Vec<_>>());
    assert_eq!(losses, Default::default());
    // Mid-record start.
    assert_eq!(read_all(&store.shared(), 12_345).0, (12_345..20_000).collect::<Vec<_>>());
    drop(store);

    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 10)).unwrap();
    assert_eq!(store.head(), 20_000, "numbering goes on after a restart");
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 20_000..20_100, 50);
    assert_eq!(read_all(&store.shared(), 19_990).0, (19_990..20_100).collect::<Vec<_>>());
}

#[test]
fn a_torn_tail_is_cut_at_start_and_numbering_resumes_after_the_last_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 20)).unwrap();
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 0..1000, 100);
    drop(store);
    let seg = segment_path(dir.path(), 0);
    let len = std::fs::metadata(&seg).unwrap().len();
    // A crash in the middle of the last write.
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 700).unwrap();
    drop(f);

    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 20)).unwrap();
    assert_eq!(store.head(), 900);
    assert!(store.shared().counters.torn_bytes.load(Ordering::Relaxed) > 0);
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 900..1000, 100);
    let (got, losses) = read_all(&store.shared(), 0);
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
    assert_eq!(losses.corrupt_records, 0);
}

#[test]
fn flipped_bytes_lose_only_their_record_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 20)).unwrap();
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 0..1000, 100);
    drop(store);
    let seg = segment_path(dir.path(), 0);
    let mut bytes = std::fs::read(&seg).unwrap();
    // Records are 12 + 13 + 2400 bytes after the dictionary; hit the body of the 3rd and the length of the 6th.
    let dict_len = bytes.len() - 10 * 2425;
    bytes[dict_len + 2 * 2425 + 500] ^= 0x40;
    bytes[dict_len + 5 * 2425 + 5] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();

    let store = Store::open(dir.path(), &cfg(1 << 30, 64 << 20)).unwrap();
    assert_eq!(store.head(), 1000);
    let (got, losses) = read_all(&store.shared(), 0);
    let expected: Vec<u64> =
        (0..1000).filter(|n| !(200..300).contains(n) && !(500..600).contains(n)).collect();
    assert_eq!(got, expected);
    assert_eq!(losses.corrupt_records, 2);
    assert_eq!(losses.corrupt_samples, 200);
}

#[test]
fn at_max_bytes_the_oldest_unsent_are_dropped_and_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(200 << 10, 64 << 20)).unwrap();
    let shared = store.shared();
    let cursor = Cursor::register(&shared, "historian").unwrap();
    assert_eq!(cursor.position(), 0);
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 0..50_000, 500);
    let c = &shared.counters;
    assert!(c.disk_bytes.load(Ordering::Relaxed) <= 200 << 10);
    let dropped = c.dropped_max_bytes.load(Ordering::Relaxed);
    assert!(dropped > 40_000, "{dropped}");
    let (got, losses) = read_all(&shared, cursor.position());
    // Only the oldest went, and every sample is either delivered or counted.
    assert_eq!(got, (dropped..50_000).collect::<Vec<_>>());
    assert_eq!(losses.dropped, dropped);
}

#[test]
fn segments_are_deleted_once_every_uplink_has_passed_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 10)).unwrap();
    let shared = store.shared();
    let mut a = Cursor::register(&shared, "a").unwrap();
    let mut b = Cursor::register(&shared, "b").unwrap();
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 0..20_000, 500);
    let before = list_segments(dir.path()).unwrap().len();
    a.advance(20_000, Instant::now()).unwrap();
    store.tick(Instant::now()).unwrap();
    assert_eq!(list_segments(dir.path()).unwrap().len(), before, "b has sent nothing");
    b.advance(10_000, Instant::now()).unwrap();
    store.tick(Instant::now()).unwrap();
    let left = list_segments(dir.path()).unwrap();
    assert!(left.len() < before && left[0] <= 10_000, "{left:?}");
    assert_eq!(read_all(&shared, b.position()).0, (10_000..20_000).collect::<Vec<_>>());
    assert_eq!(shared.counters.dropped_max_bytes.load(Ordering::Relaxed), 0);
}

#[test]
fn cursors_survive_a_restart_and_never_point_past_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 20)).unwrap();
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 0..100, 10);
    let mut c = Cursor::register(&store.shared(), "historian").unwrap();
    c.advance(60, Instant::now() + Duration::from_secs(2)).unwrap();
    drop(c);
    drop(store);
    let store = Store::open(dir.path(), &cfg(1 << 30, 64 << 20)).unwrap();
    assert_eq!(Cursor::register(&store.shared(), "historian").unwrap().position(), 60);
    // The log lost its tail (unsynced at a power cut) after the uplink sent it.
    std::fs::write(dir.path().join("cursors/historian"), "5000\n").unwrap();
    assert_eq!(Cursor::register(&store.shared(), "historian").unwrap().position(), 100);
}

#[test]
fn text_values_travel_with_their_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 20)).unwrap();
    store.set_dictionary(dict()).unwrap();
    let texts = TextPool::new();
    let id = texts.intern("recipe B-17");
    let s = Sample::good(TagId(2), Timestamp(5), Value::Text(id));
    store.append(&[s, s], &texts, Instant::now()).unwrap();
    let mut r = LogReader::new(store.shared(), 0);
    let b = r.read(10).unwrap().unwrap();
    assert_eq!(b.samples.len(), 2);
    assert_eq!(b.texts.get(&id.0).map(String::as_str), Some("recipe B-17"));
}

#[test]
fn a_reader_follows_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 10)).unwrap();
    store.set_dictionary(dict()).unwrap();
    let mut r = LogReader::new(store.shared(), 0);
    assert!(r.read(10).unwrap().is_none());
    let mut next = 0;
    for round in 0..30u64 {
        append_range(&mut store, round * 700..(round + 1) * 700, 100);
        while let Some(b) = r.read(256).unwrap() {
            assert_eq!(b.first_seq, next);
            next = b.end_seq();
        }
        assert_eq!(next, (round + 1) * 700);
    }
}

#[test]
fn on_a_full_disk_the_oldest_segment_makes_room_and_appending_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 10)).unwrap();
    let shared = store.shared();
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 0..10_000, 500);
    let oldest = list_segments(dir.path()).unwrap();
    // The next segment's first write hits a device that is always full (ENOSPC).
    store.set_dictionary(dict()).unwrap();
    std::os::unix::fs::symlink("/dev/full", segment_path(dir.path(), 10_000)).unwrap();
    append_range(&mut store, 10_000..10_500, 500);

    let c = &shared.counters;
    assert_eq!(c.dropped_disk_full.load(Ordering::Relaxed), oldest[1] - oldest[0], "the oldest segment went");
    assert_eq!(c.dropped_write_failed.load(Ordering::Relaxed), 0);
    assert_eq!(store.head(), 10_500);
    let (got, losses) = read_all(&shared, 0);
    assert_eq!(got, (oldest[1]..10_500).collect::<Vec<_>>());
    assert_eq!(losses.dropped, oldest[1]);
}

/// A crash (no flush on drop is simulated by reading the file) right after the first acknowledgement
/// of a run still finds that acknowledgement saved; later ones wait for the save interval.
#[test]
fn the_first_acknowledgement_after_a_start_is_saved_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &cfg(1 << 30, 64 << 20)).unwrap();
    store.set_dictionary(dict()).unwrap();
    append_range(&mut store, 0..100, 10);
    let saved = || std::fs::read_to_string(dir.path().join("cursors/一号上传")).unwrap().trim().to_owned();
    let mut c = Cursor::register(&store.shared(), "一号上传").unwrap();
    let now = Instant::now();
    c.advance(30, now).unwrap();
    assert_eq!(saved(), "30");
    c.advance(50, now + Duration::from_millis(100)).unwrap();
    assert_eq!(saved(), "30", "within a second of the last save");
    c.advance(70, now + Duration::from_secs(2)).unwrap();
    assert_eq!(saved(), "70");
}
