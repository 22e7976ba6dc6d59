//! A step test as an SVG picture, written by hand: SP and PV of each CV above, OP of each MV below,
//! against minutes. Engineers tune by looking.

use std::fmt::Write;

use super::simulate::Point;

const W: f64 = 960.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const GAP: f64 = 36.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// A line: its name, its colour, its points (seconds, value), and whether it is drawn dashed (a setpoint).
type Series = (String, &'static str, Vec<(f64, f64)>, bool);

/// The plot of `trace`: a panel per CV (SP dashed, PV), then a panel per MV (OP), each on its own scale.
pub fn plot(title: &str, trace: &[Point], cvs: &[String], mvs: &[String]) -> String {
    let mut panels: Vec<Vec<Series>> = Vec::new();
    for (i, name) in cvs.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        panels.push(vec![
            (format!("SP {name}"), "#555", trace.iter().map(|p| (p.t, p.sp[i])).collect(), true),
            (format!("PV {name}"), colour, trace.iter().map(|p| (p.t, p.pv[i])).collect(), false),
        ]);
    }
    for (j, name) in mvs.iter().enumerate() {
        let colour = COLOURS[(cvs.len() + j) % COLOURS.len()];
        panels.push(vec![(
            format!("OP {name}"),
            colour,
            trace.iter().map(|p| (p.t, p.op[j])).collect(),
            false,
        )]);
    }
    let height = if panels.len() <= 2 { 220.0 } else { 150.0 };
    let h = 40.0 + panels.len() as f64 * (height + GAP) + 20.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="20" font-size="15">{}</text>
"#,
        escape(title)
    );
    let t_end = trace.last().map_or(1.0, |p| p.t).max(1e-9);
    for (k, series) in panels.iter().enumerate() {
        panel(&mut s, 40.0 + k as f64 * (height + GAP), height, series, t_end);
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">minutes</text>"#,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        h - 6.0
    );
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, y0: f64, height: f64, series: &[Series], t_end: f64) {
    let values = series.iter().flat_map(|(_, _, p, _)| p.iter().map(|q| q.1)).filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let (lo, hi) = (lo - pad, hi + pad);
    let width = W - LEFT - RIGHT;
    let x = |t: f64| LEFT + t / t_end * width;
    let y = |v: f64| y0 + height - (v - lo) / (hi - lo) * height;
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{y0}" width="{width}" height="{height}" fill="none" stroke="#888"/>"##
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let t = t_end * k as f64 / 4.0 / 60.0;
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 6.0,
            y(v) + 4.0,
            label(v)
        );
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#eee"/>"##,
            W - RIGHT,
            y(v),
            y(v)
        );
        let minutes = if t >= 10.0 { format!("{t:.0}") } else { format!("{t:.1}") };
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle">{minutes}</text>"##,
            x(t * 60.0),
            y0 + height + 14.0
        );
    }
    for (i, (name, colour, points, dashed)) in series.iter().enumerate() {
        let dash = if *dashed { r#" stroke-dasharray="6 4""# } else { "" };
        let mut d = String::new();
        for &(t, v) in points.iter().filter(|p| p.1.is_finite()) {
            let _ = write!(d, "{:.1},{:.1} ", x(t), y(v));
        }
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{}"/>"#,
            d.trim_end()
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" fill="{colour}">{}</text>"#,
            LEFT + 10.0 + 220.0 * i as f64,
            y0 + 14.0,
            escape(name)
        );
    }
}

fn label(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_has_a_line_per_series_and_escapes_names() {
        let trace: Vec<Point> = (0..10)
            .map(|i| Point { t: i as f64 * 60.0, sp: vec![1.0], pv: vec![i as f64 / 10.0], op: vec![5.0] })
            .collect();
        let svg = plot("step <kiln>", &trace, &["锅炉一号.温度".into()], &["valve".into()]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("step &lt;kiln&gt;") && svg.contains("PV 锅炉一号.温度"));
        // PV rises from the bottom of the top panel toward the SP line at its top.
        let pv = svg.lines().filter(|l| l.starts_with("<polyline")).nth(1).unwrap();
        let ys: Vec<f64> = pv
            .split('"')
            .nth(7)
            .unwrap()
            .split(' ')
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(ys.windows(2).all(|w| w[1] < w[0]), "{ys:?}");
    }
}
