//! 4–20 mA current loops: ADC counts to milliamps to engineering units, with the loop's health.
//!
//! Limits are NAMUR NE 43: 3.8–20.5 mA is a measurement (linear past 4 and 20 mA), below 3.6 mA the loop is
//! open (broken wire, dead transmitter), above 21 mA it is shorted; the bands between are out of range.

/// The health of one loop, as the node serves it in a status register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum LoopStatus {
    Ok = 0,
    /// 3.6–3.8 mA: the transmitter signals below its range.
    UnderRange = 1,
    /// 20.5–21 mA: the transmitter signals above its range.
    OverRange = 2,
    /// Below 3.6 mA: no current flows; a broken wire or an unpowered transmitter.
    OpenLoop = 3,
    /// Above 21 mA: a short circuit or a transmitter's failure signal.
    ShortCircuit = 4,
    /// The ADC did not answer: no value at all.
    AdcFailed = 5,
}

const OPEN_BELOW_MA: f32 = 3.6;
const UNDER_BELOW_MA: f32 = 3.8;
const OVER_ABOVE_MA: f32 = 20.5;
const SHORT_ABOVE_MA: f32 = 21.0;

/// How one channel's counts become a current: the shunt it is read across and the ADC's full scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoopInput {
    pub shunt_ohms: f32,
    /// Millivolts at `full_scale_counts` (the ADS1115 at gain 1: 4096 mV at 32767).
    pub full_scale_mv: f32,
    pub full_scale_counts: f32,
}

impl LoopInput {
    /// A 150 Ω shunt on an ADS1115 at ±4.096 V: 20 mA is 3 V, 24000 counts.
    pub const ADS1115_150_OHM: LoopInput =
        LoopInput { shunt_ohms: 150.0, full_scale_mv: 4096.0, full_scale_counts: 32767.0 };

    pub fn milliamps(&self, counts: i16) -> f32 {
        f32::from(counts) * self.full_scale_mv / self.full_scale_counts / self.shunt_ohms
    }
}

/// The engineering range of a transmitter: the value at 4 mA and at 20 mA.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    pub at_4ma: f32,
    pub at_20ma: f32,
}

impl Span {
    /// A span the node can scale with: finite ends that differ.
    pub fn is_usable(&self) -> bool {
        self.at_4ma.is_finite() && self.at_20ma.is_finite() && self.at_4ma != self.at_20ma
    }

    /// The value and health of a loop carrying `ma`. Out of range values are still scaled (the operator
    /// sees how far out); open and shorted loops give NaN, since the current means nothing.
    pub fn scale(&self, ma: f32) -> (f32, LoopStatus) {
        let status = if !ma.is_finite() || ma < OPEN_BELOW_MA {
            LoopStatus::OpenLoop
        } else if ma > SHORT_ABOVE_MA {
            LoopStatus::ShortCircuit
        } else if ma < UNDER_BELOW_MA {
            LoopStatus::UnderRange
        } else if ma > OVER_ABOVE_MA {
            LoopStatus::OverRange
        } else {
            LoopStatus::Ok
        };
        let value = match status {
            LoopStatus::OpenLoop | LoopStatus::ShortCircuit => f32::NAN,
            _ => self.at_4ma + (ma - 4.0) * (self.at_20ma - self.at_4ma) / 16.0,
        };
        (value, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_currents_scale_and_classify_per_ne43() {
        let span = Span { at_4ma: 0.0, at_20ma: 16.0 }; // 0–16 bar: 1 bar per mA
        let cases = [
            (0.0, LoopStatus::OpenLoop, None),
            (3.59, LoopStatus::OpenLoop, None),
            (3.7, LoopStatus::UnderRange, Some(-0.3)),
            (4.0, LoopStatus::Ok, Some(0.0)),
            (12.0, LoopStatus::Ok, Some(8.0)),
            (20.0, LoopStatus::Ok, Some(16.0)),
            (20.7, LoopStatus::OverRange, Some(16.7)),
            (22.0, LoopStatus::ShortCircuit, None),
            (f32::NAN, LoopStatus::OpenLoop, None),
        ];
        for (ma, status, value) in cases {
            let (got, s) = span.scale(ma);
            assert_eq!(s, status, "{ma} mA");
            match value {
                Some(v) => assert!((got - v).abs() < 1e-4, "{ma} mA gave {got}, want {v}"),
                None => assert!(got.is_nan(), "{ma} mA gave {got}"),
            }
        }
    }

    #[test]
    fn counts_to_milliamps_across_the_shunt() {
        let input = LoopInput::ADS1115_150_OHM;
        // 20 mA × 150 Ω = 3000 mV = 3000 × 32767 / 4096 counts.
        assert!((input.milliamps(24000) - 20.0).abs() < 0.01);
        assert!((input.milliamps(4800) - 4.0).abs() < 0.01);
        assert!(input.milliamps(i16::MIN) < 0.0);
    }

    #[test]
    fn a_reversed_span_scales_downwards_and_a_flat_one_is_refused() {
        let level = Span { at_4ma: 100.0, at_20ma: 0.0 };
        assert!((level.scale(12.0).0 - 50.0).abs() < 1e-4);
        assert!(!Span { at_4ma: 5.0, at_20ma: 5.0 }.is_usable());
        assert!(!Span { at_4ma: f32::INFINITY, at_20ma: 5.0 }.is_usable());
    }
}
