//! Features of one waveform block: RMS, peak, crest factor and kurtosis of the block (mean removed),
//! band RMS from the one-sided power spectrum (Parseval: the bands add up to the RMS), and velocity RMS
//! over 10–1000 Hz, the band ISO 10816-3 §3 evaluates.

use std::f64::consts::PI;
use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use super::{Band, Unit};

/// ISO 10816-3 §3: broadband velocity from 10 Hz to 1000 Hz.
pub const ISO_BAND: (f64, f64) = (10.0, 1000.0);

#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub rms: f64,
    pub peak: f64,
    pub crest_factor: f64,
    /// Pearson's kurtosis, E[x⁴]/E[x²]²: 3 for Gaussian noise, higher for impacts (bearing damage).
    pub kurtosis: f64,
    /// Velocity RMS over [`ISO_BAND`], mm/s.
    pub velocity_rms: f64,
    /// RMS of each configured band, in the waveform's unit.
    pub bands: Vec<f64>,
}

pub struct Analyser {
    fft: Arc<dyn Fft<f64>>,
    n: usize,
    sample_rate: f64,
    unit: Unit,
    buffer: Vec<Complex<f64>>,
}

impl Analyser {
    pub fn new(n: usize, sample_rate: f64, unit: Unit) -> Analyser {
        let fft = FftPlanner::new().plan_fft_forward(n);
        Analyser { fft, n, sample_rate, unit, buffer: Vec::with_capacity(n) }
    }

    /// One-sided power per bin (its share of the mean square), bin `k` at `k · fs / n` Hz.
    fn power(&mut self, centred: &[f64]) -> Vec<f64> {
        self.buffer.clear();
        self.buffer.extend(centred.iter().map(|&x| Complex::new(x, 0.0)));
        self.fft.process(&mut self.buffer);
        let n = self.n as f64;
        (0..=self.n / 2)
            .map(|k| {
                let p = self.buffer[k].norm_sqr() / (n * n);
                // Bins other than DC and Nyquist stand for their mirror image too.
                if k == 0 || 2 * k == self.n { p } else { 2.0 * p }
            })
            .collect()
    }

    pub fn features(&mut self, block: &[f64], bands: &[Band]) -> Option<Features> {
        if block.len() != self.n || self.n < 4 || block.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let mean = block.iter().sum::<f64>() / self.n as f64;
        let centred: Vec<f64> = block.iter().map(|x| x - mean).collect();
        let m2 = centred.iter().map(|x| x * x).sum::<f64>() / self.n as f64;
        let m4 = centred.iter().map(|x| x.powi(4)).sum::<f64>() / self.n as f64;
        let rms = m2.sqrt();
        let peak = centred.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let power = self.power(&centred);
        let df = self.sample_rate / self.n as f64;
        let in_band = |k: usize, (low, high): (f64, f64)| {
            let f = k as f64 * df;
            f >= low && f < high
        };
        let band_rms = |range: (f64, f64)| {
            power.iter().enumerate().filter(|(k, _)| in_band(*k, range)).map(|(_, p)| p).sum::<f64>().sqrt()
        };
        let velocity_rms = power
            .iter()
            .enumerate()
            .filter(|(k, _)| *k > 0 && in_band(*k, ISO_BAND))
            .map(|(k, p)| match self.unit {
                Unit::Velocity => *p,
                // v = a / (2πf); m/s to mm/s.
                Unit::Acceleration => p * (1e3 / (2.0 * PI * k as f64 * df)).powi(2),
            })
            .sum::<f64>()
            .sqrt();
        Some(Features {
            rms,
            peak,
            crest_factor: if rms > 0.0 { peak / rms } else { 0.0 },
            kurtosis: if m2 > 0.0 { m4 / (m2 * m2) } else { 0.0 },
            velocity_rms,
            bands: bands.iter().map(|b| band_rms((b.low, b.high))).collect(),
        })
    }
}
