//! The MPC's QP, in the condensed (dynamic matrix) form: decision variables are the input moves over the
//! control horizon, plus one slack per CV and side for the soft output limits. Offset-free through an
//! output disturbance `d = y − ŷ` held over the horizon (the DMC estimate: Cutler & Ramaker 1980).
//!
//! Predictions over `P` periods: `Y = Y_free + d + Θ·ΔU`, where `Y_free` is the model's answer with the
//! inputs held and `Θ` stacks step-response coefficients. The cost is
//! `Σ q_i (y − r)² + Σ rΔ_j Δu² + Σ ru_j (u − u_target)² + ρ (ε² + ε)`, subject to hard limits on moves and
//! inputs and soft limits on outputs.

use std::time::Duration;

use super::model::StateSpace;
use super::qp::{Mat, Qp, QpSolver, Solved, at_b, at_v, zeros};

#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    pub prediction: usize,
    pub control: usize,
    /// Per CV.
    pub cv_weight: Vec<f64>,
    /// Per MV: cost of a move.
    pub move_weight: Vec<f64>,
    /// Per MV: pull toward its steady-state target.
    pub target_weight: Vec<f64>,
    /// Penalty on output limit violation (quadratic and linear).
    pub soft: f64,
}

/// Where the plant is and where it should go: model state `x`, disturbance `d`, the inputs in force `u`,
/// and the targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Present<'a> {
    pub x: &'a [f64],
    pub d: &'a [f64],
    pub u: &'a [f64],
    pub y_target: &'a [f64],
    pub u_target: &'a [f64],
}

/// Limits in force this period. Infinite where there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub u_min: Vec<f64>,
    pub u_max: Vec<f64>,
    /// Largest move per period.
    pub du_max: Vec<f64>,
    pub y_min: Vec<f64>,
    pub y_max: Vec<f64>,
}

pub struct Controller {
    model: StateSpace,
    tuning: Tuning,
    /// (P·ny) × (M·nu).
    theta: Mat,
    solver: Box<dyn QpSolver>,
    /// Constant part of the Hessian (ΔU block).
    hessian: Mat,
    /// Per CV, the periods of the horizon where its soft limits are checked (coincidence points): from
    /// the first the moves can reach, at most [`POINTS`] of them, so the QP stays small.
    points: Vec<Vec<usize>>,
}

/// Coincidence points per CV.
pub const POINTS: usize = 10;

impl Controller {
    pub fn new(model: StateSpace, tuning: Tuning, solver: Box<dyn QpSolver>) -> Controller {
        let (ny, nu) = (model.outputs(), model.inputs());
        let (p, m) = (tuning.prediction, tuning.control.min(tuning.prediction).max(1));
        let tuning = Tuning { control: m, ..tuning };
        // Step responses: s[q][i][j] after q + 1 periods of a unit step in input j.
        let mut step = vec![zeros(ny, nu); p];
        for j in 0..nu {
            let mut u = vec![0.0; nu];
            u[j] = 1.0;
            let mut x = vec![0.0; model.states()];
            for s in step.iter_mut() {
                x = model.step(&x, &u);
                for (i, y) in model.output(&x).into_iter().enumerate() {
                    s[i][j] = y;
                }
            }
        }
        let mut theta = zeros(p * ny, m * nu);
        for k in 0..p {
            for mv in 0..m.min(k + 1) {
                for i in 0..ny {
                    for j in 0..nu {
                        theta[k * ny + i][mv * nu + j] = step[k - mv][i][j];
                    }
                }
            }
        }
        let qtheta: Mat = theta
            .iter()
            .enumerate()
            .map(|(r, row)| row.iter().map(|t| t * tuning.cv_weight[r % ny]).collect())
            .collect();
        let mut hessian = at_b(&theta, &qtheta, m * nu, m * nu);
        let cum = cumulative(m, nu);
        let rcum: Mat = cum
            .iter()
            .enumerate()
            .map(|(r, row)| row.iter().map(|c| c * tuning.target_weight[r % nu]).collect())
            .collect();
        let uu = at_b(&cum, &rcum, m * nu, m * nu);
        for r in 0..m * nu {
            for c in 0..m * nu {
                hessian[r][c] = 2.0 * (hessian[r][c] + uu[r][c]);
            }
            hessian[r][r] += 2.0 * tuning.move_weight[r % nu];
        }
        let points = (0..ny)
            .map(|i| {
                let first = (0..p).find(|&k| theta[k * ny + i].iter().any(|&t| t != 0.0)).unwrap_or(p);
                let span = p.saturating_sub(first);
                let n = span.min(POINTS);
                let mut at: Vec<usize> = (1..=n).map(|q| first + (q * span).div_ceil(n) - 1).collect();
                at.dedup();
                at
            })
            .collect();
        Controller { model, tuning, theta, solver, hessian, points }
    }

    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    pub fn model(&self) -> &StateSpace {
        &self.model
    }

    /// The moves to make now (the first of the planned ones).
    pub fn plan(
        &mut self,
        now: &Present<'_>,
        limits: &Limits,
        budget: Duration,
    ) -> Result<(Vec<f64>, Solved), String> {
        let Present { x, d, u, y_target, u_target } = *now;
        let (ny, nu) = (self.model.outputs(), self.model.inputs());
        let (p, m) = (self.tuning.prediction, self.tuning.control);
        let nz = m * nu + 2 * ny;
        // Free response with the inputs held.
        let mut free = Vec::with_capacity(p * ny);
        let mut xk = x.to_vec();
        for _ in 0..p {
            xk = self.model.step(&xk, u);
            free.extend(self.model.output(&xk).into_iter().zip(d).map(|(y, d)| y + d));
        }
        let error: Vec<f64> = free
            .iter()
            .enumerate()
            .map(|(r, y)| (y - y_target[r % ny]) * self.tuning.cv_weight[r % ny])
            .collect();
        let cum = cumulative(m, nu);
        let mut q = at_v(&self.theta, &error, m * nu);
        let pull: Vec<f64> =
            (0..m * nu).map(|r| (u[r % nu] - u_target[r % nu]) * self.tuning.target_weight[r % nu]).collect();
        for (qi, pi) in q.iter_mut().zip(at_v(&cum, &pull, m * nu)) {
            *qi = 2.0 * (*qi + pi);
        }
        q.extend(std::iter::repeat_n(self.tuning.soft, 2 * ny));
        let mut hessian = zeros(nz, nz);
        for (r, row) in self.hessian.iter().enumerate() {
            hessian[r][..m * nu].copy_from_slice(row);
        }
        for (e, row) in hessian.iter_mut().enumerate().skip(m * nu) {
            row[e] = 2.0 * self.tuning.soft;
        }
        let (mut a, mut b, mut mask) = (Vec::new(), Vec::new(), 0u64);
        let row = |coeffs: Vec<(usize, f64)>, bound: f64, a: &mut Mat, b: &mut Vec<f64>| {
            let mut r = vec![0.0; nz];
            for (c, v) in coeffs {
                r[c] += v;
            }
            a.push(r);
            b.push(bound);
        };
        for mv in 0..m {
            for (j, &uj) in u.iter().enumerate() {
                let k = mv * nu + j;
                if limits.du_max[j].is_finite() {
                    row(vec![(k, 1.0)], limits.du_max[j], &mut a, &mut b);
                    row(vec![(k, -1.0)], limits.du_max[j], &mut a, &mut b);
                }
                let sum: Vec<(usize, f64)> = (0..=mv).map(|l| (l * nu + j, 1.0)).collect();
                row(sum.clone(), limits.u_max[j] - uj, &mut a, &mut b);
                row(sum.into_iter().map(|(c, v)| (c, -v)).collect(), uj - limits.u_min[j], &mut a, &mut b);
            }
        }
        for i in 0..ny {
            for &k in &self.points[i] {
                let r = k * ny + i;
                let t: Vec<(usize, f64)> =
                    self.theta[r].iter().copied().enumerate().filter(|(_, v)| *v != 0.0).collect();
                if limits.y_max[i].is_finite() {
                    let mut c = t.clone();
                    c.push((m * nu + i, -1.0));
                    row(c, limits.y_max[i] - free[r], &mut a, &mut b);
                    mask |= 1 << (i % 32);
                }
                if limits.y_min[i].is_finite() {
                    let mut c: Vec<(usize, f64)> = t.iter().map(|&(c, v)| (c, -v)).collect();
                    c.push((m * nu + ny + i, -1.0));
                    row(c, free[r] - limits.y_min[i], &mut a, &mut b);
                    mask |= 1 << (32 + i % 32);
                }
            }
        }
        for e in m * nu..nz {
            row(vec![(e, -1.0)], 0.0, &mut a, &mut b);
        }
        let moves = limits.du_max.iter().fold(0u64, |acc, d| acc * 2 + u64::from(d.is_finite()));
        let qp = Qp { p: hessian, q, a, b, shape: mask ^ (moves << 48) ^ 0x5eed };
        let solved = self.solver.solve(&qp, budget)?;
        Ok((solved.x[..nu].to_vec(), solved))
    }
}

/// `U = 1·u + C·ΔU`: row (m, j) sums the moves of input j up to period m.
fn cumulative(m: usize, nu: usize) -> Mat {
    let mut c = zeros(m * nu, m * nu);
    for mv in 0..m {
        for j in 0..nu {
            for l in 0..=mv {
                c[mv * nu + j][l * nu + j] = 1.0;
            }
        }
    }
    c
}
