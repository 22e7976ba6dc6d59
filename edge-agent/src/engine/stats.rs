//! Running moments that merge (Chan, Golub and LeVeque's pairwise update), so a window is the sum of
//! its buckets and a subgroup its samples, with no catastrophic cancellation in the variance.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub count: u64,
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments { count: 0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Moments {
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    pub fn merge(&mut self, o: &Moments) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *o;
            return;
        }
        let n = (self.count + o.count) as f64;
        let delta = o.mean - self.mean;
        self.mean += delta * o.count as f64 / n;
        self.m2 += o.m2 + delta * delta * self.count as f64 * o.count as f64 / n;
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// Sample standard deviation (n − 1), as SPC's s and numpy's `std(ddof=1)`; none below two values.
    pub fn stddev(&self) -> Option<f64> {
        (self.count >= 2).then(|| (self.m2 / (self.count - 1) as f64).max(0.0).sqrt())
    }

    pub fn range(&self) -> Option<f64> {
        (self.count >= 1).then_some(self.max - self.min)
    }
}

/// A reason as a number for saved state: the bits the ring and the store already pack it in.
pub fn reason_word(r: protocols::Reason) -> u64 {
    protocols::Sample::bad(protocols::TagId(0), protocols::Timestamp(0), r).to_words()[0]
}

pub fn reason_from_word(w: u64) -> Option<protocols::Reason> {
    protocols::Sample::from_words([w, 0, f64::NAN.to_bits()]).and_then(|s| s.quality.reason())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_halves_equal_the_whole() {
        let xs = [1e9 + 4.0, 1e9 + 7.0, 1e9 + 13.0, 1e9 + 16.0, 1e9 + 2.0];
        let mut whole = Moments::default();
        xs.iter().for_each(|&x| whole.push(x));
        let (mut a, mut b) = (Moments::default(), Moments::default());
        xs[..2].iter().for_each(|&x| a.push(x));
        xs[2..].iter().for_each(|&x| b.push(x));
        a.merge(&b);
        assert_eq!(a.count, 5);
        assert!((a.mean - whole.mean).abs() < 1e-6);
        // Sample variance of 4, 7, 13, 16, 2 is 141.2 / 4 = 35.3, large offset or not.
        assert!((a.stddev().unwrap() - 35.3f64.sqrt()).abs() < 1e-6, "{a:?}");
        assert!((whole.stddev().unwrap() - 35.3f64.sqrt()).abs() < 1e-6);
        assert_eq!((a.min, a.max, a.range()), (1e9 + 2.0, 1e9 + 16.0, Some(14.0)));
    }
}
