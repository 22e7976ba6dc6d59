//! The sensor node: one scan reads the climate sensor and the loops into the register map; the pulse input
//! is sampled more often, between scans. A watchdog is fed once per completed scan, so a hung bus resets
//! the node instead of serving stale values forever.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;
use embedded_hal::i2c::I2c;
use protocols::modbus::Exception;

use crate::ads1115::AnalogInput;
use crate::loop_current::{LoopInput, LoopStatus};
use crate::pulses::PulseCounter;
use crate::registers::{Bank, CHANNELS, RegisterMap, holding};
use crate::sht3x::{SensorError, Sht3x};

/// The board's watchdog: fed when the node has shown it is alive.
pub trait Watchdog {
    fn feed(&mut self);
}

/// No watchdog (host tests, boards without one).
impl Watchdog for () {
    fn feed(&mut self) {}
}

/// Climate sensor status register values.
pub mod climate_status {
    pub const OK: u16 = 0;
    pub const BUS: u16 = 1;
    pub const CRC: u16 = 2;
}

pub struct Node {
    pub map: RegisterMap,
    pub pulses: PulseCounter,
    pub loops: [LoopInput; CHANNELS],
    pub climate: Sht3x,
}

impl Node {
    pub fn new(climate: Sht3x, loops: [LoopInput; CHANNELS]) -> Self {
        let map = RegisterMap::default();
        let pulses = PulseCounter::new(map.debounce(), true);
        Node { map, pulses, loops, climate }
    }

    /// Reads every sensor once into the register map. A sensor that fails marks its own registers
    /// (NaN and a status); the rest of the scan goes on.
    pub fn scan<I: I2c, D: DelayNs, A: AnalogInput, W: Watchdog>(
        &mut self,
        i2c: &mut I,
        delay: &mut D,
        adc: &mut A,
        watchdog: &mut W,
    ) {
        match self.climate.read(i2c, delay) {
            Ok(c) => self.map.set_climate(c.celsius, c.relative_humidity, climate_status::OK),
            Err(SensorError::Bus(_)) => self.map.set_climate(f32::NAN, f32::NAN, climate_status::BUS),
            Err(SensorError::Crc) => self.map.set_climate(f32::NAN, f32::NAN, climate_status::CRC),
        }
        for (n, input) in self.loops.iter().enumerate() {
            let n16 = n as u16;
            match adc.read(n as u8) {
                Ok(counts) => {
                    let (value, status) = self.map.span(n16).scale(input.milliamps(counts));
                    self.map.set_channel(n16, value, status);
                }
                Err(_) => self.map.set_channel(n16, f32::NAN, LoopStatus::AdcFailed),
            }
        }
        self.map.set_pulses(self.pulses.count());
        self.map.count_scan();
        watchdog.feed();
    }

    /// One sample of the S0 input; call it at a steady rate (1 ms suits a 3-sample debounce).
    pub fn sample_pulses<P: InputPin>(&mut self, pin: &mut P) -> Result<(), P::Error> {
        self.pulses.poll(pin)?;
        self.map.set_pulses(self.pulses.count());
        Ok(())
    }
}

/// The slave serves the node: a write of the pulse count presets the counter, of the debounce retunes it.
impl Bank for Node {
    fn read_inputs(&self, start: u16, out: &mut [u16]) -> Result<(), Exception> {
        self.map.read_inputs(start, out)
    }

    fn read_holdings(&self, start: u16, out: &mut [u16]) -> Result<(), Exception> {
        self.map.read_holdings(start, out)
    }

    fn write_holdings(&mut self, start: u16, values: &mut dyn Iterator<Item = u16>) -> Result<(), Exception> {
        let mut count = 0u32;
        self.map.write_holdings(start, &mut values.inspect(|_| count += 1))?;
        let end = u32::from(start) + count;
        if u32::from(start) <= u32::from(holding::PULSES) + 1 && end > u32::from(holding::PULSES) {
            self.pulses.preset(self.map.pulses());
        }
        self.pulses.debounce = self.map.debounce();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::digital::{Mock as Pin, State, Transaction as Level};
    use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction};

    use super::*;
    use crate::ads1115::{self, Ads1115};
    use crate::registers::input;
    use crate::sht3x::{self, crc8};

    struct Dog(u32);
    impl Watchdog for Dog {
        fn feed(&mut self) {
            self.0 += 1;
        }
    }

    fn adc_reads(counts: [i16; 4]) -> Vec<Transaction> {
        let mut t = Vec::new();
        for (n, c) in counts.iter().enumerate() {
            let config = (0xC383u16 | (n as u16) << 12).to_be_bytes();
            t.push(Transaction::write(ads1115::ADDRESS, vec![0x01, config[0], config[1]]));
            t.push(Transaction::write_read(ads1115::ADDRESS, vec![0x00], c.to_be_bytes().to_vec()));
        }
        t
    }

    fn f32_in(map: &RegisterMap, at: u16) -> f32 {
        f32::from_bits(u32::from(map.input(at).unwrap()) << 16 | u32::from(map.input(at + 1).unwrap()))
    }

    #[test]
    fn a_scan_fills_the_map_and_feeds_the_watchdog() {
        let (t, rh) = ([0x66, 0x66], [0x80, 0x00]);
        let mut i2c = I2cMock::new(&[
            Transaction::write(sht3x::ADDRESS, vec![0x24, 0x00]),
            Transaction::read(sht3x::ADDRESS, vec![t[0], t[1], crc8(t), rh[0], rh[1], crc8(rh)]),
        ]);
        // 12 mA, 0 mA (cut wire), 20.75 mA, 23 mA.
        let mut adc = Ads1115 {
            i2c: I2cMock::new(&adc_reads([14400, 0, 24900, 27600])),
            delay: NoopDelay,
            address: 0x48,
        };
        let mut node = Node::new(Sht3x { address: sht3x::ADDRESS }, [LoopInput::ADS1115_150_OHM; 4]);
        let mut dog = Dog(0);
        node.scan(&mut i2c, &mut NoopDelay, &mut adc, &mut dog);
        assert!((f32_in(&node.map, input::CELSIUS) - 25.0).abs() < 0.01);
        assert!((f32_in(&node.map, input::channel(0)) - 50.0).abs() < 0.05, "12 mA on 0-100");
        let status = |n| node.map.input(input::channel(n) + 2).unwrap();
        assert_eq!(
            [status(0), status(1), status(2), status(3)],
            [LoopStatus::Ok, LoopStatus::OpenLoop, LoopStatus::OverRange, LoopStatus::ShortCircuit]
                .map(|s| s as u16)
        );
        assert!(f32_in(&node.map, input::channel(1)).is_nan());
        assert_eq!((dog.0, node.map.input(input::SCANS)), (1, Some(1)));
        i2c.done();
        adc.i2c.done();
    }

    #[test]
    fn a_dead_climate_sensor_marks_its_registers_and_the_scan_goes_on() {
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut i2c = I2cMock::new(&[Transaction::write(sht3x::ADDRESS, vec![0x24, 0x00]).with_error(nack)]);
        let mut adc = Ads1115 { i2c: I2cMock::new(&adc_reads([4800; 4])), delay: NoopDelay, address: 0x48 };
        let mut node = Node::new(Sht3x { address: sht3x::ADDRESS }, [LoopInput::ADS1115_150_OHM; 4]);
        node.scan(&mut i2c, &mut NoopDelay, &mut adc, &mut ());
        assert_eq!(node.map.input(input::CLIMATE_STATUS), Some(climate_status::BUS));
        assert!(f32_in(&node.map, input::CELSIUS).is_nan());
        assert!(f32_in(&node.map, input::channel(3)).abs() < 0.05, "4 mA reads the span's low end");
        i2c.done();
        adc.i2c.done();
    }

    #[test]
    fn a_master_presets_the_pulse_count_and_counting_goes_on_from_there() {
        let mut node = Node::new(Sht3x { address: sht3x::ADDRESS }, [LoopInput::ADS1115_150_OHM; 4]);
        node.write_holdings(0, &mut [0x0001, 0x0000, 1].into_iter()).unwrap();
        assert_eq!(node.pulses.count(), 65536);
        let states = [State::High, State::Low];
        let mut pin = Pin::new(&states.map(Level::get));
        for _ in states {
            node.sample_pulses(&mut pin).unwrap();
        }
        let mut out = [0u16; 2];
        node.read_inputs(input::PULSES, &mut out).unwrap();
        assert_eq!(out, [1, 1], "65537 after one pulse with a debounce of 1");
        pin.done();
    }
}
