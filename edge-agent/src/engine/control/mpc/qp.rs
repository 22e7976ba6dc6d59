//! Quadratic programs behind one small trait, so the loops do not depend on one solver: today
//! clarabel (pure Rust, interior point, maintained by the Oxford Control group).
//!
//! A problem: minimise `½ x'Px + q'x` subject to `Ax ≤ b`. A loop's problem keeps its shape from one
//! period to the next (only `q` and `b` move with the plant), so the solver is set up once per shape and
//! each period only overwrites `q` and `b`: the setup (equilibration, KKT pattern, symbolic factorisation)
//! is reused. That is the warm start an interior-point method takes.

use std::time::Duration;

use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus};

/// A dense matrix, row by row. The loops' problems have tens of variables.
pub type Mat = Vec<Vec<f64>>;

#[derive(Debug, Clone, PartialEq)]
pub struct Qp {
    /// n × n, symmetric.
    pub p: Mat,
    pub q: Vec<f64>,
    /// m × n.
    pub a: Mat,
    pub b: Vec<f64>,
    /// Changes whenever `p`'s or `a`'s values or shape change; while it stays, only `q` and `b` moved.
    pub shape: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Solved {
    pub x: Vec<f64>,
    pub iterations: u32,
    pub seconds: f64,
}

pub trait QpSolver: Send {
    /// Solves `qp` within `budget`, or says why not (infeasible, out of time, numerical trouble).
    fn solve(&mut self, qp: &Qp, budget: Duration) -> Result<Solved, String>;
}

/// Clarabel, set up once per problem shape.
#[derive(Default)]
pub struct Clarabel {
    setup: Option<(u64, DefaultSolver<f64>)>,
}

impl std::fmt::Debug for Clarabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clarabel").field("shape", &self.setup.as_ref().map(|s| s.0)).finish()
    }
}

/// Column-compressed form of `m`; `upper` keeps the upper triangle only (clarabel reads P that way).
fn csc(m: &Mat, cols: usize, upper: bool) -> CscMatrix<f64> {
    let rows = m.len();
    let (mut colptr, mut rowval, mut nzval) = (vec![0], Vec::new(), Vec::new());
    for c in 0..cols {
        for (r, row) in m.iter().enumerate() {
            let v = row[c];
            if v != 0.0 && (!upper || r <= c) {
                rowval.push(r);
                nzval.push(v);
            }
        }
        colptr.push(rowval.len());
    }
    CscMatrix::new(rows, cols, colptr, rowval, nzval)
}

impl QpSolver for Clarabel {
    fn solve(&mut self, qp: &Qp, budget: Duration) -> Result<Solved, String> {
        let n = qp.q.len();
        let reuse = self.setup.as_ref().is_some_and(|(shape, _)| *shape == qp.shape);
        if reuse {
            let (_, s) = self.setup.as_mut().expect("checked");
            s.update_q(&qp.q).map_err(|e| e.to_string())?;
            s.update_b(&qp.b).map_err(|e| e.to_string())?;
        } else {
            let settings = DefaultSettingsBuilder::default()
                .verbose(false)
                .max_iter(50)
                // A move is applied to within a hundredth of a percent: 1e-7 is plenty, and saves iterations.
                .tol_gap_abs(1e-7)
                .tol_gap_rel(1e-7)
                .tol_feas(1e-7)
                .time_limit(budget.as_secs_f64())
                // Data updates need the problem as given: no presolve.
                .presolve_enable(false)
                .build()
                .map_err(|e| e.to_string())?;
            let p = csc(&qp.p, n, true);
            let a = csc(&qp.a, n, false);
            let cones = [NonnegativeConeT(qp.b.len())];
            let s = DefaultSolver::new(&p, &qp.q, &a, &qp.b, &cones, settings).map_err(|e| e.to_string())?;
            self.setup = Some((qp.shape, s));
        }
        let (_, s) = self.setup.as_mut().expect("set up above");
        s.solve();
        let sol = &s.solution;
        match sol.status {
            SolverStatus::Solved | SolverStatus::AlmostSolved => {
                Ok(Solved { x: sol.x.clone(), iterations: sol.iterations, seconds: sol.solve_time })
            }
            SolverStatus::MaxTime => Err(format!("over its budget of {:.1}ms", budget.as_secs_f64() * 1e3)),
            other => Err(format!("{other:?}")),
        }
    }
}

pub fn zeros(rows: usize, cols: usize) -> Mat {
    vec![vec![0.0; cols]; rows]
}

/// `a' · b` for `a` (k × n) and `b` (k × m).
pub fn at_b(a: &Mat, b: &Mat, n: usize, m: usize) -> Mat {
    let mut out = zeros(n, m);
    for (ra, rb) in a.iter().zip(b) {
        for i in 0..n {
            if ra[i] != 0.0 {
                for j in 0..m {
                    out[i][j] += ra[i] * rb[j];
                }
            }
        }
    }
    out
}

/// `a' · v`.
pub fn at_v(a: &Mat, v: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n];
    for (ra, x) in a.iter().zip(v) {
        for i in 0..n {
            out[i] += ra[i] * x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_constrained_qp_and_its_update() {
        // min (x−3)² + (y+1)² with x ≤ 2, y ≥ 0: x = 2, y = 0.
        let mut qp = Qp {
            p: vec![vec![2.0, 0.0], vec![0.0, 2.0]],
            q: vec![-6.0, 2.0],
            a: vec![vec![1.0, 0.0], vec![0.0, -1.0]],
            b: vec![2.0, 0.0],
            shape: 1,
        };
        let mut s = Clarabel::default();
        let x = s.solve(&qp, Duration::from_millis(100)).unwrap().x;
        assert!((x[0] - 2.0).abs() < 1e-6 && x[1].abs() < 1e-6, "{x:?}");
        // Same shape, new data: x ≤ 5 now leaves the optimum at 3.
        qp.b = vec![5.0, 0.0];
        let x = s.solve(&qp, Duration::from_millis(100)).unwrap().x;
        assert!((x[0] - 3.0).abs() < 1e-6, "{x:?}");
        // Infeasible: x ≤ −1 and −x ≤ 0.
        let bad = Qp { a: vec![vec![1.0, 0.0], vec![-1.0, 0.0]], b: vec![-1.0, 0.0], shape: 2, ..qp };
        assert!(s.solve(&bad, Duration::from_millis(100)).is_err());
    }
}
