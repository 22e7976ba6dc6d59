//! The pins as the driver sees them: set up once, then read and written by line number (BCM numbering).

/// What a line reads when nothing drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pull {
    Up,
    Down,
    None,
}

pub trait Gpio: Send + 'static {
    fn setup_input(&mut self, line: u8, pull: Pull) -> Result<(), String>;
    fn setup_output(&mut self, line: u8) -> Result<(), String>;
    fn read(&mut self, line: u8) -> Result<bool, String>;
    fn write(&mut self, line: u8, high: bool) -> Result<(), String>;
}

#[cfg(feature = "rpi-gpio")]
pub use rpi::RpiGpio;

#[cfg(feature = "rpi-gpio")]
mod rpi {
    use std::collections::HashMap;

    use rppal::gpio::{InputPin, OutputPin};

    use super::{Gpio, Pull};

    /// The Raspberry Pi's GPIO through rppal (the /dev/gpiomem registers).
    pub struct RpiGpio {
        gpio: rppal::gpio::Gpio,
        inputs: HashMap<u8, InputPin>,
        outputs: HashMap<u8, OutputPin>,
    }

    impl RpiGpio {
        pub fn open() -> Result<Self, String> {
            let gpio = rppal::gpio::Gpio::new().map_err(|e| format!("cannot open the GPIO: {e}"))?;
            Ok(RpiGpio { gpio, inputs: HashMap::new(), outputs: HashMap::new() })
        }
    }

    impl Gpio for RpiGpio {
        fn setup_input(&mut self, line: u8, pull: Pull) -> Result<(), String> {
            let pin = self.gpio.get(line).map_err(|e| format!("GPIO {line}: {e}"))?;
            let pin = match pull {
                Pull::Up => pin.into_input_pullup(),
                Pull::Down => pin.into_input_pulldown(),
                Pull::None => pin.into_input(),
            };
            self.inputs.insert(line, pin);
            Ok(())
        }

        fn setup_output(&mut self, line: u8) -> Result<(), String> {
            let pin = self.gpio.get(line).map_err(|e| format!("GPIO {line}: {e}"))?;
            self.outputs.insert(line, pin.into_output_low());
            Ok(())
        }

        fn read(&mut self, line: u8) -> Result<bool, String> {
            if let Some(p) = self.outputs.get(&line) {
                return Ok(p.is_set_high());
            }
            self.inputs.get(&line).map(|p| p.is_high()).ok_or_else(|| format!("GPIO {line} is not set up"))
        }

        fn write(&mut self, line: u8, high: bool) -> Result<(), String> {
            let pin = self.outputs.get_mut(&line).ok_or_else(|| format!("GPIO {line} is not an output"))?;
            if high {
                pin.set_high()
            } else {
                pin.set_low()
            }
            Ok(())
        }
    }
}
