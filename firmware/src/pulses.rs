//! An S0 pulse input (IEC 62053-31: energy and water meters close a contact per unit): debounced by
//! consecutive equal samples, counted on the edge into the closed state.

use embedded_hal::digital::InputPin;

pub struct PulseCounter {
    /// Samples a new level must hold before it counts (contact bounce lasts a few ms).
    pub debounce: u8,
    /// Whether the pin reads high when the contact is closed.
    pub active_high: bool,
    level: bool,
    run: u8,
    count: u32,
}

impl PulseCounter {
    pub fn new(debounce: u8, active_high: bool) -> Self {
        PulseCounter { debounce: debounce.max(1), active_high, level: false, run: 0, count: 0 }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Sets the count, as a meter reading taken over after a replacement.
    pub fn preset(&mut self, count: u32) {
        self.count = count;
    }

    /// One sample of the contact: `closed` is the raw reading.
    pub fn sample(&mut self, closed: bool) {
        if closed == self.level {
            self.run = 0;
            return;
        }
        self.run = self.run.saturating_add(1);
        if self.run >= self.debounce {
            self.level = closed;
            self.run = 0;
            if closed {
                self.count = self.count.wrapping_add(1);
            }
        }
    }

    pub fn poll<P: InputPin>(&mut self, pin: &mut P) -> Result<(), P::Error> {
        let high = pin.is_high()?;
        self.sample(high == self.active_high);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};

    use super::*;

    #[test]
    fn bounces_shorter_than_the_debounce_do_not_count() {
        let mut c = PulseCounter::new(3, true);
        // A bouncy close, held, then a bouncy open, held: one pulse.
        for s in [1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0] {
            c.sample(s == 1);
        }
        assert_eq!(c.count(), 1);
        // Two clean pulses more.
        for s in [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0] {
            c.sample(s == 1);
        }
        assert_eq!(c.count(), 3);
    }

    #[test]
    fn an_active_low_contact_counts_on_the_falling_edge_of_the_pin() {
        let states = [State::High, State::Low, State::Low, State::High, State::High];
        let mut pin = Mock::new(&states.map(Transaction::get));
        let mut c = PulseCounter::new(2, false);
        for _ in states {
            c.poll(&mut pin).unwrap();
        }
        assert_eq!(c.count(), 1);
        pin.done();
    }

    #[test]
    fn the_count_wraps_like_the_meter_register() {
        let mut c = PulseCounter::new(1, true);
        c.preset(u32::MAX);
        c.sample(true);
        assert_eq!(c.count(), 0);
    }
}
