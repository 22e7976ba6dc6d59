//! For tests of drivers: a ring that takes everything a driver publishes, so a test can read it back.

use std::sync::Mutex;

use protocols::{Sample, TagId};

use crate::BoxFuture;
use crate::context::{PushOutcome, SampleSink};

/// Takes every sample (or refuses all once `closed`, or is full, as if a lossless reader were a ring
/// behind, until `full_until`), keeping them in order.
#[derive(Default)]
pub struct TestSink {
    pub taken: Mutex<Vec<Sample>>,
    pub closed: bool,
    pub full_until: Option<tokio::time::Instant>,
}

impl TestSink {
    /// Every sample of `tag` so far, oldest first.
    pub fn of(&self, tag: TagId) -> Vec<Sample> {
        self.taken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| s.tag == tag)
            .copied()
            .collect()
    }

    pub fn all(&self) -> Vec<Sample> {
        self.taken.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl SampleSink for TestSink {
    fn try_push(&self, batch: &[Sample]) -> PushOutcome {
        if self.closed {
            return PushOutcome::Closed;
        }
        if self.full_until.is_some_and(|t| tokio::time::Instant::now() < t) {
            return PushOutcome::Accepted(0);
        }
        self.taken.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(batch);
        PushOutcome::Accepted(batch.len())
    }
    fn wait_for_space(&self) -> BoxFuture<'_, ()> {
        match self.full_until {
            Some(t) => Box::pin(tokio::time::sleep_until(t)),
            None => Box::pin(std::future::ready(())),
        }
    }
    fn note_back_pressure(&self) {}
}
