//! What an uplink kind implements: turn the store's samples into the peer's own items (a line of line
//! protocol, an MQTT message, an HJ 212 frame) and deliver a run of them. Everything else an uplink needs
//! (its cursor, batching, the in-flight window, retries, backlog pacing, halving and quarantine, the
//! metrics) is the generic sender's, so every kind behaves the same way when its peer misbehaves.

use std::time::Duration;

pub use drivers::BoxFuture;

use crate::store::Batch;

/// A peer that takes the store's samples: a historian, a broker, a platform.
pub trait Sink: Send + Sync + 'static {
    /// One unit the peer takes or refuses as a whole; the sender isolates refused ones by halving a list
    /// of them, so an item is never cut.
    type Item: Send + Sync + 'static;

    /// File extension of the quarantine file (`quarantine/<uplink>.<ext>`), e.g. `lp` for line protocol.
    const QUARANTINE_EXT: &'static str;

    /// Appends the items for `batch` to `out`. Samples without a form for this peer (a NaN float with good
    /// quality, a tag missing from the dictionary) are counted in the answer, not sent.
    fn encode(&self, batch: &Batch, replay: Replay, out: &mut Vec<Encoded<Self::Item>>) -> Unencodable;

    /// Sends `items` as one write (request, publish burst, frame train) and says what became of them.
    fn deliver<'a>(&'a self, items: &'a [Encoded<Self::Item>]) -> BoxFuture<'a, Delivery>;

    /// One item as one line of text, for the quarantine file.
    fn describe(&self, item: &Self::Item) -> String;

    /// Where the items go, as logs may show it: no credentials.
    fn peer(&self) -> String;
}

/// An item and how many samples it carries (an MQTT message may carry several).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded<I> {
    pub item: I,
    pub samples: u32,
}

/// Whether a batch is live data or the backlog of an outage sent beside it: some peers flag history
/// (HJ 212's supplementary upload, Sparkplug's `is_historical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    Live,
    Backlog,
}

/// Samples a batch had no form for: how many, and why the first one had none (for the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unencodable {
    pub samples: u64,
    pub first_reason: Option<String>,
}

impl Unencodable {
    /// Counts one more, keeping the first reason.
    pub fn add(&mut self, reason: impl FnOnce() -> String) {
        self.samples += 1;
        if self.first_reason.is_none() {
            self.first_reason = Some(reason());
        }
    }
}

/// The peer's answer to one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Every item is stored.
    Acknowledged,
    /// Nothing is stored; send the same items again later. `after` is the peer's own hint (Retry-After).
    Retry { reason: String, after: Option<Duration> },
    /// The first `delivered` items are stored, then the link failed: send the rest again later. A peer
    /// that acknowledges item by item (HJ 212) says so, or a flaky link would resend the first items of
    /// a batch for ever and never get to its end.
    Partly { delivered: usize, reason: String, after: Option<Duration> },
    /// Some items are malformed to the peer: sending them again cannot help. The sender halves the list
    /// until the refused items are alone and quarantines them.
    Refused { reason: String },
    /// The write is over the peer's size limit: the sender halves it; a single item too large is
    /// quarantined.
    TooLarge { reason: String },
}
