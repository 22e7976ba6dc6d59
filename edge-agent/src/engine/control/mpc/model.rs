//! The linear plant model an MPC predicts with, as discrete state space `x⁺ = Ax + Bu, y = Cx` at the
//! loop's period. A matrix of first order plus dead time transfer functions becomes one by exact
//! zero-order-hold discretisation: each channel `K·e^(−θs)/(τs + 1)` is one state with `a = e^(−h/τ)`,
//! `b = K(1 − a)`, fed by a delay line of its input `round(θ/h)` periods long (shared by the channels of
//! one input).

use super::qp::{Mat, zeros};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Channel {
    pub gain: f64,
    pub time_constant_s: f64,
    pub dead_time_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StateSpace {
    pub a: Mat,
    pub b: Mat,
    pub c: Mat,
}

impl StateSpace {
    pub fn states(&self) -> usize {
        self.a.len()
    }
    pub fn inputs(&self) -> usize {
        self.b.first().map_or(0, Vec::len)
    }
    pub fn outputs(&self) -> usize {
        self.c.len()
    }

    /// `channels[i][j]`: output i's answer to input j (`None`: no effect), discretised at `h` seconds.
    pub fn from_fopdt(channels: &[Vec<Option<Channel>>], h: f64) -> StateSpace {
        let ny = channels.len();
        let nu = channels.first().map_or(0, Vec::len);
        let delay = |c: &Channel| (c.dead_time_s / h).round().max(0.0) as usize;
        // Delay line of input j: states holding u_j one, two, ... periods ago.
        let lines: Vec<usize> = (0..nu)
            .map(|j| channels.iter().filter_map(|row| row[j].as_ref()).map(delay).max().unwrap_or(0))
            .collect();
        let line_start: Vec<usize> =
            lines.iter().scan(0, |acc, &l| Some(std::mem::replace(acc, *acc + l))).collect();
        let delays: usize = lines.iter().sum();
        let lags: Vec<(usize, usize, Channel)> = channels
            .iter()
            .enumerate()
            .flat_map(|(i, row)| row.iter().enumerate().filter_map(move |(j, c)| c.map(|c| (i, j, c))))
            .collect();
        let n = delays + lags.len();
        let (mut a, mut b, mut c) = (zeros(n, n), zeros(n, nu), zeros(ny, n));
        for j in 0..nu {
            for k in 0..lines[j] {
                let s = line_start[j] + k;
                if k == 0 {
                    b[s][j] = 1.0;
                } else {
                    a[s][s - 1] = 1.0;
                }
            }
        }
        for (l, &(i, j, ch)) in lags.iter().enumerate() {
            let s = delays + l;
            let decay = if ch.time_constant_s > 0.0 { (-h / ch.time_constant_s).exp() } else { 0.0 };
            let gain = ch.gain * (1.0 - decay);
            a[s][s] = decay;
            match delay(&ch) {
                0 => b[s][j] = gain,
                d => a[s][line_start[j] + d - 1] = gain,
            }
            c[i][s] = 1.0;
        }
        StateSpace { a, b, c }
    }

    pub fn step(&self, x: &[f64], u: &[f64]) -> Vec<f64> {
        (0..self.states())
            .map(|r| {
                let ax: f64 = self.a[r].iter().zip(x).map(|(a, x)| a * x).sum();
                let bu: f64 = self.b[r].iter().zip(u).map(|(b, u)| b * u).sum();
                ax + bu
            })
            .collect()
    }

    pub fn output(&self, x: &[f64]) -> Vec<f64> {
        self.c.iter().map(|row| row.iter().zip(x).map(|(c, x)| c * x).sum()).collect()
    }

    /// The state the model rests in with `u` held: `(I − A)·x = B·u`. `None` for a model that does not
    /// settle (an integrator or an unstable pole).
    pub fn steady_state(&self, u: &[f64]) -> Option<Vec<f64>> {
        let n = self.states();
        let mut m: Mat = (0..n)
            .map(|r| {
                let mut row: Vec<f64> = (0..n).map(|c| f64::from(u8::from(r == c)) - self.a[r][c]).collect();
                row.push(self.b[r].iter().zip(u).map(|(b, u)| b * u).sum());
                row
            })
            .collect();
        // Gaussian elimination with partial pivoting.
        for col in 0..n {
            let pivot = (col..n).max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))?;
            if m[pivot][col].abs() < 1e-12 {
                return None;
            }
            m.swap(col, pivot);
            let pivot_row = m[col].clone();
            for (r, row) in m.iter_mut().enumerate() {
                let f = row[col] / pivot_row[col];
                if r != col && f != 0.0 {
                    for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                        *x -= f * p;
                    }
                }
            }
        }
        Some((0..n).map(|r| m[r][n] / m[r][r]).collect())
    }

    /// Steady-state gains, `ny × nu`.
    pub fn gains(&self) -> Option<Mat> {
        let nu = self.inputs();
        let mut g = zeros(self.outputs(), nu);
        for j in 0..nu {
            let mut e = vec![0.0; nu];
            e[j] = 1.0;
            let y = self.output(&self.steady_state(&e)?);
            for (i, yi) in y.into_iter().enumerate() {
                g[i][j] = yi;
            }
        }
        Some(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fopdt_channel_waits_its_dead_time_then_rises_63_percent_in_one_time_constant() {
        let ch = Channel { gain: 2.0, time_constant_s: 10.0, dead_time_s: 3.0 };
        let m = StateSpace::from_fopdt(&[vec![Some(ch)]], 1.0);
        let mut x = vec![0.0; m.states()];
        let mut y = Vec::new();
        for _ in 0..40 {
            x = m.step(&x, &[1.0]);
            y.push(m.output(&x)[0]);
        }
        // Applied at step 0, seen at step 1 through the hold, 3 more through the dead time.
        assert_eq!(&y[..3], &[0.0, 0.0, 0.0]);
        assert!(y[3] > 0.0);
        assert!((y[12] - 2.0 * (1.0 - (-1.0f64).exp())).abs() < 1e-9, "{}", y[12]);
        assert!((m.gains().unwrap()[0][0] - 2.0).abs() < 1e-9);
    }
}
