//! The node's Modbus register map: measurements in input registers (FC04), settings in holding registers
//! (FC03/06/16). Values are f32 in two registers, high word first (ABCD), as most masters read by default.
//!
//! | input | what                                     | holding | what                               |
//! |-------|------------------------------------------|---------|------------------------------------|
//! | 0-1   | temperature, °C (f32)                    | 0-1     | pulse count (u32; write to preset) |
//! | 2-3   | relative humidity, % (f32)               | 2       | debounce, samples (1-255)          |
//! | 4     | climate sensor status (0 ok, 1 bus, 2 CRC)| 3+4n    | channel n value at 4 mA (f32)      |
//! | 5+3n  | channel n value (f32), n = 0..3          | 5+4n    | channel n value at 20 mA (f32)     |
//! | 7+3n  | channel n status ([`LoopStatus`])        |         |                                    |
//! | 17-18 | pulse count (u32)                        |         |                                    |
//! | 19    | scans since start (u16, wraps)           |         |                                    |

use protocols::modbus::Exception;

use crate::loop_current::{LoopStatus, Span};

pub const CHANNELS: usize = 4;
pub const INPUTS: usize = 20;
pub const HOLDINGS: usize = 3 + 4 * CHANNELS;

pub mod input {
    pub const CELSIUS: u16 = 0;
    pub const HUMIDITY: u16 = 2;
    pub const CLIMATE_STATUS: u16 = 4;
    pub const fn channel(n: u16) -> u16 {
        5 + 3 * n
    }
    pub const PULSES: u16 = 17;
    pub const SCANS: u16 = 19;
}

pub mod holding {
    pub const PULSES: u16 = 0;
    pub const DEBOUNCE: u16 = 2;
    pub const fn span(n: u16) -> u16 {
        3 + 4 * n
    }
}

/// What a Modbus slave serves: the caller checks addresses against its own map and refuses with 02.
pub trait Bank {
    fn read_inputs(&self, start: u16, out: &mut [u16]) -> Result<(), Exception>;
    fn read_holdings(&self, start: u16, out: &mut [u16]) -> Result<(), Exception>;
    /// Writes `values` from `start`, all or nothing.
    fn write_holdings(&mut self, start: u16, values: &mut dyn Iterator<Item = u16>) -> Result<(), Exception>;
}

fn words(v: f32) -> [u16; 2] {
    let b = v.to_bits();
    [(b >> 16) as u16, b as u16]
}

fn f32_at(regs: &[u16], at: u16) -> f32 {
    let at = usize::from(at);
    f32::from_bits(u32::from(regs[at]) << 16 | u32::from(regs[at + 1]))
}

fn window(len: usize, start: u16, count: usize) -> Result<core::ops::Range<usize>, Exception> {
    let start = usize::from(start);
    let end = start.checked_add(count).filter(|&e| e <= len).ok_or(Exception::IllegalDataAddress)?;
    Ok(start..end)
}

/// The registers themselves, raw.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisterMap {
    inputs: [u16; INPUTS],
    holdings: [u16; HOLDINGS],
}

impl Default for RegisterMap {
    fn default() -> Self {
        let mut map = RegisterMap { inputs: [0; INPUTS], holdings: [0; HOLDINGS] };
        map.holdings[usize::from(holding::DEBOUNCE)] = 3;
        for n in 0..CHANNELS as u16 {
            map.set_span(n, Span { at_4ma: 0.0, at_20ma: 100.0 });
        }
        map
    }
}

impl RegisterMap {
    pub fn set_climate(&mut self, celsius: f32, humidity: f32, status: u16) {
        self.set_input_f32(input::CELSIUS, celsius);
        self.set_input_f32(input::HUMIDITY, humidity);
        self.inputs[usize::from(input::CLIMATE_STATUS)] = status;
    }

    pub fn set_channel(&mut self, n: u16, value: f32, status: LoopStatus) {
        if usize::from(n) < CHANNELS {
            self.set_input_f32(input::channel(n), value);
            self.inputs[usize::from(input::channel(n) + 2)] = status as u16;
        }
    }

    pub fn set_pulses(&mut self, count: u32) {
        let (hi, lo) = ((count >> 16) as u16, count as u16);
        self.inputs[usize::from(input::PULSES)..][..2].copy_from_slice(&[hi, lo]);
        self.holdings[usize::from(holding::PULSES)..][..2].copy_from_slice(&[hi, lo]);
    }

    pub fn pulses(&self) -> u32 {
        let at = usize::from(holding::PULSES);
        u32::from(self.holdings[at]) << 16 | u32::from(self.holdings[at + 1])
    }

    pub fn count_scan(&mut self) {
        let at = usize::from(input::SCANS);
        self.inputs[at] = self.inputs[at].wrapping_add(1);
    }

    pub fn debounce(&self) -> u8 {
        self.holdings[usize::from(holding::DEBOUNCE)] as u8
    }

    pub fn span(&self, n: u16) -> Span {
        let at = holding::span(n);
        Span { at_4ma: f32_at(&self.holdings, at), at_20ma: f32_at(&self.holdings, at + 2) }
    }

    pub fn set_span(&mut self, n: u16, span: Span) {
        let at = usize::from(holding::span(n));
        let ([a, b], [c, d]) = (words(span.at_4ma), words(span.at_20ma));
        self.holdings[at..at + 4].copy_from_slice(&[a, b, c, d]);
    }

    pub fn input(&self, at: u16) -> Option<u16> {
        self.inputs.get(usize::from(at)).copied()
    }

    fn set_input_f32(&mut self, at: u16, v: f32) {
        let at = usize::from(at);
        self.inputs[at..at + 2].copy_from_slice(&words(v));
    }

    /// Settings that make sense: a debounce of 1 to 255 samples, and usable spans.
    fn valid(holdings: &[u16; HOLDINGS]) -> bool {
        let debounce = holdings[usize::from(holding::DEBOUNCE)];
        let spans = (0..CHANNELS as u16).all(|n| {
            let at = holding::span(n);
            Span { at_4ma: f32_at(holdings, at), at_20ma: f32_at(holdings, at + 2) }.is_usable()
        });
        (1..=255).contains(&debounce) && spans
    }
}

impl Bank for RegisterMap {
    fn read_inputs(&self, start: u16, out: &mut [u16]) -> Result<(), Exception> {
        out.copy_from_slice(&self.inputs[window(INPUTS, start, out.len())?]);
        Ok(())
    }

    fn read_holdings(&self, start: u16, out: &mut [u16]) -> Result<(), Exception> {
        out.copy_from_slice(&self.holdings[window(HOLDINGS, start, out.len())?]);
        Ok(())
    }

    fn write_holdings(&mut self, start: u16, values: &mut dyn Iterator<Item = u16>) -> Result<(), Exception> {
        let mut next = self.holdings;
        for (at, v) in (usize::from(start)..).zip(values) {
            *next.get_mut(at).ok_or(Exception::IllegalDataAddress)? = v;
        }
        // Half an f32 written alone leaves a span the node cannot use: refused like any bad value.
        if !RegisterMap::valid(&next) {
            return Err(Exception::IllegalDataValue);
        }
        self.holdings = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurements_land_where_the_table_says() {
        let mut map = RegisterMap::default();
        map.set_climate(25.5, 40.0, 0);
        map.set_channel(2, 8.25, LoopStatus::OverRange);
        map.set_pulses(0x0001_0002);
        let mut out = [0u16; INPUTS];
        map.read_inputs(0, &mut out).unwrap();
        assert_eq!(&out[0..2], &words(25.5));
        assert_eq!(&out[11..13], &words(8.25));
        assert_eq!(out[13], LoopStatus::OverRange as u16);
        assert_eq!(&out[17..19], &[1, 2]);
    }

    #[test]
    fn reads_past_the_map_are_refused_with_02() {
        let map = RegisterMap::default();
        let mut out = [0u16; 2];
        assert_eq!(map.read_inputs(19, &mut out), Err(Exception::IllegalDataAddress));
        assert_eq!(map.read_holdings(65535, &mut out), Err(Exception::IllegalDataAddress));
        assert!(map.read_holdings(17, &mut out).is_ok());
    }

    #[test]
    fn bad_settings_are_refused_whole() {
        let mut map = RegisterMap::default();
        let before = map.clone();
        assert_eq!(map.write_holdings(2, &mut [0u16].into_iter()), Err(Exception::IllegalDataValue));
        // 4 mA and 20 mA both 0.0: a flat span.
        assert_eq!(map.write_holdings(3, &mut [0u16; 4].into_iter()), Err(Exception::IllegalDataValue));
        assert_eq!(map.write_holdings(18, &mut [1u16, 2].into_iter()), Err(Exception::IllegalDataAddress));
        assert_eq!(map, before);
        let [a, b] = words(-1.0);
        map.write_holdings(2, &mut [10, a, b].into_iter()).unwrap();
        assert_eq!(map.debounce(), 10);
        assert_eq!(map.span(0), Span { at_4ma: -1.0, at_20ma: 100.0 });
    }
}
