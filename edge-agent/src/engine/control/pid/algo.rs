//! The PID algorithm, sampled: Åström & Hägglund, *Advanced PID Control* (ISA, 2006), ch. 3.
//!
//! Both forms are kept as parallel gains: ISA (standard) `K·(b·e_sp + 1/Ti·∫e + Td·dy)` gives
//! `kp = K, ki = K/Ti, kd = K·Td`. Derivative acts on PV only, through a first-order filter `Tf`, so a
//! setpoint step gives no derivative kick (§3.3). The integral is held in output units, which makes a
//! change of Ti bumpless by itself; a change of `kp` or `b` moves the integral by the proportional term's
//! jump (§3.5). Anti-windup is back-calculation with tracking time `Tt` or conditional integration
//! (§3.5). The same tracking keeps a loop in manual or on fail-safe ready to take over without a bump.

/// Which way the output moves when the PV falls below SP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// PV below SP raises OP (heating, a fuel valve on a kiln): `e = SP − PV`.
    Reverse,
    /// PV above SP raises OP (cooling, a vent): `e = PV − SP`.
    Direct,
}

impl Action {
    pub fn sign(self) -> f64 {
        match self {
            Action::Reverse => 1.0,
            Action::Direct => -1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AntiWindup {
    /// The integral is pulled back toward what the actuator can do, at the rate `1/Tt`.
    BackCalculation,
    /// The integral stops while the output is limited and the error pushes it further.
    Conditional,
}

/// A loop's tuning as parallel gains, whatever form it was written in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gains {
    pub kp: f64,
    /// Per second; 0 for no integral action.
    pub ki: f64,
    /// Seconds.
    pub kd: f64,
    /// Setpoint weight of the proportional term (0..1).
    pub b: f64,
    /// Derivative filter time constant, seconds.
    pub tf: f64,
    /// Back-calculation tracking time, seconds.
    pub tt: f64,
    pub anti_windup: AntiWindup,
    pub action: Action,
}

/// What the output may do: its range and how fast it may move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputLimits {
    pub min: f64,
    pub max: f64,
    /// Units per second; `None` for no limit.
    pub rate: Option<f64>,
}

impl OutputLimits {
    /// `v` clamped to the range and, from `from`, to the rate over `h` seconds.
    pub fn apply(&self, v: f64, from: f64, h: f64) -> f64 {
        let v = match self.rate {
            Some(r) if from.is_finite() => v.clamp(from - r * h, from + r * h),
            _ => v,
        };
        v.clamp(self.min, self.max)
    }
}

/// Which side the output is stuck on, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saturation {
    High,
    Low,
}

#[derive(Debug, Clone)]
pub struct Pid {
    gains: Gains,
    limits: OutputLimits,
    /// The integral term, in output units.
    i: f64,
    /// The filtered derivative term, in output units.
    d: f64,
    last_pv: Option<f64>,
    op: f64,
    saturation: Option<Saturation>,
    /// The longest time one step's rate limit covers: after a late tick the output still moves at most
    /// one period's worth, since a rate limit is there to spare the actuator and the process a jump.
    rate_span: f64,
}

impl Pid {
    /// A controller whose output starts at `op` (the actuator's present position: no bump at start).
    pub fn new(gains: Gains, limits: OutputLimits, op: f64) -> Pid {
        Pid { gains, limits, i: op, d: 0.0, last_pv: None, op, saturation: None, rate_span: f64::INFINITY }
    }

    /// One step's rate limit covers at most `period` seconds, however late the step.
    pub fn with_rate_span(mut self, period: f64) -> Pid {
        self.rate_span = period;
        self
    }

    pub fn gains(&self) -> Gains {
        self.gains
    }

    pub fn limits(&self) -> OutputLimits {
        self.limits
    }

    pub fn op(&self) -> f64 {
        self.op
    }

    /// Where the last output was stopped by its limits, if it was.
    pub fn saturation(&self) -> Option<Saturation> {
        self.saturation
    }

    fn proportional(&self, g: &Gains, sp: f64, pv: f64) -> f64 {
        g.kp * g.action.sign() * (g.b * sp - pv)
    }

    fn derivative(&mut self, pv: f64, h: f64) {
        let g = &self.gains;
        if let Some(last) = self.last_pv
            && g.tf + h > 0.0
        {
            // Backward difference of `Tf·D' + D = −kd·y'` (A&H eq. 3.35).
            self.d = g.tf / (g.tf + h) * self.d - g.kd * g.action.sign() * (pv - last) / (g.tf + h);
        }
        self.last_pv = Some(pv);
    }

    /// One step in automatic, `h` seconds after the last: returns the output, inside its limits.
    pub fn update(&mut self, sp: f64, pv: f64, ff: f64, h: f64) -> f64 {
        let h = h.max(0.0);
        self.derivative(pv, h);
        let g = self.gains;
        let e = g.action.sign() * (sp - pv);
        let v = self.proportional(&g, sp, pv) + self.i + self.d + ff;
        let u = self.limits.apply(v, self.op, h.min(self.rate_span));
        self.saturation = if u < v - 1e-12 {
            Some(Saturation::High)
        } else if u > v + 1e-12 {
            Some(Saturation::Low)
        } else {
            None
        };
        if g.ki > 0.0 {
            match g.anti_windup {
                AntiWindup::BackCalculation => {
                    let track = if g.tt > 0.0 { h / g.tt } else { 1.0 };
                    self.i += g.ki * h * e + track.min(1.0) * (u - v);
                }
                AntiWindup::Conditional => {
                    let pushing = match self.saturation {
                        Some(Saturation::High) => e > 0.0,
                        Some(Saturation::Low) => e < 0.0,
                        None => false,
                    };
                    if !pushing {
                        self.i += g.ki * h * e;
                    }
                }
            }
        }
        self.op = u;
        u
    }

    /// The output is `op`, set by someone else (manual, fail-safe, a cascade master in manual): the
    /// integral is set so that automatic would continue from `op` without a bump.
    pub fn track(&mut self, op: f64, sp: f64, pv: Option<f64>, ff: f64, h: f64) {
        if let Some(pv) = pv {
            self.derivative(pv, h.max(0.0));
            self.i = op - self.proportional(&self.gains, sp, pv) - self.d - ff;
        } else {
            self.i = op - self.d - ff;
        }
        self.op = op;
        self.saturation = None;
    }

    /// New tuning without a bump (A&H §3.5): the integral takes up the proportional term's jump.
    pub fn retune(&mut self, gains: Gains, sp: f64, pv: f64) {
        let before = self.proportional(&self.gains, sp, pv);
        let after = self.proportional(&gains, sp, pv);
        self.i += before - after;
        self.gains = gains;
    }

    pub fn set_limits(&mut self, limits: OutputLimits) {
        self.limits = limits;
    }
}
