//! Cumulative registers: the step between two readings as energy (or volume), through a rollover, and
//! a reset or a replaced meter told apart from consumption so that it is never counted as one.

/// How one register counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    /// Reading after which the register starts again from 0 (`rollover`), plus one count.
    pub modulus: Option<f64>,
    /// One count (`resolution`): the least step, and the slack of the plausibility test.
    pub resolution: f64,
    /// CT × PT: register units to primary units.
    pub ratio: f64,
    /// The most the register can advance per hour, in register units (`max_rate` / ratio).
    pub max_per_hour: Option<f64>,
}

/// What a step between two readings was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Consumption, in primary units.
    Counted(f64),
    /// Consumption through a rollover, in primary units.
    Rolled(f64),
    /// The register went back (or jumped past what the meter can count): a reset or a new meter. The
    /// step is not consumption; the new reading is the new baseline.
    Reset,
}

/// A step may exceed `max_rate` by this share before it counts as a replacement (a meter's own rate
/// limit and the scan's timing jitter).
const RATE_SLACK: f64 = 1.1;
/// Without `max_rate`, a decrease counts as a rollover only from the top tenth of the range to the
/// bottom tenth: a register that falls from mid-range was reset.
const EDGE: f64 = 0.1;

impl Register {
    pub fn step(&self, prev: f64, next: f64, dt_ns: i64) -> Step {
        let hours = dt_ns.max(0) as f64 / 3.6e12;
        let fits = |d: f64| self.max_per_hour.is_none_or(|r| d <= r * hours * RATE_SLACK + self.resolution);
        let d = next - prev;
        if d >= 0.0 {
            return if fits(d) { Step::Counted(d * self.ratio) } else { Step::Reset };
        }
        let Some(m) = self.modulus else { return Step::Reset };
        let wrapped = m - prev + next;
        let plausible = match self.max_per_hour {
            Some(_) => fits(wrapped),
            None => prev >= m * (1.0 - EDGE) && next <= m * EDGE,
        };
        if wrapped > 0.0 && plausible { Step::Rolled(wrapped * self.ratio) } else { Step::Reset }
    }
}
