//! The check of HJ 212-2017 App. A (kept in HJ 212-2025): not the Modbus CRC. Each byte is folded in
//! with `crc = (crc >> 8) ^ byte` before eight shifts with the reflected polynomial 0xA001, where Modbus
//! XORs the byte into the low half. The packet quoted in the standard (§6.3.2 example, `...&&1C80`)
//! is the test vector.

/// CRC of a data segment, over its UTF-8 bytes.
pub fn crc16(segment: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in segment {
        crc = (crc >> 8) ^ u16::from(b);
        for _ in 0..8 {
            let carry = crc & 1 == 1;
            crc >>= 1;
            if carry {
                crc ^= 0xA001;
            }
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::crc16;

    #[test]
    fn the_standards_packet_verifies() {
        let seg = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&";
        assert_eq!(seg.len(), 101);
        assert_eq!(crc16(seg), 0x1C80);
    }

    #[test]
    fn differs_from_modbus() {
        // CRC-16/MODBUS of "123456789" is 0x4B37; this one folds the byte differently.
        assert_ne!(crc16(b"123456789"), 0x4B37);
        assert_eq!(crc16(b""), 0xFFFF);
    }
}
