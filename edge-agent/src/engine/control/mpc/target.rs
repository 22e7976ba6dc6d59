//! The steady-state target layer above the MPC: the best steady state the plant can reach, from the
//! model's gains, the present disturbance, the limits and the economics (an LP/QP in the inputs):
//!
//! minimise `Σ c_j u_j + W Σ w_i (y_i − sp_i)² + ρ (ε² + ε)` over `u`, with `y = G·u + d`,
//! `u_min ≤ u ≤ u_max` (hard) and `y_min − ε ≤ y ≤ y_max + ε` (soft).
//!
//! A CV with a setpoint is held to it whenever the limits allow (its weight `W` dwarfs the costs); a CV
//! with only limits is kept inside them, and the costs choose among what is left.

use std::time::Duration;

use super::qp::{Mat, Qp, QpSolver};

/// How much more a setpoint counts than a unit of cost.
const SETPOINT_WEIGHT: f64 = 1e4;
/// Keeps the answer unique when costs leave inputs free: a faint pull toward where the inputs are.
const STAY: f64 = 1e-6;

#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec<'a> {
    pub gains: &'a Mat,
    pub disturbance: &'a [f64],
    pub setpoint: &'a [Option<f64>],
    pub cv_weight: &'a [f64],
    pub y_min: &'a [f64],
    pub y_max: &'a [f64],
    pub u_min: &'a [f64],
    pub u_max: &'a [f64],
    pub cost: &'a [f64],
    pub u_now: &'a [f64],
    pub soft: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    pub u: Vec<f64>,
    pub y: Vec<f64>,
}

pub fn solve(solver: &mut dyn QpSolver, s: &TargetSpec<'_>, budget: Duration) -> Result<Targets, String> {
    let (ny, nu) = (s.gains.len(), s.u_now.len());
    let n = nu + 2 * ny;
    let mut p = vec![vec![0.0; n]; n];
    let mut q = vec![0.0; n];
    for j in 0..nu {
        p[j][j] += 2.0 * STAY;
        q[j] += s.cost[j] - 2.0 * STAY * s.u_now[j];
    }
    for i in 0..ny {
        if let Some(sp) = s.setpoint[i] {
            let w = 2.0 * SETPOINT_WEIGHT * s.cv_weight[i];
            let g = &s.gains[i];
            for (j, row) in p.iter_mut().enumerate().take(nu) {
                for (x, gk) in row.iter_mut().zip(g) {
                    *x += w * g[j] * gk;
                }
                q[j] += w * g[j] * (s.disturbance[i] - sp);
            }
        }
        for e in [nu + i, nu + ny + i] {
            p[e][e] = 2.0 * s.soft;
            q[e] = s.soft;
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut shape = 0u64;
    for j in 0..nu {
        let mut r = vec![0.0; n];
        r[j] = 1.0;
        a.push(r.clone());
        b.push(s.u_max[j]);
        r[j] = -1.0;
        a.push(r);
        b.push(-s.u_min[j]);
    }
    for i in 0..ny {
        if s.y_max[i].is_finite() {
            let mut r: Vec<f64> = s.gains[i].clone();
            r.resize(n, 0.0);
            r[nu + i] = -1.0;
            a.push(r);
            b.push(s.y_max[i] - s.disturbance[i]);
            shape |= 1 << i;
        }
        if s.y_min[i].is_finite() {
            let mut r: Vec<f64> = s.gains[i].iter().map(|g| -g).collect();
            r.resize(n, 0.0);
            r[nu + ny + i] = -1.0;
            a.push(r);
            b.push(s.disturbance[i] - s.y_min[i]);
            shape |= 1 << (16 + i);
        }
        if s.setpoint[i].is_some() {
            shape |= 1 << (32 + i);
        }
    }
    for e in nu..n {
        let mut r = vec![0.0; n];
        r[e] = -1.0;
        a.push(r);
        b.push(0.0);
    }
    // P depends on which CVs have setpoints: part of the shape.
    let qp = Qp { p, q, a, b, shape: shape ^ 0x7a29 };
    let x = solver.solve(&qp, budget)?.x;
    let u = x[..nu].to_vec();
    let y = (0..ny).map(|i| s.disturbance[i] + (0..nu).map(|j| s.gains[i][j] * u[j]).sum::<f64>()).collect();
    Ok(Targets { u, y })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::control::mpc::qp::Clarabel;

    fn spec<'a>(g: &'a Mat, sp: &'a [Option<f64>], y_max: &'a [f64], cost: &'a [f64]) -> TargetSpec<'a> {
        TargetSpec {
            gains: g,
            disturbance: &[0.0, 0.0],
            setpoint: sp,
            cv_weight: &[1.0, 1.0],
            y_min: &[f64::NEG_INFINITY, f64::NEG_INFINITY],
            y_max,
            u_min: &[0.0, 0.0],
            u_max: &[10.0, 10.0],
            cost,
            u_now: &[1.0, 1.0],
            soft: 1e3,
        }
    }

    #[test]
    fn reachable_setpoints_are_met_and_unreachable_ones_come_as_close_as_the_inputs_allow() {
        let g = vec![vec![1.0, 0.5], vec![0.2, 1.0]];
        let inf = [f64::INFINITY; 2];
        let t = solve(
            &mut Clarabel::default(),
            &spec(&g, &[Some(6.0), Some(4.0)], &inf, &[0.0, 0.0]),
            Duration::from_millis(50),
        )
        .unwrap();
        assert!((t.y[0] - 6.0).abs() < 1e-3 && (t.y[1] - 4.0).abs() < 1e-3, "{t:?}");
        let t = solve(
            &mut Clarabel::default(),
            &spec(&g, &[Some(60.0), Some(4.0)], &inf, &[0.0, 0.0]),
            Duration::from_millis(50),
        )
        .unwrap();
        assert!(t.u.iter().all(|u| (-1e-6..=10.0 + 1e-6).contains(u)), "{t:?}");
        assert!((t.u[0] - 10.0).abs() < 1e-3, "{t:?}");
    }

    #[test]
    fn with_one_cv_on_limits_only_the_cheaper_input_does_the_work() {
        // y1 = u1 + u2 must reach 5 (as a lower limit), y2 free: input 2 costs ten times input 1.
        let g = vec![vec![1.0, 1.0], vec![0.0, 0.0]];
        let mut s = spec(&g, &[None, None], &[f64::INFINITY; 2], &[1.0, 10.0]);
        s.y_min = &[5.0, f64::NEG_INFINITY];
        let t = solve(&mut Clarabel::default(), &s, Duration::from_millis(50)).unwrap();
        assert!((t.u[0] - 5.0).abs() < 1e-3 && t.u[1].abs() < 1e-3, "{t:?}");
        // The cost changes: the other input takes over.
        s.cost = &[10.0, 1.0];
        let t = solve(&mut Clarabel::default(), &s, Duration::from_millis(50)).unwrap();
        assert!((t.u[1] - 5.0).abs() < 1e-3 && t.u[0].abs() < 1e-3, "{t:?}");
    }
}
