//! Buckets one slide long; a window is the merge of its buckets, so a sliding window costs one merge
//! per bucket when it closes, not one pass over its samples. Windows close when a sample of a later
//! bucket arrives, or on a tick 5 s after their end when the tag has gone quiet; a sample for a window
//! already closed is dropped and counted (`late`).

use std::collections::VecDeque;
use std::time::Duration;

use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};
use serde::{Deserialize, Serialize};

use super::Function;
use crate::engine::stats::{Moments, reason_from_word, reason_word};
use crate::engine::{Emitter, Engine};

const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Bucket {
    index: i64,
    good: Moments,
    bad: u64,
    reason: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    buckets: VecDeque<Bucket>,
    /// Index of the next window end (in slides since the epoch) not yet closed.
    next_end: Option<i64>,
    late: u64,
}

pub struct WindowEngine {
    tag: TagId,
    step: i64,
    /// Buckets per window.
    per: i64,
    outputs: Vec<(Function, TagId)>,
    state: State,
}

impl WindowEngine {
    pub fn new(
        tag: TagId,
        window: Duration,
        step: Duration,
        outputs: Vec<(Function, TagId)>,
    ) -> WindowEngine {
        let step = i64::try_from(step.as_nanos()).unwrap_or(i64::MAX).max(1);
        let per = (i64::try_from(window.as_nanos()).unwrap_or(i64::MAX) / step).max(1);
        WindowEngine { tag, step, per, outputs, state: State::default() }
    }

    /// Samples dropped because their window had closed.
    pub fn late(&self) -> u64 {
        self.state.late
    }

    fn close_until(&mut self, end: i64, out: &mut Emitter) {
        let Some(mut next) = self.state.next_end else { return };
        // After a long silence only the windows that hold a bucket are worth closing.
        let first_bucket = self.state.buckets.front().map_or(end, |b| b.index);
        if next < first_bucket + 1 {
            next = first_bucket + 1;
        }
        while next <= end {
            self.close(next, out);
            next += 1;
            if self.state.buckets.is_empty() {
                next = end + 1;
            }
        }
        self.state.next_end = Some(next);
    }

    fn close(&mut self, end: i64, out: &mut Emitter) {
        let from = end - self.per;
        let mut all = Moments::default();
        let (mut bad, mut reason) = (0, None);
        for b in self.state.buckets.iter().filter(|b| b.index >= from && b.index < end) {
            all.merge(&b.good);
            bad += b.bad;
            reason = reason.or(b.reason);
        }
        // The next window starts one slide later.
        while self.state.buckets.front().is_some_and(|b| b.index <= from) {
            self.state.buckets.pop_front();
        }
        if all.count == 0 && bad == 0 {
            return;
        }
        let ts = Timestamp(end.saturating_mul(self.step));
        let why = reason.and_then(reason_from_word).unwrap_or(Reason::Stale);
        let quality = if bad > 0 { Quality::Uncertain(why) } else { Quality::Good };
        for &(f, tag) in &self.outputs {
            let v = match f {
                Function::Count => Some(Value::UInt(all.count)),
                Function::Min if all.count > 0 => Some(Value::Float(all.min)),
                Function::Max if all.count > 0 => Some(Value::Float(all.max)),
                Function::Mean if all.count > 0 => Some(Value::Float(all.mean)),
                Function::Stddev => all.stddev().map(Value::Float),
                _ => None,
            };
            match v {
                Some(value) => out.sample(Sample { tag, ts, value, quality }),
                None if f != Function::Stddev => out.sample(Sample::bad(tag, ts, why)),
                None => {}
            }
        }
    }
}

impl Engine for WindowEngine {
    fn on_sample(&mut self, s: &Sample, out: &mut Emitter) {
        if s.tag != self.tag {
            return;
        }
        let index = s.ts.0.div_euclid(self.step);
        let next = *self.state.next_end.get_or_insert(index + 1);
        if index < next - 1 {
            self.state.late += 1;
            return;
        }
        self.close_until(index, out);
        if self.state.buckets.back().is_none_or(|b| b.index != index) {
            self.state.buckets.push_back(Bucket { index, ..Bucket::default() });
        }
        let bucket = self.state.buckets.back_mut().expect("pushed above");
        match (s.quality, s.value.as_f64().filter(|v| v.is_finite())) {
            (Quality::Bad(r), _) => {
                bucket.bad += 1;
                bucket.reason.get_or_insert(reason_word(r));
            }
            (_, None) => {
                bucket.bad += 1;
                bucket.reason.get_or_insert(reason_word(Reason::DecodeError));
            }
            (_, Some(v)) => bucket.good.push(v),
        }
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter) {
        let settled = now.0.saturating_sub(GRACE.as_nanos() as i64).div_euclid(self.step);
        self.close_until(settled, out);
    }

    fn save(&self) -> Option<serde_json::Value> {
        crate::engine::save_state(&self.state)
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), String> {
        crate::engine::restore_state(&mut self.state, state)
    }
}
