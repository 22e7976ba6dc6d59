//! Concurrent behaviour: many writers and readers on real threads, back-pressure, async waiting.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use drivers::PushOutcome;
use protocols::{Sample, TagId, Timestamp, Value};

/// Writer `w`'s `n`-th sample: the tag names the writer, the value numbers its samples.
fn numbered(w: u32, n: u64) -> Sample {
    Sample::good(TagId(w), Timestamp(n as i64), Value::UInt(n))
}

/// Pushes `count` numbered samples for writer `w` in batches of `batch`, spinning while full.
fn drive(writer: RingWriter, w: u32, count: u64, batch: u64) {
    let mut n = 0;
    let mut spins = 0;
    while n < count {
        let chunk: Vec<Sample> = (n..count.min(n + batch)).map(|i| numbered(w, i)).collect();
        match writer.try_push(&chunk) {
            PushOutcome::Accepted(0) => sync::backoff(&mut spins),
            PushOutcome::Accepted(k) => n += k as u64,
            PushOutcome::Closed => panic!("ring closed under writer {w}"),
        }
    }
}

/// Reads until closed; returns per writer the numbers seen, and the total skipped.
fn drain(mut reader: RingReader, writers: usize) -> (Vec<Vec<u64>>, u64) {
    let mut seen = vec![Vec::new(); writers];
    let mut out = Vec::new();
    let mut skipped = 0;
    let mut spins = 0;
    loop {
        out.clear();
        let r = reader.try_read(&mut out, 37);
        skipped += r.skipped;
        for s in &out {
            let Value::UInt(n) = s.value else { panic!("foreign sample {s:?}") };
            assert_eq!(s.ts.0 as u64, n, "torn sample {s:?}");
            seen[s.tag.0 as usize].push(n);
        }
        if r.closed {
            assert_eq!(skipped, reader.skipped());
            return (seen, skipped);
        }
        if r.read == 0 {
            sync::backoff(&mut spins);
        }
    }
}

#[test]
fn four_writers_three_readers_stress() {
    const WRITERS: usize = 4;
    const PER_WRITER: u64 = 50_000;
    let ring = Ring::new(64);
    let policies = [ReadPolicy::Lossless, ReadPolicy::Lossless, ReadPolicy::Lossy];
    let readers: Vec<_> = policies
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let reader = ring.reader(&format!("reader-{i}"), p);
            std::thread::spawn(move || drain(reader, WRITERS))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let writer = ring.writer();
            std::thread::spawn(move || drive(writer, w as u32, PER_WRITER, 1 + w as u64 * 5))
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    ring.close();
    for (policy, reader) in policies.iter().zip(readers) {
        let (seen, skipped) = reader.join().unwrap();
        let read: usize = seen.iter().map(Vec::len).sum();
        assert_eq!(read as u64 + skipped, WRITERS as u64 * PER_WRITER, "{policy:?}: read + skipped");
        for (w, numbers) in seen.iter().enumerate() {
            assert!(numbers.windows(2).all(|p| p[0] < p[1]), "{policy:?}: writer {w} out of order");
            if *policy == ReadPolicy::Lossless {
                assert_eq!(skipped, 0);
                assert_eq!(numbers.len() as u64, PER_WRITER, "lossless reader missed samples of writer {w}");
            }
        }
    }
    assert_eq!(ring.stats().written, WRITERS as u64 * PER_WRITER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_store_slows_drivers_and_loses_nothing() {
    let ring = Ring::new(8);
    let mut store = ring.reader("store", ReadPolicy::Lossless);
    let publisher = ring.publisher();
    let sent: Vec<Sample> = (0..40).map(|n| numbered(0, n)).collect();
    let driver = tokio::spawn({
        let sent = sent.clone();
        async move { publisher.publish(&sent).await }
    });
    // The store stalls: the driver fills the ring and is held back, counted once.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!driver.is_finished(), "the driver must wait, not drop");
    let stats = ring.stats();
    assert_eq!((stats.written, stats.depth, stats.back_pressure_events), (8, 8, 1));
    // Advancing the store releases the driver.
    let mut got = Vec::new();
    while got.len() < sent.len() {
        store.read(&mut got, 3).await.expect("ring open");
    }
    assert!(driver.await.unwrap());
    assert_eq!(got, sent);
    assert_eq!(ring.stats().back_pressure_events, 1);
}

#[tokio::test]
async fn close_wakes_a_held_back_driver() {
    let ring = Ring::new(2);
    let _store = ring.reader("store", ReadPolicy::Lossless);
    let publisher = ring.publisher();
    let driver = tokio::spawn(async move { publisher.publish(&[numbered(0, 0); 5]).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    ring.close();
    assert!(!tokio::time::timeout(Duration::from_secs(5), driver).await.unwrap().unwrap());
}

#[tokio::test]
async fn dropping_the_stalled_reader_releases_a_driver() {
    let ring = Ring::new(2);
    let store = ring.reader("store", ReadPolicy::Lossless);
    let publisher = ring.publisher();
    let driver = tokio::spawn(async move { publisher.publish(&[numbered(0, 0); 5]).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!driver.is_finished());
    drop(store);
    assert!(tokio::time::timeout(Duration::from_secs(5), driver).await.unwrap().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_waits_for_data_then_sees_close() {
    let ring = Ring::new(4);
    let mut engine = ring.reader("engine", ReadPolicy::Lossy);
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        while engine.read(&mut out, 10).await.is_some() {}
        out
    });
    let writer = ring.writer();
    for n in 0..3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(writer.try_push(&[numbered(1, n)]), PushOutcome::Accepted(1));
    }
    ring.close();
    let out = tokio::time::timeout(Duration::from_secs(5), reader).await.unwrap().unwrap();
    assert_eq!(out, (0..3).map(|n| numbered(1, n)).collect::<Vec<_>>());
}

#[tokio::test]
async fn read_with_zero_max_returns_at_once() {
    let ring = Ring::new(4);
    let mut reader = ring.reader("engine", ReadPolicy::Lossless);
    assert_eq!(reader.read(&mut Vec::new(), 0).await, Some(0));
}

#[test]
fn writer_handles_are_send_sync_and_sinks() {
    fn sink<T: drivers::SampleSink + Clone>() {}
    sink::<RingWriter>();
    let ring = Ring::new(4);
    let _: Arc<dyn drivers::SampleSink> = Arc::new(ring.writer());
}
