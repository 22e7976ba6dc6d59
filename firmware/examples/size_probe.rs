//! The firmware's library part linked for a Cortex-M4F, to measure its flash and RAM: a main loop that
//! scans the node and serves the RTU slave, over stand-in peripherals whose readings the optimiser cannot
//! see through (`black_box`). A board's HAL provides the real ones. Built and measured by
//! firmware/size.sh; it is not a firmware image (no vector table, no clock setup).
#![no_std]
#![no_main]

use core::convert::Infallible;
use core::hint::black_box;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, InputPin};
use embedded_hal::i2c::{ErrorType as I2cErrorType, I2c, Operation};
use firmware::loop_current::LoopInput;
use firmware::sht3x::{self, Sht3x};
use firmware::{Node, Slave};

struct Bus;
impl I2cErrorType for Bus {
    type Error = Infallible;
}
impl I2c for Bus {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Infallible> {
        for op in operations {
            if let Operation::Read(buf) = op {
                buf.fill(black_box(address));
            }
        }
        Ok(())
    }
}

struct Delay;
impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        black_box(ns);
    }
}

struct Contact;
impl PinErrorType for Contact {
    type Error = Infallible;
}
impl InputPin for Contact {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(black_box(true))
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(black_box(false))
    }
}

struct Uart;
impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}
impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        buf.fill(black_box(1));
        Ok(black_box(buf.len()))
    }
}
impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(black_box(true))
    }
}
impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        Ok(black_box(buf).len())
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

fn main_loop() -> ! {
    let mut node = Node::new(Sht3x { address: sht3x::ADDRESS }, [LoopInput::ADS1115_150_OHM; 4]);
    let mut slave = Slave::new(black_box(1), 19_200, 11);
    let mut adc = firmware::ads1115::Ads1115 { i2c: Bus, delay: Delay, address: firmware::ads1115::ADDRESS };
    let (mut bus, mut uart, mut contact) = (Bus, Uart, Contact);
    let mut now = 0u32;
    loop {
        node.scan(&mut bus, &mut Delay, &mut adc, &mut ());
        let _ = node.sample_pulses(&mut contact);
        let _ = slave.serve(&mut uart, &mut node, now);
        now = now.wrapping_add(black_box(1_000));
    }
}

/// Keeps the loop in the image: the linker is told to keep everything (-C link-dead-code).
#[used]
static ENTRY: fn() -> ! = main_loop;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
