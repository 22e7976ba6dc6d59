//! Prometheus text exposition (format 0.0.4), written by hand: the agent's metrics are a few dozen
//! families of plain counters and gauges, read from atomics at scrape time.

use std::fmt::Write;

use drivers::Histogram;

/// Builds one /metrics response. Families must be written whole, one after another.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: its HELP and TYPE lines.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", number(value));
        self
    }

    /// A whole histogram family member: cumulative buckets, +Inf, sum and count.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) -> &mut Self {
        let (buckets, count, sum) = h.snapshot();
        for (le, n) in buckets {
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(&number(le)));
            let _ = writeln!(self.out, " {n}");
        }
        let _ = write!(self.out, "{name}_bucket");
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.out, " {count}");
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", number(sum));
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {count}");
        self
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.out.push(',');
            }
            first = false;
            let _ = write!(self.out, "{k}=\"");
            // Exposition format: backslash, double quote and newline are escaped in label values.
            for c in v.chars() {
                match c {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        self.out.push('}');
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn families_labels_and_escaping() {
        let mut e = Exposition::new();
        e.family("edge_device_up", "gauge", "1 if the device answered its last scan.")
            .sample("edge_device_up", &[("device", "kiln \"A\"\\1")], 1.0)
            .sample("edge_ring_depth", &[], 0.0);
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP edge_device_up 1 if the device answered its last scan.\n# TYPE edge_device_up gauge\n\
             edge_device_up{device=\"kiln \\\"A\\\"\\\\1\"} 1\nedge_ring_depth 0\n"
        );
    }

    #[test]
    fn histogram_ends_with_inf_sum_and_count() {
        let h = Histogram::new(&[0.01, 0.1]);
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(500));
        let mut e = Exposition::new();
        e.histogram("lat", &[("device", "d")], &h);
        let text = e.finish();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "lat_bucket{device=\"d\",le=\"0.01\"} 1",
                "lat_bucket{device=\"d\",le=\"0.1\"} 1",
                "lat_bucket{device=\"d\",le=\"+Inf\"} 2",
                "lat_sum{device=\"d\"} 0.505",
                "lat_count{device=\"d\"} 2",
            ]
        );
    }
}
