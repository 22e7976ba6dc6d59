//! One batch's way to the historian: resent until the server takes it, halved when it calls lines
//! malformed (or the body too large) so the good lines still arrive, the bad ones quarantined. Several
//! batches may be on their way at once; the sender acknowledges them in order.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::UplinkStats;
use super::backoff::Backoff;
use super::influx::{InfluxClient, WriteOutcome};
use super::quarantine;

/// Retries never wait longer than this, so a historian that comes back is noticed within it.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// What every batch of one uplink shares.
pub struct Delivery {
    pub name: String,
    pub client: InfluxClient,
    pub stats: Arc<UplinkStats>,
    pub store_dir: std::path::PathBuf,
}

impl Delivery {
    /// Sends `body` until every line is taken or quarantined. False if told to stop first.
    pub async fn send(self: Arc<Self>, body: String, mut stop: watch::Receiver<bool>) -> bool {
        let mut backoff = Backoff::new(Duration::from_millis(200), MAX_RETRY_WAIT);
        let mut seed = seed();
        let mut parts = vec![body];
        while let Some(body) = parts.pop() {
            loop {
                if *stop.borrow() {
                    return false;
                }
                let t = Instant::now();
                let outcome = self.client.write(body.as_bytes()).await;
                self.stats.write_latency.observe(t.elapsed());
                match outcome {
                    WriteOutcome::Accepted => {
                        backoff.reset();
                        self.accepted();
                        break;
                    }
                    WriteOutcome::Retry { reason, after } => {
                        self.failed(&reason);
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        let delay = match after {
                            Some(hint) => backoff.after_server_hint(hint),
                            None => backoff.next_delay(seed),
                        };
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = stop.changed() => {}
                        }
                    }
                    WriteOutcome::Rejected { .. } | WriteOutcome::TooLarge { .. }
                        if body.lines().nth(1).is_some() =>
                    {
                        // Halve until the bad lines are alone: the good ones still reach the historian.
                        let (a, b) = halves(&body);
                        parts.push(b);
                        parts.push(a);
                        break;
                    }
                    WriteOutcome::Rejected { status, message } => {
                        self.quarantine(&body, &format!("{status}: {message}"));
                        break;
                    }
                    WriteOutcome::TooLarge { message } => {
                        self.quarantine(&body, &format!("413: {message}"));
                        break;
                    }
                }
            }
        }
        true
    }

    fn accepted(&self) {
        self.stats.writes_accepted.fetch_add(1, Relaxed);
        if !self.stats.up.swap(true, Relaxed) {
            match self.stats.down_since.lock().unwrap_or_else(|e| e.into_inner()).take() {
                Some(since) => tracing::info!(
                    uplink = %self.name,
                    "uplink: the historian takes writes again after {:.0?}",
                    since.elapsed()
                ),
                None => {
                    tracing::info!(uplink = %self.name, url = %self.client.write_url(), "uplink: connected")
                }
            }
            self.stats.set_error(None);
        }
    }

    /// Logs once per outage; /healthz and /metrics carry the latest reason.
    fn failed(&self, reason: &str) {
        self.stats.writes_failed.fetch_add(1, Relaxed);
        let was_up = self.stats.up.swap(false, Relaxed);
        let mut since = self.stats.down_since.lock().unwrap_or_else(|e| e.into_inner());
        if was_up || since.is_none() {
            since.get_or_insert_with(Instant::now);
            tracing::warn!(
                uplink = %self.name,
                "uplink: {reason}; samples stay in the store and are sent when the historian takes them"
            );
        }
        drop(since);
        self.stats.set_error(Some(reason.to_owned()));
    }

    fn quarantine(&self, body: &str, why: &str) {
        let lines = body.lines().count() as u64;
        self.stats.writes_rejected.fetch_add(1, Relaxed);
        self.stats.quarantined_lines.fetch_add(lines, Relaxed);
        match quarantine::save(&self.store_dir, &self.name, body, why) {
            Ok(path) => tracing::error!(
                uplink = %self.name,
                "uplink: the historian refused {lines} line(s) as malformed ({why}); kept in {} instead of resending",
                path.display()
            ),
            Err(e) => tracing::error!(
                uplink = %self.name,
                "uplink: the historian refused {lines} line(s) as malformed ({why}), and they cannot be kept: {e}"
            ),
        }
    }
}

/// Splits a body of several lines at the line nearest its middle.
fn halves(body: &str) -> (String, String) {
    let mid = body.len() / 2;
    let cut = body[..mid].rfind('\n').map(|i| i + 1).or_else(|| body[mid..].find('\n').map(|i| mid + i + 1));
    let cut = cut.filter(|&c| c < body.len()).unwrap_or(body.len());
    (body[..cut].to_owned(), body[cut..].to_owned())
}

fn seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
}

#[cfg(test)]
mod tests {
    use super::halves;

    #[test]
    fn halves_split_at_a_line_boundary() {
        let (a, b) = halves("a 1\nb 2\nc 3\nd 4\n");
        assert_eq!((a.as_str(), b.as_str()), ("a 1\nb 2\n", "c 3\nd 4\n"));
        let (a, b) = halves("long line number one\nx\n");
        assert_eq!((a.as_str(), b.as_str()), ("long line number one\n", "x\n"));
    }
}
