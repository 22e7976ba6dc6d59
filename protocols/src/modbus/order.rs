//! Register order: how a device lays the bytes of a multi-register value over consecutive registers.
//!
//! Name the value's bytes from most to least significant: `A B C D` for 32 bits, `A B .. H` for 64 bits.
//! The four orders are two independent switches, which is how they generalise past two registers:
//!
//! | order | registers in address order | bytes in a register | 32-bit on the wire | 64-bit on the wire |
//! |-------|----------------------------|---------------------|--------------------|--------------------|
//! | ABCD  | most significant first     | high byte first     | `AB CD`            | `AB CD EF GH`      |
//! | CDAB  | least significant first    | high byte first     | `CD AB`            | `GH EF CD AB`      |
//! | BADC  | most significant first     | low byte first      | `BA DC`            | `BA DC FE HG`      |
//! | DCBA  | least significant first    | low byte first      | `DC BA`            | `HG FE DC BA`      |
//!
//! ABCD is the Modbus default (Modbus Application Protocol V1.1b3 §4.2: "big-Endian representation is used
//! for addresses and data items"). CDAB is what most meters and PLCs call "word swap" or "low word first"
//! (Schneider, Siemens PAC, Modicon 984 doubles, pymodbus `wordorder=little`); for 64-bit values they reverse
//! all four registers, as above, not pairs of registers. BADC and DCBA come from devices that copy a
//! little-endian CPU word straight into the register file.

use core::fmt;
use core::str::FromStr;

/// Register and byte order of a multi-register value. See the module docs for the exact layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ByteOrder {
    /// Big-endian: most significant register first, high byte first. The Modbus default.
    #[default]
    Abcd,
    /// Word-swapped: least significant register first, high byte first.
    Cdab,
    /// Byte-swapped: most significant register first, low byte first in each register.
    Badc,
    /// Little-endian: least significant register first, low byte first.
    Dcba,
}

impl ByteOrder {
    pub const ALL: [ByteOrder; 4] = [ByteOrder::Abcd, ByteOrder::Cdab, ByteOrder::Badc, ByteOrder::Dcba];

    /// The least significant register comes first in address order.
    pub fn words_swapped(self) -> bool {
        matches!(self, ByteOrder::Cdab | ByteOrder::Dcba)
    }

    /// The low byte of each register comes first on the wire.
    pub fn bytes_swapped(self) -> bool {
        matches!(self, ByteOrder::Badc | ByteOrder::Dcba)
    }

    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::Abcd => "ABCD",
            ByteOrder::Cdab => "CDAB",
            ByteOrder::Badc => "BADC",
            ByteOrder::Dcba => "DCBA",
        }
    }

    /// Joins `regs` (address order, at most 4) into one big-endian integer, right-aligned.
    pub(crate) fn gather(self, regs: &[u16]) -> u64 {
        let n = regs.len();
        let mut acc = 0u64;
        for i in 0..n {
            let word = if self.words_swapped() { regs[n - 1 - i] } else { regs[i] };
            acc = acc << 16 | u64::from(self.fix_bytes(word));
        }
        acc
    }

    /// Inverse of [`ByteOrder::gather`]: spreads the low `out.len() * 16` bits of `raw` over `out`.
    pub(crate) fn scatter(self, raw: u64, out: &mut [u16]) {
        let n = out.len();
        for i in 0..n {
            let word = self.fix_bytes((raw >> (16 * (n - 1 - i))) as u16);
            let slot = if self.words_swapped() { n - 1 - i } else { i };
            out[slot] = word;
        }
    }

    /// One register as the device means it (swapping bytes is its own inverse).
    pub(crate) fn fix_bytes(self, word: u16) -> u16 {
        if self.bytes_swapped() { word.swap_bytes() } else { word }
    }
}

impl fmt::Display for ByteOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A byte order name that is none of the four.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownByteOrder;

impl fmt::Display for UnknownByteOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown byte order; expected one of ABCD, CDAB, BADC, DCBA")
    }
}

impl core::error::Error for UnknownByteOrder {}

impl FromStr for ByteOrder {
    type Err = UnknownByteOrder;
    /// Accepts the four names in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ByteOrder::ALL.into_iter().find(|o| o.name().eq_ignore_ascii_case(s)).ok_or(UnknownByteOrder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_two_bit_layouts() {
        // Value bytes A=0x11 B=0x22 C=0x33 D=0x44.
        let table = [
            (ByteOrder::Abcd, [0x1122, 0x3344]),
            (ByteOrder::Cdab, [0x3344, 0x1122]),
            (ByteOrder::Badc, [0x2211, 0x4433]),
            (ByteOrder::Dcba, [0x4433, 0x2211]),
        ];
        for (order, wire) in table {
            let mut out = [0u16; 2];
            order.scatter(0x1122_3344, &mut out);
            assert_eq!(out, wire, "{order}");
            assert_eq!(order.gather(&wire), 0x1122_3344, "{order}");
        }
    }

    #[test]
    fn sixty_four_bit_layouts() {
        let table = [
            (ByteOrder::Abcd, [0x1122, 0x3344, 0x5566, 0x7788]),
            (ByteOrder::Cdab, [0x7788, 0x5566, 0x3344, 0x1122]),
            (ByteOrder::Badc, [0x2211, 0x4433, 0x6655, 0x8877]),
            (ByteOrder::Dcba, [0x8877, 0x6655, 0x4433, 0x2211]),
        ];
        for (order, wire) in table {
            let mut out = [0u16; 4];
            order.scatter(0x1122_3344_5566_7788, &mut out);
            assert_eq!(out, wire, "{order}");
            assert_eq!(order.gather(&wire), 0x1122_3344_5566_7788, "{order}");
        }
    }

    #[test]
    fn dcba_is_the_little_endian_byte_stream() {
        let mut out = [0u16; 4];
        ByteOrder::Dcba.scatter(0x1122_3344_5566_7788, &mut out);
        let mut wire = [0u8; 8];
        for (i, w) in out.iter().enumerate() {
            wire[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
        }
        assert_eq!(wire, 0x1122_3344_5566_7788u64.to_le_bytes());
    }

    #[test]
    fn names_parse_in_any_case_and_reject_others() {
        assert_eq!("cdab".parse::<ByteOrder>(), Ok(ByteOrder::Cdab));
        assert_eq!("DCBA".parse::<ByteOrder>(), Ok(ByteOrder::Dcba));
        assert_eq!("CBDA".parse::<ByteOrder>(), Err(UnknownByteOrder));
        assert_eq!(ByteOrder::default(), ByteOrder::Abcd);
    }
}
