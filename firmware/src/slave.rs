//! The Modbus RTU slave (Modbus over Serial Line V1.02 §2.5.1): a frame ends when the line has been silent
//! for t3.5; it is checked (length, CRC, unit), decoded with `protocols`, served from a [`Bank`] and
//! answered. Broadcasts (unit 0) are served and never answered (§2.2). No input makes it panic.

use core::time::Duration;

use embedded_io::{Read, ReadReady, Write};
use heapless::Vec;
use protocols::modbus::pdu::{MAX_PDU, MAX_READ_REGISTERS};
use protocols::modbus::rtu::{self, FrameError, MAX_ADU};
use protocols::modbus::server::{self, Indication};
use protocols::modbus::{Exception, Space};

use crate::registers::Bank;

/// What the slave saw, as counters a node can serve or a test can check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlaveStats {
    /// Frames for this unit (or broadcast) with a good CRC.
    pub frames: u32,
    pub answered: u32,
    pub exceptions: u32,
    pub broadcasts: u32,
    pub other_units: u32,
    pub crc_errors: u32,
    /// Frames shorter than 4 bytes: a lone noise byte, a frame cut by a pause.
    pub runts: u32,
    /// More bytes than an RTU frame can hold before a silence.
    pub overruns: u32,
    /// Frames dropped because `poll` was not called within t3.5 of their end.
    pub unserved: u32,
}

pub struct Slave {
    pub unit: u8,
    silence_us: u32,
    rx: Vec<u8, MAX_ADU>,
    overrun: bool,
    last_byte_us: u32,
    pub stats: SlaveStats,
}

impl Slave {
    /// A slave for `unit` on a line at `baud` with `bits_per_char` (11 for 8E1, 10 for 8N1).
    pub fn new(unit: u8, baud: u32, bits_per_char: u32) -> Self {
        Slave::with_silence(unit, rtu::silence(baud, bits_per_char))
    }

    pub fn with_silence(unit: u8, silence: Duration) -> Self {
        let silence_us = u32::try_from(silence.as_micros()).unwrap_or(u32::MAX);
        Slave {
            unit,
            silence_us,
            rx: Vec::new(),
            overrun: false,
            last_byte_us: 0,
            stats: SlaveStats::default(),
        }
    }

    /// Bytes of the frame being received.
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }

    pub fn silence_us(&self) -> u32 {
        self.silence_us
    }

    /// Bytes that arrived at `now_us` (a free-running microsecond timer; it may wrap).
    pub fn receive(&mut self, bytes: &[u8], now_us: u32) {
        if bytes.is_empty() {
            return;
        }
        if self.silent(now_us) {
            self.stats.unserved += 1;
            self.clear();
        }
        for &b in bytes {
            if self.rx.push(b).is_err() {
                self.overrun = true;
            }
        }
        self.last_byte_us = now_us;
    }

    fn silent(&self, now_us: u32) -> bool {
        !self.rx.is_empty() && now_us.wrapping_sub(self.last_byte_us) >= self.silence_us
    }

    fn clear(&mut self) {
        self.rx.clear();
        self.overrun = false;
    }

    /// When a frame has ended by `now_us`, serves it and returns the length of the answer written to
    /// `tx` (`Some(0)` for a frame that needs none).
    pub fn poll(&mut self, now_us: u32, bank: &mut dyn Bank, tx: &mut [u8; MAX_ADU]) -> Option<usize> {
        if !self.silent(now_us) {
            return None;
        }
        let len = self.handle(bank, tx);
        self.clear();
        Some(len)
    }

    fn handle(&mut self, bank: &mut dyn Bank, tx: &mut [u8; MAX_ADU]) -> usize {
        if self.overrun {
            self.stats.overruns += 1;
            return 0;
        }
        let (unit, pdu) = match rtu::split_frame(&self.rx) {
            Ok(frame) => frame,
            Err(FrameError::Length(_)) => {
                self.stats.runts += 1;
                return 0;
            }
            Err(FrameError::Crc { .. }) => {
                self.stats.crc_errors += 1;
                return 0;
            }
        };
        if unit != self.unit && unit != 0 {
            self.stats.other_units += 1;
            return 0;
        }
        self.stats.frames += 1;
        let mut answer = [0u8; MAX_PDU];
        let function = pdu.first().copied().unwrap_or(0);
        let served = server::decode_request(pdu).and_then(|ind| serve(ind, pdu, bank, &mut answer));
        if unit == 0 {
            self.stats.broadcasts += 1;
            return 0;
        }
        let n = match served {
            Ok(n) => n,
            Err(e) => {
                self.stats.exceptions += 1;
                server::encode_exception(function, e, &mut answer).unwrap_or(0)
            }
        };
        match rtu::encode_adu(self.unit, &answer[..n], tx) {
            Ok(len) if n > 0 => {
                self.stats.answered += 1;
                len
            }
            _ => 0,
        }
    }

    /// One turn of the main loop: answers a frame that has ended, then takes what the UART holds.
    /// Returns the length of the answer sent, if one was.
    pub fn serve<U: Read + ReadReady + Write>(
        &mut self,
        uart: &mut U,
        bank: &mut dyn Bank,
        now_us: u32,
    ) -> Result<Option<usize>, U::Error> {
        let mut tx = [0u8; MAX_ADU];
        let mut sent = None;
        if let Some(len) = self.poll(now_us, bank, &mut tx).filter(|&n| n > 0) {
            let mut rest = &tx[..len];
            while !rest.is_empty() {
                match uart.write(rest)? {
                    0 => break,
                    n => rest = rest.get(n..).unwrap_or(&[]),
                }
            }
            uart.flush()?;
            sent = Some(len);
        }
        let mut chunk = [0u8; 64];
        while uart.read_ready()? {
            let n = uart.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            self.receive(chunk.get(..n).unwrap_or(&chunk), now_us);
        }
        Ok(sent)
    }
}

/// Serves one request from `bank`, writing the answer PDU to `answer`.
fn serve(
    ind: Indication<'_>,
    pdu: &[u8],
    bank: &mut dyn Bank,
    answer: &mut [u8],
) -> Result<usize, Exception> {
    let encoded = |r: Result<usize, _>| r.map_err(|_| Exception::ServerDeviceFailure);
    match ind {
        Indication::Read { space, start, count } => {
            let mut values = [0u16; MAX_READ_REGISTERS as usize];
            let out = values.get_mut(..usize::from(count)).ok_or(Exception::IllegalDataValue)?;
            match space {
                Space::InputRegister => bank.read_inputs(start, out)?,
                Space::HoldingRegister => bank.read_holdings(start, out)?,
                // The node has no coils or discrete inputs.
                Space::Coil | Space::DiscreteInput => return Err(Exception::IllegalFunction),
            }
            encoded(server::encode_registers(ind.function(), out, answer))
        }
        Indication::WriteRegister { address, value } => {
            bank.write_holdings(address, &mut core::iter::once(value))?;
            encoded(server::encode_echo(pdu, answer))
        }
        Indication::WriteRegisters { start, values } => {
            bank.write_holdings(start, &mut values.iter())?;
            encoded(server::encode_echo(pdu, answer))
        }
        Indication::WriteCoil { .. } | Indication::WriteCoils { .. } => Err(Exception::IllegalFunction),
    }
}
