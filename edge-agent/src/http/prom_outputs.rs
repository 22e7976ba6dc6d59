//! /metrics for the durable store and the uplinks.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::metrics::Exposition;
use crate::runtime::Generation;
use crate::uplink::UplinkStats;

pub fn render(g: &Generation, e: &mut Exposition) {
    if let Some(store) = &g.store {
        let c = &store.counters;
        let gauge = |e: &mut Exposition, name: &str, help: &str, v: u64| {
            e.family(name, "gauge", help).sample(name, &[], v as f64);
        };
        let counter = |e: &mut Exposition, name: &str, help: &str, v: u64| {
            e.family(name, "counter", help).sample(name, &[], v as f64);
        };
        counter(
            e,
            "edge_store_appended_samples_total",
            "Samples written to the store.",
            c.appended_samples.load(Relaxed),
        );
        counter(
            e,
            "edge_store_appended_bytes_total",
            "Bytes written to the store.",
            c.appended_bytes.load(Relaxed),
        );
        counter(e, "edge_store_syncs_total", "fsyncs of the store (group commits).", c.syncs.load(Relaxed));
        e.family(
            "edge_store_dropped_samples_total",
            "counter",
            "Samples the store dropped before every uplink sent them, by reason.",
        )
        .sample(
            "edge_store_dropped_samples_total",
            &[("reason", "max_bytes")],
            c.dropped_max_bytes.load(Relaxed) as f64,
        )
        .sample(
            "edge_store_dropped_samples_total",
            &[("reason", "disk_full")],
            c.dropped_disk_full.load(Relaxed) as f64,
        )
        .sample(
            "edge_store_dropped_samples_total",
            &[("reason", "write_failed")],
            c.dropped_write_failed.load(Relaxed) as f64,
        );
        counter(
            e,
            "edge_store_torn_bytes_total",
            "Bytes of records torn by a crash, cut at start-up.",
            c.torn_bytes.load(Relaxed),
        );
        gauge(e, "edge_store_disk_bytes", "Bytes the store holds on disk.", c.disk_bytes.load(Relaxed));
        gauge(e, "edge_store_max_bytes", "The store's cap ([store] max_bytes).", g.config.store.max_bytes);
        gauge(e, "edge_store_head_seq", "Sequence number the next sample will get.", c.head.load(Relaxed));
        gauge(e, "edge_store_segments", "Segment files in the store.", c.segments.load(Relaxed));
        gauge(
            e,
            "edge_store_unsynced_samples",
            "Samples appended but not yet fsynced: what a power cut would take.",
            c.unsynced_samples.load(Relaxed),
        );
    }
    let head = g.store.as_ref().map_or(0, |s| s.head());
    uplinks(&g.uplinks, head, e);
}

/// Each uplink's families, with the store at `head`.
fn uplinks(uplinks: &[Arc<UplinkStats>], head: u64, e: &mut Exposition) {
    type Get = fn(&UplinkStats) -> f64;
    let families: [(&str, &str, &str, Get); 20] = [
        (
            "edge_uplink_acked_seq",
            "gauge",
            "Every sample before this sequence number is acknowledged.",
            |u| u.acked.load(Relaxed) as f64,
        ),
        ("edge_uplink_up", "gauge", "1 if the peer took the last write.", |u| {
            u.up.load(Relaxed) as u8 as f64
        }),
        (
            "edge_uplink_sent_samples_total",
            "counter",
            "Samples the peer acknowledged (not those refused or unencodable).",
            |u| u.sent_samples.load(Relaxed) as f64,
        ),
        (
            "edge_uplink_refused_samples_total",
            "counter",
            "Samples the peer refused as malformed, kept in quarantine/ instead of resent.",
            |u| u.refused_samples.load(Relaxed) as f64,
        ),
        (
            "edge_uplink_unencodable_samples_total",
            "counter",
            "Samples with no form for the peer (e.g. a NaN float of good quality), not sent.",
            |u| u.unencodable_samples.load(Relaxed) as f64,
        ),
        (
            "edge_uplink_writes_failed_total",
            "counter",
            "Writes that will be retried (historian down, 5xx, 429, timeouts).",
            |u| u.writes_failed.load(Relaxed) as f64,
        ),
        ("edge_uplink_writes_rejected_total", "counter", "Writes the peer refused as malformed.", |u| {
            u.writes_rejected.load(Relaxed) as f64
        }),
        (
            "edge_uplink_quarantined_lines_total",
            "counter",
            "Items (lines, messages, frames) kept in quarantine/ instead of resent.",
            |u| u.quarantined_lines.load(Relaxed) as f64,
        ),
        (
            "edge_uplink_dropped_samples_total",
            "counter",
            "Samples dropped from the store (max_bytes) before this uplink sent them.",
            |u| u.dropped_samples.load(Relaxed) as f64,
        ),
        ("edge_uplink_commands_written_total", "counter", "Commands from the peer written to a tag.", |u| {
            u.commands_written.load(Relaxed) as f64
        }),
        (
            "edge_uplink_commands_refused_total",
            "counter",
            "Commands from the peer refused (not writable, outside limits, unknown).",
            |u| u.commands_refused.load(Relaxed) as f64,
        ),
        (
            "edge_uplink_rebirths_total",
            "counter",
            "Sparkplug births published again (a new session or a rebirth request).",
            |u| u.rebirths.load(Relaxed) as f64,
        ),
        ("edge_uplink_corrupt_records_total", "counter", "Corrupt store records this uplink skipped.", |u| {
            u.corrupt_records.load(Relaxed) as f64
        }),
        ("edge_uplink_corrupt_samples_total", "counter", "Samples lost inside corrupt store records.", |u| {
            u.corrupt_samples.load(Relaxed) as f64
        }),
        (
            "edge_uplink_resends_total",
            "counter",
            "Items sent again for want of the peer's reply (HJ 212 9014).",
            |u| u.resends.load(Relaxed) as f64,
        ),
        ("edge_uplink_reply_timeouts_total", "counter", "Waits for the peer's reply that timed out.", |u| {
            u.reply_timeouts.load(Relaxed) as f64
        }),
        (
            "edge_uplink_sessions_opened_total",
            "counter",
            "Sessions to the peer opened (HJ 212 TCP links).",
            |u| u.sessions_opened.load(Relaxed) as f64,
        ),
        (
            "edge_uplink_sessions_lost_total",
            "counter",
            "Sessions to the peer lost (closed, no reply, reset).",
            |u| u.sessions_lost.load(Relaxed) as f64,
        ),
        ("edge_uplink_session_up", "gauge", "1 while a session to the peer is open.", |u| {
            u.session_up.load(Relaxed) as u8 as f64
        }),
        (
            "edge_uplink_held_by_interval_total",
            "counter",
            "Records the peer's own intervals hold back (HJ 212 RtdInterval, MinInterval), kept for history.",
            |u| u.held_by_interval.load(Relaxed) as f64,
        ),
    ];
    for (name, kind, help, get) in families {
        e.family(name, kind, help);
        for u in uplinks {
            e.sample(name, &[("uplink", &u.name)], get(u));
        }
    }
    e.family(
        "edge_uplink_backlog_samples",
        "gauge",
        "Samples in the store not yet acknowledged by this uplink.",
    );
    for u in uplinks {
        e.sample("edge_uplink_backlog_samples", &[("uplink", &u.name)], u.backlog(head) as f64);
    }
    e.family("edge_uplink_write_duration_seconds", "histogram", "Time for one write to the peer.");
    for u in uplinks {
        e.histogram("edge_uplink_write_duration_seconds", &[("uplink", &u.name)], &u.write_latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_refused_and_unencodable_samples_are_shown_apart_per_uplink() {
        let vm = Arc::new(UplinkStats::new("vm"));
        vm.sent_samples.store(9_990, Relaxed);
        vm.refused_samples.store(7, Relaxed);
        vm.unencodable_samples.store(3, Relaxed);
        vm.acked.store(10_000, Relaxed);
        let other = Arc::new(UplinkStats::new("锅炉房"));
        let mut e = Exposition::new();
        uplinks(&[vm, other], 10_500, &mut e);
        let text = e.finish();
        for line in [
            r#"edge_uplink_sent_samples_total{uplink="vm"} 9990"#,
            r#"edge_uplink_refused_samples_total{uplink="vm"} 7"#,
            r#"edge_uplink_unencodable_samples_total{uplink="vm"} 3"#,
            r#"edge_uplink_backlog_samples{uplink="vm"} 500"#,
            r#"edge_uplink_refused_samples_total{uplink="锅炉房"} 0"#,
            "# TYPE edge_uplink_refused_samples_total counter",
            "# TYPE edge_uplink_unencodable_samples_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
        }
    }

    #[test]
    fn platform_sessions_resends_and_timeouts_are_shown_per_uplink() {
        let p = Arc::new(UplinkStats::new("province-1"));
        p.resends.store(2, Relaxed);
        p.reply_timeouts.store(3, Relaxed);
        p.sessions_opened.store(4, Relaxed);
        p.sessions_lost.store(3, Relaxed);
        p.session_up.store(true, Relaxed);
        p.held_by_interval.store(18, Relaxed);
        let other = Arc::new(UplinkStats::new("city-2"));
        let mut e = Exposition::new();
        uplinks(&[p, other], 0, &mut e);
        let text = e.finish();
        for line in [
            r#"edge_uplink_resends_total{uplink="province-1"} 2"#,
            r#"edge_uplink_reply_timeouts_total{uplink="province-1"} 3"#,
            r#"edge_uplink_sessions_opened_total{uplink="province-1"} 4"#,
            r#"edge_uplink_sessions_lost_total{uplink="province-1"} 3"#,
            r#"edge_uplink_session_up{uplink="province-1"} 1"#,
            r#"edge_uplink_held_by_interval_total{uplink="province-1"} 18"#,
            r#"edge_uplink_session_up{uplink="city-2"} 0"#,
            "# TYPE edge_uplink_session_up gauge",
            "# TYPE edge_uplink_resends_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
        }
    }
}
