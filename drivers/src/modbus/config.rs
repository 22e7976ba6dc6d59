//! `[[modbus.link]]`: one physical link (a TCP endpoint or a serial gateway) and the devices on it.

use std::collections::BTreeMap;
use std::ops::Range;

use protocols::modbus::{Address, Base, ByteOrder, DataType, Space, TagCodec};
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::sim::WritableConfig;
use crate::units::Span;
use crate::write::WritableSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Modbus TCP (MBAP header), port 502.
    Tcp,
    /// RTU frames (with CRC) carried over TCP, as serial device servers pass them through.
    RtuOverTcp,
    /// RTU on a local serial port (RS-485 adapter), shared by every unit on the bus.
    Rtu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    Even,
    Odd,
}

/// How a serial port is set up: Modbus over Serial Line V1.02 §2.5.1 asks for even parity by default,
/// and two stop bits when there is no parity, so each character stays 11 bits long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    pub baud: u32,
    pub parity: Parity,
    pub stop_bits: u8,
}

impl SerialSettings {
    /// Bits on the wire per character: start, 8 data, parity, stop.
    pub fn bits_per_char(&self) -> u32 {
        1 + 8 + u32::from(self.parity != Parity::None) + u32::from(self.stop_bits)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusLinkConfig {
    pub name: Spanned<String>,
    #[serde(default = "tcp")]
    pub transport: Transport,
    /// `host:port` of the device or gateway (tcp, rtu_over_tcp).
    pub address: Option<Spanned<String>>,
    /// Serial port (rtu), e.g. `/dev/ttyUSB0`.
    pub port: Option<Spanned<String>>,
    #[serde(default = "default_baud")]
    pub baud: u32,
    #[serde(default = "even")]
    pub parity: Parity,
    pub stop_bits: Option<u8>,
    /// For one request, from sending to the whole answer.
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// Retries of a request that timed out, before the scan gives the tags Bad(timeout).
    #[serde(default = "one")]
    pub retries: u32,
    /// Read device by device and tag by tag, so every bad one is reported (see `kind.rs`).
    #[serde(rename = "device", default)]
    pub devices: Vec<ModbusDeviceConfig>,
}

fn tcp() -> Transport {
    Transport::Tcp
}

fn default_baud() -> u32 {
    19_200
}

fn even() -> Parity {
    Parity::Even
}

fn default_timeout() -> Span {
    Span::secs(1)
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusDeviceConfig {
    pub name: Spanned<String>,
    /// Unit id (slave address) on the link; 255 or 1 for most TCP devices, 1..=247 on a serial line.
    pub unit: Spanned<u8>,
    #[serde(default = "default_scan")]
    pub scan: Span,
    /// Register numbers in this device's manual start at 0 or at 1.
    #[serde(default)]
    pub base: u8,
    #[serde(default = "max_registers")]
    pub max_registers: Spanned<u16>,
    /// Largest hole of unmapped registers worth reading over to save a request.
    #[serde(default)]
    pub max_gap: u16,
    /// Address ranges never to read, e.g. `"holding:100-120"`: unmapped registers that answer exception 2.
    #[serde(default)]
    pub forbidden: Vec<Spanned<String>>,
    /// Named poll groups with their own rates; a tag without `group` is read every `scan`.
    #[serde(default)]
    pub poll_groups: BTreeMap<String, Span>,
    #[serde(default)]
    pub tags: Vec<ModbusTagConfig>,
}

fn default_scan() -> Span {
    Span::secs(1)
}

fn max_registers() -> Spanned<u16> {
    Spanned::new(0..0, 125)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusTagConfig {
    pub name: Spanned<String>,
    /// `"holding:3054"`, `"input:0"`, `"coil:12"`, `"discrete:3"`, or `40001`-style notation.
    pub address: Spanned<String>,
    /// bool, bit, u16, i16, u32, i32, u64, i64, f32, f64, string.
    #[serde(rename = "type", default = "u16")]
    pub kind: Spanned<String>,
    /// For `bit`: which bit of the register (0 = least significant).
    pub bit: Option<u8>,
    /// For `string`: how many registers (two characters each).
    pub registers: Option<u8>,
    #[serde(default)]
    pub order: Option<Spanned<String>>,
    #[serde(default = "unit_scale")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
    pub group: Option<Spanned<String>>,
    pub writable: Option<Spanned<WritableConfig>>,
}

fn u16() -> Spanned<String> {
    Spanned::new(0..0, "u16".into())
}

fn unit_scale() -> f64 {
    1.0
}

/// A tag as the driver reads it.
#[derive(Debug, Clone)]
pub struct TagPlan {
    pub name: String,
    pub address: Address,
    pub codec: TagCodec,
    pub group: Option<String>,
    pub writable: Option<WritableSpec>,
}

impl ModbusTagConfig {
    /// The tag's address and codec, or what is wrong with it (with where).
    pub fn resolve(&self, base: Base) -> Result<TagPlan, (Range<usize>, String)> {
        let address = Address::parse(self.address.get_ref(), base)
            .map_err(|e| (self.address.span(), format!("address {:?}: {e}", self.address.get_ref())))?;
        let kind = self.kind.get_ref().as_str();
        let ty = match kind {
            "bit" => {
                DataType::Bit(self.bit.ok_or((self.kind.span(), "type bit needs `bit = 0..15`".to_owned()))?)
            }
            "string" => DataType::Text(self.registers.ok_or((
                self.kind.span(),
                "type string needs `registers = N` (2 characters each)".to_owned(),
            ))?),
            other => other.parse().map_err(|_| {
                (
                    self.kind.span(),
                    format!(
                        "type {other:?}: expected bool, bit, u16, i16, u32, i32, u64, i64, f32, f64 or string"
                    ),
                )
            })?,
        };
        if address.space.is_bits() && ty != DataType::Bool {
            return Err((
                self.kind.span(),
                format!("{} holds single bits: use type \"bool\"", address.space),
            ));
        }
        let order = match &self.order {
            Some(o) => o.get_ref().parse::<ByteOrder>().map_err(|_| {
                (o.span(), format!("order {:?}: expected ABCD, CDAB, BADC or DCBA", o.get_ref()))
            })?,
            None => ByteOrder::Abcd,
        };
        let codec = TagCodec::new(ty, order)
            .and_then(|c| c.with_linear(self.scale, self.offset))
            .map_err(|e| (self.kind.span(), format!("{e}")))?;
        if self.writable.is_some() && !matches!(address.space, Space::HoldingRegister | Space::Coil) {
            return Err((
                self.address.span(),
                format!("only holding registers and coils can be written, not {}", address.space),
            ));
        }
        Ok(TagPlan {
            name: self.name.get_ref().clone(),
            address,
            codec,
            group: self.group.as_ref().map(|g| g.get_ref().clone()),
            writable: self
                .writable
                .as_ref()
                .map(|w| WritableSpec { min: w.get_ref().min, max: w.get_ref().max }),
        })
    }
}

impl ModbusLinkConfig {
    /// The serial settings, with the stop bits the spec asks for when none are given.
    pub fn serial(&self) -> SerialSettings {
        let stop_bits = self.stop_bits.unwrap_or(if self.parity == Parity::None { 2 } else { 1 });
        SerialSettings { baud: self.baud, parity: self.parity, stop_bits }
    }

    /// Where the link goes: `host:port` or the serial port.
    pub fn endpoint(&self) -> String {
        match self.transport {
            Transport::Rtu => self.port.as_ref().map(|p| p.get_ref().clone()).unwrap_or_default(),
            _ => self.address.as_ref().map(|a| a.get_ref().clone()).unwrap_or_default(),
        }
    }

    /// Every problem of the link, each with where it is and what to do.
    pub fn problems(&self) -> Vec<(Range<usize>, String)> {
        let link = self.name.get_ref();
        let mut out = Vec::new();
        match (self.transport, &self.address, &self.port) {
            (Transport::Rtu, _, None) => out.push((
                self.name.span(),
                format!("modbus link {link}: transport rtu needs `port`, e.g. \"/dev/ttyUSB0\""),
            )),
            (Transport::Rtu, _, Some(_)) => {
                if !matches!(self.stop_bits, None | Some(1) | Some(2)) {
                    out.push((self.name.span(), format!("modbus link {link}: stop_bits is 1 or 2")));
                }
                if self.baud == 0 {
                    out.push((self.name.span(), format!("modbus link {link}: baud must be above 0")));
                }
            }
            (_, None, _) => out.push((
                self.name.span(),
                format!("modbus link {link}: needs `address = \"host:port\"`, e.g. \"10.0.0.5:502\""),
            )),
            (_, Some(a), _) => {
                if a.get_ref().rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().is_err()) {
                    out.push((
                        a.span(),
                        format!(
                            "modbus link {link}: address {:?} needs host:port, e.g. \"10.0.0.5:502\"",
                            a.get_ref()
                        ),
                    ));
                }
            }
        }
        if self.timeout.get().is_zero() {
            out.push((self.name.span(), format!("modbus link {link}: timeout must be above 0")));
        }
        let mut units = Vec::new();
        for d in &self.devices {
            let device = d.name.get_ref();
            if units.contains(d.unit.get_ref()) {
                out.push((
                    d.unit.span(),
                    format!("device {device}: unit {} is used twice on link {link}", d.unit.get_ref()),
                ));
            }
            units.push(*d.unit.get_ref());
            if d.base > 1 {
                out.push((
                    d.name.span(),
                    format!("device {device}: base is 0 or 1 (where the manual's numbering starts)"),
                ));
            }
            if !(1..=125).contains(d.max_registers.get_ref()) {
                out.push((
                    d.max_registers.span(),
                    format!("device {device}: max_registers between 1 and 125 (the Modbus limit)"),
                ));
            }
            for f in &d.forbidden {
                if parse_range(f.get_ref(), base_of(d)).is_none() {
                    out.push((
                        f.span(),
                        format!("device {device}: forbidden {:?}: write \"holding:100-120\"", f.get_ref()),
                    ));
                }
            }
            for t in &d.tags {
                match t.resolve(base_of(d)) {
                    Err((span, msg)) => {
                        out.push((span, format!("modbus device {device} / tag {}: {msg}", t.name.get_ref())))
                    }
                    Ok(_) => {
                        if let Some(g) = &t.group
                            && !d.poll_groups.contains_key(g.get_ref())
                        {
                            out.push((g.span(), format!("modbus device {device} / tag {}: poll group {:?} is not in `poll_groups`", t.name.get_ref(), g.get_ref())));
                        }
                    }
                }
            }
        }
        out
    }
}

pub(crate) fn base_of(d: &ModbusDeviceConfig) -> Base {
    if d.base == 1 { Base::One } else { Base::Zero }
}

/// `"holding:100-120"` (inclusive) as a planner block.
pub(crate) fn parse_range(text: &str, base: Base) -> Option<protocols::modbus::plan::Block> {
    let (space, range) = text.split_once(':')?;
    let (a, b) = range.split_once('-')?;
    let first = Address::parse(&format!("{space}:{a}"), base).ok()?;
    let last = Address::parse(&format!("{space}:{b}"), base).ok()?;
    (last.wire >= first.wire)
        .then(|| protocols::modbus::plan::Block::new(first.space, first.wire, last.wire - first.wire + 1))
}
