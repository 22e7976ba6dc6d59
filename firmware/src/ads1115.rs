//! TI ADS1115 16-bit ADC over I2C (datasheet SBAS444, §9.5–9.6): one single-shot conversion per channel,
//! single-ended against GND at ±4.096 V.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

/// ADDR pin to GND.
pub const ADDRESS: u8 = 0x48;
const CONVERSION: u8 = 0x00;
const CONFIG: u8 = 0x01;
/// §9.6.3: OS=1 (start), PGA 001 (±4.096 V), MODE=1 (single shot), DR 100 (128 SPS), comparator off.
const CONFIG_BASE: u16 = 0x8000 | 0b001 << 9 | 1 << 8 | 0b100 << 5 | 0b11;
/// One conversion at 128 SPS takes 7.8 ms.
const CONVERSION_US: u32 = 8_000;

/// Where the node's analog channels come from: an external ADC on the bus, or the MCU's own.
pub trait AnalogInput {
    type Error;
    /// Raw counts of `channel`, signed as the ADC reports them.
    fn read(&mut self, channel: u8) -> Result<i16, Self::Error>;
}

pub struct Ads1115<I, D> {
    pub i2c: I,
    pub delay: D,
    pub address: u8,
}

/// A channel the chip does not have (it has 0–3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdcError<E> {
    Bus(E),
    NoSuchChannel(u8),
}

impl<I: I2c, D: DelayNs> AnalogInput for Ads1115<I, D> {
    type Error = AdcError<I::Error>;

    fn read(&mut self, channel: u8) -> Result<i16, Self::Error> {
        if channel > 3 {
            return Err(AdcError::NoSuchChannel(channel));
        }
        // MUX 100 + n: AINn against GND.
        let config = (CONFIG_BASE | u16::from(0b100 + channel) << 12).to_be_bytes();
        self.i2c.write(self.address, &[CONFIG, config[0], config[1]]).map_err(AdcError::Bus)?;
        self.delay.delay_us(CONVERSION_US);
        let mut raw = [0u8; 2];
        self.i2c.write_read(self.address, &[CONVERSION], &mut raw).map_err(AdcError::Bus)?;
        Ok(i16::from_be_bytes(raw))
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    use super::*;

    #[test]
    fn each_channel_starts_its_own_single_shot_conversion() {
        // Channel 0: 0xC383, channel 3: 0xF383 (datasheet Table 8 fields).
        let mut adc = Ads1115 {
            i2c: Mock::new(&[
                Transaction::write(ADDRESS, vec![CONFIG, 0xC3, 0x83]),
                Transaction::write_read(ADDRESS, vec![CONVERSION], vec![0x5D, 0xC0]),
                Transaction::write(ADDRESS, vec![CONFIG, 0xF3, 0x83]),
                Transaction::write_read(ADDRESS, vec![CONVERSION], vec![0xFF, 0xFE]),
            ]),
            delay: NoopDelay,
            address: ADDRESS,
        };
        assert_eq!(adc.read(0), Ok(24000));
        assert_eq!(adc.read(3), Ok(-2));
        assert_eq!(adc.read(4), Err(AdcError::NoSuchChannel(4)));
        adc.i2c.done();
    }
}
