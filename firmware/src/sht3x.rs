//! Sensirion SHT3x temperature and humidity over I2C (datasheet SHT3x-DIS, §4.3–4.12): a single-shot
//! measurement, then six bytes (temperature, CRC, humidity, CRC).

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

/// ADDR pin low.
pub const ADDRESS: u8 = 0x44;
/// §4.3 Table 9: single shot, high repeatability, no clock stretching.
const MEASURE: [u8; 2] = [0x24, 0x00];
/// §4.3 Table 4: a high-repeatability measurement takes at most 15.5 ms.
const MEASURE_MS: u32 = 16;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Climate {
    pub celsius: f32,
    pub relative_humidity: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorError<E> {
    /// The bus failed or the sensor did not acknowledge.
    Bus(E),
    /// A word arrived with a bad checksum: noise on the bus.
    Crc,
}

/// §4.12: CRC-8, polynomial 0x31, init 0xFF; the datasheet's example is 0xBEEF → 0x92.
pub fn crc8(bytes: [u8; 2]) -> u8 {
    bytes.iter().fold(0xFF_u8, |mut crc, &b| {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 { crc << 1 ^ 0x31 } else { crc << 1 };
        }
        crc
    })
}

pub struct Sht3x {
    pub address: u8,
}

impl Sht3x {
    pub fn read<I: I2c, D: DelayNs>(
        &self,
        i2c: &mut I,
        delay: &mut D,
    ) -> Result<Climate, SensorError<I::Error>> {
        i2c.write(self.address, &MEASURE).map_err(SensorError::Bus)?;
        delay.delay_ms(MEASURE_MS);
        let mut raw = [0u8; 6];
        i2c.read(self.address, &mut raw).map_err(SensorError::Bus)?;
        let word = |i: usize| -> Result<u16, SensorError<I::Error>> {
            let pair = [raw[i], raw[i + 1]];
            if crc8(pair) != raw[i + 2] {
                return Err(SensorError::Crc);
            }
            Ok(u16::from_be_bytes(pair))
        };
        let (t, rh) = (word(0)?, word(3)?);
        // §4.13: T = -45 + 175 · S / (2^16 - 1), RH = 100 · S / (2^16 - 1).
        Ok(Climate {
            celsius: -45.0 + 175.0 * f32::from(t) / 65535.0,
            relative_humidity: 100.0 * f32::from(rh) / 65535.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    use super::*;

    #[test]
    fn the_datasheet_crc_example() {
        assert_eq!(crc8([0xBE, 0xEF]), 0x92);
    }

    #[test]
    fn a_measurement_reads_as_the_datasheet_converts_it() {
        // 0x6666 → -45 + 175 × 0.4 = 25 °C; 0x8000 → 50.0 % RH.
        let (t, rh) = ([0x66, 0x66], [0x80, 0x00]);
        let reply = [t[0], t[1], crc8(t), rh[0], rh[1], crc8(rh)];
        let mut i2c = Mock::new(&[
            Transaction::write(ADDRESS, MEASURE.to_vec()),
            Transaction::read(ADDRESS, reply.to_vec()),
        ]);
        let got = Sht3x { address: ADDRESS }.read(&mut i2c, &mut NoopDelay).unwrap();
        assert!((got.celsius - 25.0).abs() < 0.01, "{got:?}");
        assert!((got.relative_humidity - 50.0).abs() < 0.01, "{got:?}");
        i2c.done();
    }

    #[test]
    fn a_corrupted_word_is_refused() {
        let reply = [0x66, 0x66, 0x00, 0x80, 0x00, 0x00];
        let mut i2c = Mock::new(&[
            Transaction::write(ADDRESS, MEASURE.to_vec()),
            Transaction::read(ADDRESS, reply.to_vec()),
        ]);
        let got = Sht3x { address: ADDRESS }.read(&mut i2c, &mut NoopDelay);
        assert_eq!(got, Err(SensorError::Crc));
        i2c.done();
    }

    #[test]
    fn a_sensor_that_does_not_acknowledge_is_a_bus_error() {
        use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut i2c = Mock::new(&[Transaction::write(ADDRESS, MEASURE.to_vec()).with_error(nack)]);
        let got = Sht3x { address: ADDRESS }.read(&mut i2c, &mut NoopDelay);
        assert_eq!(got, Err(SensorError::Bus(nack)));
        i2c.done();
    }
}
