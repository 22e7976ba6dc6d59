//! The last few minutes of every numeric tag, for the console's sparklines. Fed by the snapshot's lossy
//! ring reader (it may skip under load, and then a bucket keeps an older value). Bounded: a fixed number of `f32`
//! buckets per tag, allocated when a tag's first number arrives, so 10 000 tags cost about 2.4 MB.

use std::sync::Mutex;

use protocols::{Sample, TagId, Timestamp, Value};

/// One bucket per 5 s, 60 of them: five minutes, the span an operator glances at.
pub const STEP_NS: u64 = 5_000_000_000;
pub const POINTS: usize = 60;

#[derive(Default, Clone)]
struct Track {
    /// `POINTS` values by bucket number modulo `POINTS`; NaN where the bucket saw no number.
    points: Box<[f32]>,
    /// The newest bucket written; 0 until the first number.
    last: u64,
}

pub struct History {
    tracks: Mutex<Vec<Track>>,
}

impl History {
    pub fn new(tags: usize) -> Self {
        History { tracks: Mutex::new(vec![Track::default(); tags]) }
    }

    pub fn record(&self, batch: &[Sample]) {
        let mut tracks = self.lock();
        for s in batch {
            let Some(value) = number(&s.value) else { continue };
            if let Some(track) = tracks.get_mut(s.tag.0 as usize) {
                track.put(bucket(s.ts), value);
            }
        }
    }

    /// The tag's buckets up to `now`, oldest first, as (bucket start in ns, value); buckets without a
    /// number are left out, so a device that was down shows as a gap in time, not as zeros.
    pub fn points(&self, tag: TagId, now: Timestamp) -> Vec<(u64, f32)> {
        let tracks = self.lock();
        let Some(track) = tracks.get(tag.0 as usize).filter(|t| !t.points.is_empty()) else {
            return Vec::new();
        };
        let newest = bucket(now);
        let oldest =
            newest.saturating_sub(POINTS as u64 - 1).max(track.last.saturating_sub(POINTS as u64 - 1));
        (oldest..=newest.min(track.last))
            .filter_map(|b| {
                let v = track.points[(b % POINTS as u64) as usize];
                (!v.is_nan()).then_some((b * STEP_NS, v))
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Track>> {
        self.tracks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Track {
    fn put(&mut self, bucket: u64, value: f32) {
        if self.points.is_empty() {
            self.points = vec![f32::NAN; POINTS].into_boxed_slice();
            self.last = bucket;
        }
        if bucket > self.last {
            // Buckets skipped since the last number saw none: clear what they held from a lap ago.
            for b in (self.last + 1)..bucket.min(self.last + 1 + POINTS as u64) {
                self.points[(b % POINTS as u64) as usize] = f32::NAN;
            }
            self.last = bucket;
        } else if self.last - bucket >= POINTS as u64 {
            return; // older than the window (a late sample after a long gap)
        }
        self.points[(bucket % POINTS as u64) as usize] = value;
    }
}

fn bucket(ts: Timestamp) -> u64 {
    ts.as_nanos().max(0) as u64 / STEP_NS
}

fn number(value: &Value) -> Option<f32> {
    let v = match *value {
        Value::Bool(b) => f32::from(u8::from(b)),
        Value::Int(i) => i as f32,
        Value::UInt(u) => u as f32,
        Value::Float(f) if f.is_finite() => f as f32,
        _ => return None,
    };
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64, v: f64) -> Sample {
        Sample::good(TagId(0), Timestamp::from_secs(s), Value::Float(v))
    }

    #[test]
    fn keeps_the_last_value_of_each_bucket_and_only_the_window() {
        let h = History::new(1);
        // Ten minutes at one sample a second: only the last five minutes stay.
        let batch: Vec<Sample> = (0..600).map(|s| at(s, s as f64)).collect();
        h.record(&batch);
        let points = h.points(TagId(0), Timestamp::from_secs(599));
        assert_eq!(points.len(), POINTS);
        assert_eq!(points.first(), Some(&(300 * 1_000_000_000, 304.0)));
        assert_eq!(points.last(), Some(&(595 * 1_000_000_000, 599.0)));
    }

    #[test]
    fn a_silent_device_leaves_a_gap_not_old_values() {
        let h = History::new(1);
        h.record(&[at(0, 1.0), at(5, 2.0)]);
        // 4 minutes of nothing (a lap is 5 minutes), then a value: the gap stays empty.
        h.record(&[at(250, 3.0)]);
        let points = h.points(TagId(0), Timestamp::from_secs(250));
        let values: Vec<f32> = points.iter().map(|p| p.1).collect();
        assert_eq!(values, vec![1.0, 2.0, 3.0]);
        // Six minutes later again: a whole lap of nothing clears everything before.
        h.record(&[at(610, 4.0)]);
        let values: Vec<f32> = h.points(TagId(0), Timestamp::from_secs(610)).iter().map(|p| p.1).collect();
        assert_eq!(values, vec![4.0]);
    }

    #[test]
    fn text_and_unknown_tags_cost_nothing() {
        let h = History::new(1);
        h.record(&[Sample::good(TagId(7), Timestamp::from_secs(0), Value::Float(1.0))]);
        h.record(&[Sample::good(TagId(0), Timestamp::from_secs(0), Value::Float(f64::NAN))]);
        assert!(h.points(TagId(0), Timestamp::from_nanos(0)).is_empty());
        assert!(h.points(TagId(7), Timestamp::from_nanos(0)).is_empty());
    }
}
