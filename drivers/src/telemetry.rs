//! Per-device counters and health. One event, one place: [`DeviceStats::scan_failed`] both logs and
//! counts, so the log and /metrics never disagree.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What kind of fault a device had; a label in /metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No answer within the device's timeout.
    Timeout,
    /// The device refused: a protocol exception.
    Exception,
    /// The link is down or broke mid-request.
    Link,
    /// An answer arrived but could not be decoded.
    Decode,
    /// A write was refused or failed.
    Write,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 5] =
        [ErrorKind::Timeout, ErrorKind::Exception, ErrorKind::Link, ErrorKind::Decode, ErrorKind::Write];

    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Exception => "exception",
            ErrorKind::Link => "link",
            ErrorKind::Decode => "decode",
            ErrorKind::Write => "write",
        }
    }
}

/// Latency histogram with fixed buckets (seconds), lock-free to observe.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// Scan latency buckets: from a fast loopback read (100 µs) to a slow serial poll at 9600 baud (10 s).
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Cumulative counts per upper bound (Prometheus `le` semantics), then the total count and sum.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut acc = 0;
        let cumulative = self
            .bounds
            .iter()
            .zip(&self.buckets)
            .map(|(&b, c)| {
                acc += c.load(Ordering::Relaxed);
                (b, acc)
            })
            .collect();
        let count = self.count.load(Ordering::Relaxed);
        (cumulative, count, self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9)
    }
}

/// Health and counters of one device, shared between its driver and the agent's HTTP listener.
#[derive(Debug)]
pub struct DeviceStats {
    pub name: String,
    pub samples: AtomicU64,
    pub scans: AtomicU64,
    /// Scans that fell due but never ran because an earlier one started more than a period late.
    pub scans_skipped: AtomicU64,
    pub scan_latency: Histogram,
    /// Requests sent (polled protocols), their round trips, and how many one scan takes.
    pub requests: AtomicU64,
    pub request_latency: Histogram,
    pub requests_per_scan: AtomicU64,
    /// Connections re-established after a loss.
    pub reconnects: AtomicU64,
    /// Ranges (or boundaries) the device refused to read over, found by splitting its refused reads.
    pub refusals_learned: AtomicU64,
    /// Answers that came after their request had timed out, dropped (Modbus TCP tells them apart by
    /// transaction id, so the connection stays up).
    pub stale_answers: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    up: AtomicBool,
    last_error: Mutex<Option<String>>,
    last_warned: Mutex<Option<Instant>>,
    last_skip_warned: Mutex<Option<Instant>>,
    flaps: crate::flap::FlapLimiter,
}

/// A device that keeps failing logs a warning at most this often; every failure is still counted.
const REPEAT_WARNING_EVERY: Duration = Duration::from_secs(60);

impl DeviceStats {
    pub fn new(name: &str) -> Self {
        DeviceStats {
            name: name.to_owned(),
            samples: AtomicU64::new(0),
            scans: AtomicU64::new(0),
            scans_skipped: AtomicU64::new(0),
            scan_latency: Histogram::new(LATENCY_BUCKETS),
            requests: AtomicU64::new(0),
            request_latency: Histogram::new(LATENCY_BUCKETS),
            requests_per_scan: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            stale_answers: AtomicU64::new(0),
            refusals_learned: AtomicU64::new(0),
            errors: Default::default(),
            up: AtomicBool::new(false),
            last_error: Mutex::new(None),
            last_warned: Mutex::new(None),
            last_skip_warned: Mutex::new(None),
            flaps: Default::default(),
        }
    }

    /// A scan that returned values; brings the device back up (logged once on the transition).
    pub fn scan_ok(&self, samples: usize, latency: Duration) {
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.samples.fetch_add(samples as u64, Ordering::Relaxed);
        self.scan_latency.observe(latency);
        if !self.up.swap(true, Ordering::Relaxed) {
            self.log_transition(tracing::Level::INFO, "up", "device up");
        }
    }

    /// Samples that arrived outside a scan (subscriptions, pushed messages).
    pub fn received(&self, samples: usize) {
        self.samples.fetch_add(samples as u64, Ordering::Relaxed);
        if !self.up.swap(true, Ordering::Relaxed) {
            self.log_transition(tracing::Level::INFO, "up", "device up");
        }
    }

    /// A failed scan or request: counted every time, logged on the transition to down and then at most
    /// once a minute while it keeps failing, so a dead device cannot flood the journal.
    pub fn scan_failed(&self, kind: ErrorKind, message: &str) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("{}: {message}", kind.label()));
        let was_up = self.up.swap(false, Ordering::Relaxed);
        let mut last = self.last_warned.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= REPEAT_WARNING_EVERY);
        if was_up {
            *last = Some(Instant::now());
            let what = format!("down: {}: {message}", kind.label());
            self.log_transition(tracing::Level::WARN, &what, &format!("device fault: {message}"));
        } else if due {
            *last = Some(Instant::now());
            tracing::warn!(device = %self.name, kind = kind.label(), "device fault: {message}");
        } else {
            tracing::debug!(device = %self.name, kind = kind.label(), "device fault: {message}");
        }
    }

    /// A request the device answered with a refusal (an exception) or garbled: counted and remembered,
    /// but the device stays up: it is there, it answers.
    pub fn request_failed(&self, kind: ErrorKind, message: &str) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("{}: {message}", kind.label()));
        let mut last = self.last_warned.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= REPEAT_WARNING_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(device = %self.name, kind = kind.label(), "device fault: {message}");
        }
    }

    /// An answer that came after its request had timed out and was dropped. The timeout itself was
    /// already warned about; this says the device is slower than the timeout, not gone.
    pub fn stale_answer(&self) {
        self.stale_answers.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(device = %self.name, "late answer dropped: the device answers, but slower than the link's timeout");
    }

    /// The driver found something the device refuses to read and plans around it from now on: counted,
    /// and warned about (once per finding: what is learnt is not searched for again).
    pub fn learned(&self, message: &str) {
        self.refusals_learned.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(device = %self.name, "{message}");
    }

    /// Scans of one slot that fell due and never ran: counted every time, warned about at most once a
    /// minute (a link that is too slow for its scans stays too slow).
    pub fn skipped(&self, scans: u64, period: Duration) {
        self.scans_skipped.fetch_add(scans, Ordering::Relaxed);
        let mut last = self.last_skip_warned.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= REPEAT_WARNING_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                device = %self.name,
                "{scans} scans skipped: a scan every {period:?} does not fit the link's time (timeouts, \
                 other devices on it); slow the scan down or move devices to a link of their own"
            );
        }
    }

    /// An up/down transition, through the flap limiter.
    fn log_transition(&self, level: tracing::Level, what: &str, line: &str) {
        use crate::flap::Verdict;
        match self.flaps.transition(Instant::now(), what) {
            Verdict::Log { summary } => {
                if let Some(summary) = summary {
                    tracing::warn!(device = %self.name, "{summary}");
                }
                if level == tracing::Level::WARN {
                    tracing::warn!(device = %self.name, "{line}");
                } else {
                    tracing::info!(device = %self.name, "{line}");
                }
            }
            Verdict::Notice(notice) => tracing::warn!(device = %self.name, "{notice}"),
            Verdict::Quiet => tracing::debug!(device = %self.name, "{line}"),
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize].load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log lines written while `f` runs, at info and above.
    fn logged(f: impl FnOnce()) -> Vec<String> {
        use std::sync::Arc;
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let out = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_flapping_device_logs_a_few_lines_not_thousands() {
        let d = DeviceStats::new("锅炉一号");
        let lines = logged(|| {
            for _ in 0..1000 {
                d.scan_ok(1, Duration::from_millis(1));
                d.scan_failed(ErrorKind::Timeout, "no answer within 500ms");
            }
        });
        assert_eq!(d.errors(ErrorKind::Timeout), 1000, "every fault is counted");
        assert!(
            lines.len() <= crate::flap::FREE_PER_WINDOW as usize + 1,
            "{} lines:\n{}",
            lines.len(),
            lines.join("\n")
        );
        assert!(lines.iter().all(|l| l.contains("锅炉一号")), "{lines:?}");
        assert!(lines.last().unwrap().contains("flapping"), "{lines:?}");
    }

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::new(&[0.001, 0.01, 0.1]);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(1));
        let (buckets, count, sum) = h.snapshot();
        assert_eq!(buckets, vec![(0.001, 1), (0.01, 3), (0.1, 3)]);
        assert_eq!(count, 4, "the 1 s observation lands only in +Inf");
        assert!((sum - 1.0105).abs() < 1e-9);
    }

    #[test]
    fn failures_take_the_device_down_and_are_counted_by_kind() {
        let d = DeviceStats::new("meter-3");
        d.scan_ok(10, Duration::from_millis(2));
        assert!(d.is_up());
        d.scan_failed(ErrorKind::Timeout, "no answer in 1s");
        d.scan_failed(ErrorKind::Timeout, "no answer in 1s");
        d.scan_failed(ErrorKind::Exception, "illegal data address");
        assert!(!d.is_up());
        assert_eq!(d.errors(ErrorKind::Timeout), 2);
        assert_eq!(d.errors(ErrorKind::Exception), 1);
        assert_eq!(d.last_error().as_deref(), Some("exception: illegal data address"));
        assert_eq!(d.samples.load(Ordering::Relaxed), 10);
    }
}
