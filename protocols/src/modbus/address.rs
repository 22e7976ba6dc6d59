//! Register spaces and the address strings engineers write: `"holding:3054"`, `"coil:12"`, `"40001"`.
//!
//! Wire addresses are always zero-based (Modbus Application Protocol V1.1b3 §4.4: "data items are
//! addressed from 0 to 65535"). Device manuals number from 0 or from 1; a device's [`Base`] says which, so
//! the engineer can copy the manual's numbers. The classic `4xxxx` notation is one-based by definition.

use core::fmt;

/// The four Modbus data tables (Modbus Application Protocol V1.1b3 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// Read-write bits (FC01 read, FC05/FC15 write); `0xxxx`.
    Coil,
    /// Read-only bits (FC02); `1xxxx`.
    DiscreteInput,
    /// Read-only registers (FC04); `3xxxx`.
    InputRegister,
    /// Read-write registers (FC03 read, FC06/FC16 write); `4xxxx`.
    HoldingRegister,
}

impl Space {
    pub const ALL: [Space; 4] =
        [Space::Coil, Space::DiscreteInput, Space::InputRegister, Space::HoldingRegister];

    /// Coils and discrete inputs hold bits; the others hold 16-bit registers.
    pub fn is_bits(self) -> bool {
        matches!(self, Space::Coil | Space::DiscreteInput)
    }

    /// The only spaces a master can write.
    pub fn is_writable(self) -> bool {
        matches!(self, Space::Coil | Space::HoldingRegister)
    }

    /// The function code that reads this space.
    pub fn read_function(self) -> u8 {
        match self {
            Space::Coil => 0x01,
            Space::DiscreteInput => 0x02,
            Space::HoldingRegister => 0x03,
            Space::InputRegister => 0x04,
        }
    }

    /// Largest quantity one read may ask for (V1.1b3 §6.1-6.4: 2000 bits, 125 registers).
    pub fn max_read(self) -> u16 {
        if self.is_bits() { 2000 } else { 125 }
    }

    /// The prefix used in address strings.
    pub fn name(self) -> &'static str {
        match self {
            Space::Coil => "coil",
            Space::DiscreteInput => "discrete",
            Space::InputRegister => "input",
            Space::HoldingRegister => "holding",
        }
    }

    fn from_prefix(s: &str) -> Option<Space> {
        const NAMES: [(&str, Space); 8] = [
            ("coil", Space::Coil),
            ("discrete", Space::DiscreteInput),
            ("discrete_input", Space::DiscreteInput),
            ("input", Space::InputRegister),
            ("input_register", Space::InputRegister),
            ("holding", Space::HoldingRegister),
            ("holding_register", Space::HoldingRegister),
            ("coils", Space::Coil),
        ];
        NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)).map(|&(_, sp)| sp)
    }

    fn from_notation_digit(d: u8) -> Option<Space> {
        match d {
            b'0' => Some(Space::Coil),
            b'1' => Some(Space::DiscreteInput),
            b'3' => Some(Space::InputRegister),
            b'4' => Some(Space::HoldingRegister),
            _ => None,
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a device's manual numbers its registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Base {
    /// The manual's address is the wire address.
    #[default]
    Zero,
    /// The manual's address 1 is wire address 0.
    One,
}

/// One data item: a space and a zero-based wire address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub space: Space,
    pub wire: u16,
}

/// Why an address string was refused. The caller adds where it came from (device and tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressError {
    /// Neither `space:number` nor 5/6-digit notation.
    Syntax,
    /// A prefix before `:` that is not a register space.
    UnknownSpace,
    /// The number is missing, has non-digits, or is above the largest address for the base.
    BadNumber { max: u32 },
    /// Address 0 on a device numbered from 1.
    ZeroOnOneBased,
    /// A 5/6-digit number whose leading digit names no space (only 0, 1, 3 and 4 do).
    NoSuchTable { digit: u8 },
    /// `40000`, `300000` and the like: the notation starts at 1.
    NotationZero,
    /// A bare number that is not in 5/6-digit notation, so its space is unknown.
    BareNumber,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddressError::Syntax => f.write_str(
                "expected `space:number` (holding:3054, input:7, coil:12, discrete:3) or 40001-style",
            ),
            AddressError::UnknownSpace => {
                f.write_str("unknown register space; expected one of holding, input, coil, discrete")
            }
            AddressError::BadNumber { max } => {
                write!(f, "the address must be a whole number from 0 to {max}")
            }
            AddressError::ZeroOnOneBased => f.write_str(
                "address 0 on a device numbered from 1; its first register is 1 (wire 0), \
                 or set the device's base to 0",
            ),
            AddressError::NoSuchTable { digit } => write!(
                f,
                "{}xxxx names no register space; 0xxxx are coils, 1xxxx discrete inputs, \
                 3xxxx input registers, 4xxxx holding registers",
                char::from(digit)
            ),
            AddressError::NotationZero => f.write_str(
                "4xxxx-style addresses start at 1: 40001 is the first holding register (wire address 0), \
                 so 40000 does not exist",
            ),
            AddressError::BareNumber => f.write_str(
                "a bare number does not say which register space; write e.g. holding:3054, \
                 or 5-digit notation (43055 = holding register 3055, one-based)",
            ),
        }
    }
}

impl core::error::Error for AddressError {}

impl Address {
    /// Parses `"holding:3054"` (numbered per `base`) or `"43055"` / `"403055"` (always one-based).
    pub fn parse(s: &str, base: Base) -> Result<Address, AddressError> {
        let s = s.trim();
        if let Some((prefix, number)) = s.split_once(':') {
            let space = Space::from_prefix(prefix.trim()).ok_or(AddressError::UnknownSpace)?;
            let max = match base {
                Base::Zero => 65_535,
                Base::One => 65_536,
            };
            let n =
                parse_number(number.trim()).filter(|&n| n <= max).ok_or(AddressError::BadNumber { max })?;
            let wire = match base {
                Base::Zero => n,
                Base::One => n.checked_sub(1).ok_or(AddressError::ZeroOnOneBased)?,
            };
            return Ok(Address { space, wire: wire as u16 });
        }
        Self::parse_notation(s)
    }

    /// `Txxxx` (5 digits, 1..=9999) or `Txxxxx` (6 digits, 1..=65536): table digit, then a one-based number.
    fn parse_notation(s: &str) -> Result<Address, AddressError> {
        let bytes = s.as_bytes();
        if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(AddressError::Syntax);
        }
        if !(5..=6).contains(&bytes.len()) {
            return Err(AddressError::BareNumber);
        }
        let space =
            Space::from_notation_digit(bytes[0]).ok_or(AddressError::NoSuchTable { digit: bytes[0] })?;
        let max = if bytes.len() == 5 { 9_999 } else { 65_536 };
        let n = parse_number(&s[1..]).filter(|&n| n <= max).ok_or(AddressError::BadNumber { max })?;
        let wire = n.checked_sub(1).ok_or(AddressError::NotationZero)?;
        Ok(Address { space, wire: wire as u16 })
    }
}

impl fmt::Display for Address {
    /// Zero-based, so a log line shows what went on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} (wire)", self.space, self.wire)
    }
}

/// Decimal digits only, at most 6 of them (larger never fits an address).
fn parse_number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(space: Space, wire: u16) -> Result<Address, AddressError> {
        Ok(Address { space, wire })
    }

    #[test]
    fn address_strings() {
        use Base::{One, Zero};
        use Space::*;
        let table = [
            ("holding:3054", Zero, at(HoldingRegister, 3054)),
            ("holding:3054", One, at(HoldingRegister, 3053)),
            ("coil:12", Zero, at(Coil, 12)),
            ("input:7", One, at(InputRegister, 6)),
            ("discrete:3", Zero, at(DiscreteInput, 3)),
            (" Holding : 0 ", Zero, at(HoldingRegister, 0)),
            ("holding:65535", Zero, at(HoldingRegister, 65535)),
            ("holding:65536", One, at(HoldingRegister, 65535)),
            ("40001", Zero, at(HoldingRegister, 0)),
            ("40001", One, at(HoldingRegister, 0)),
            ("43055", Zero, at(HoldingRegister, 3054)),
            ("30007", Zero, at(InputRegister, 6)),
            ("00013", One, at(Coil, 12)),
            ("10004", Zero, at(DiscreteInput, 3)),
            ("465536", Zero, at(HoldingRegister, 65535)),
            ("holding:65536", Zero, Err(AddressError::BadNumber { max: 65535 })),
            ("holding:0", One, Err(AddressError::ZeroOnOneBased)),
            ("holding:-1", Zero, Err(AddressError::BadNumber { max: 65535 })),
            ("holding:", Zero, Err(AddressError::BadNumber { max: 65535 })),
            ("register:5", Zero, Err(AddressError::UnknownSpace)),
            ("40000", Zero, Err(AddressError::NotationZero)),
            ("400000", One, Err(AddressError::NotationZero)),
            ("23055", Zero, Err(AddressError::NoSuchTable { digit: b'2' })),
            ("465537", Zero, Err(AddressError::BadNumber { max: 65536 })),
            ("3054", Zero, Err(AddressError::BareNumber)),
            ("hr3054", Zero, Err(AddressError::Syntax)),
            ("", Zero, Err(AddressError::Syntax)),
        ];
        for (text, base, want) in table {
            assert_eq!(Address::parse(text, base), want, "{text:?} {base:?}");
        }
    }

    #[test]
    fn errors_explain_the_notation() {
        let e = Address::parse("40000", Base::Zero).unwrap_err().to_string();
        assert!(e.contains("40001 is the first holding register"), "{e}");
        let e = Address::parse("3054", Base::Zero).unwrap_err().to_string();
        assert!(e.contains("holding:3054"), "{e}");
    }

    #[test]
    fn spaces_know_their_functions_and_limits() {
        let table = [
            (Space::Coil, 0x01, 2000, true),
            (Space::DiscreteInput, 0x02, 2000, false),
            (Space::HoldingRegister, 0x03, 125, true),
            (Space::InputRegister, 0x04, 125, false),
        ];
        for (space, fc, max, writable) in table {
            assert_eq!((space.read_function(), space.max_read(), space.is_writable()), (fc, max, writable));
        }
    }

    proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::testkit::cases()))]
        #[test]
        fn parse_never_panics(s in "\\PC{0,12}", one in any::<bool>()) {
            let _ = Address::parse(&s, if one { Base::One } else { Base::Zero });
        }

        #[test]
        fn one_based_is_zero_based_plus_one(wire in any::<u16>()) {
            let one = Address::parse(&format!("input:{}", u32::from(wire) + 1), Base::One);
            prop_assert_eq!(one, Address::parse(&format!("input:{wire}"), Base::Zero));
        }
    }
}
