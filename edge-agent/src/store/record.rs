//! The on-disk record, sans-IO: bytes in, records out; never panics on input.
//!
//! `magic u32 | len u32 | crc32 u32 | body[len]`, little-endian; the CRC covers the body. The magic lets a
//! reader find the next record after a corrupt length, instead of losing the rest of the segment. Bodies:
//! - samples: `1 | first_seq u64 | count u32 | count × 24-byte packed samples`
//! - dictionary: `2 | site | gateway | n u32 | n × (device, tag)`, strings as `u16 len | utf-8`; tag ids are
//!   indexes into it. Every segment starts with one, so a segment can be read without the config.
//! - text: `3 | text id u32 | utf-8`: a text value, written before the first sample that refers to it.

use protocols::Sample;

pub const MAGIC: u32 = 0x4C53_4445; // "EDSL" on disk
pub const HEADER: usize = 12;
/// Far above any real record (a batch is 192 KiB, a 100k-tag dictionary ~6 MiB), so a corrupt length is
/// recognised as such instead of making the reader wait for gigabytes.
pub const MAX_BODY: usize = 64 << 20;
pub const SAMPLE_BYTES: usize = 24;

const KIND_SAMPLES: u8 = 1;
const KIND_DICTIONARY: u8 = 2;
const KIND_TEXT: u8 = 3;

/// Names for tag ids: what a segment needs to be turned into points long after the config changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dictionary {
    pub site: String,
    pub gateway: String,
    /// Indexed by tag id: (device, tag).
    pub tags: Vec<(String, String)>,
}

/// One decoded record body.
#[derive(Debug, PartialEq)]
pub enum Body<'a> {
    Samples { first_seq: u64, count: u32, packed: &'a [u8] },
    Dictionary(Dictionary),
    Text { id: u32, text: &'a str },
}

/// What [`decode`] found at the start of a buffer.
#[derive(Debug, PartialEq)]
pub enum Decoded<'a> {
    Record {
        body: Body<'a>,
        len: usize,
    },
    /// A record may start here but its bytes are not all in the buffer yet (or, at a file's end, a torn
    /// tail).
    Incomplete,
    /// Not a valid record: skip this many bytes to the next place one may start.
    Corrupt {
        skip: usize,
        why: &'static str,
    },
}

pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < HEADER {
        return match buf.len() >= 4 && read_u32(buf, 0) != MAGIC {
            true => corrupt(buf, "no record marker"),
            false => Decoded::Incomplete,
        };
    }
    if read_u32(buf, 0) != MAGIC {
        return corrupt(buf, "no record marker");
    }
    let len = read_u32(buf, 4) as usize;
    if len == 0 || len > MAX_BODY {
        return corrupt(buf, "impossible record length");
    }
    if buf.len() < HEADER + len {
        return Decoded::Incomplete;
    }
    let body = &buf[HEADER..HEADER + len];
    if crc32fast::hash(body) != read_u32(buf, 8) {
        return corrupt(buf, "checksum mismatch");
    }
    match parse_body(body) {
        Some(body) => Decoded::Record { body, len: HEADER + len },
        None => corrupt(buf, "malformed body"),
    }
}

/// Skips to the next occurrence of the marker after the first byte (or keeps the last 3 bytes, which may
/// be the start of one).
fn corrupt<'a>(buf: &[u8], why: &'static str) -> Decoded<'a> {
    let marker = MAGIC.to_le_bytes();
    let skip = buf
        .windows(4)
        .skip(1)
        .position(|w| w == marker)
        .map(|p| p + 1)
        .unwrap_or(buf.len().saturating_sub(3).max(1));
    Decoded::Corrupt { skip, why }
}

fn parse_body(body: &[u8]) -> Option<Body<'_>> {
    let (&kind, rest) = body.split_first()?;
    match kind {
        KIND_SAMPLES => {
            let first_seq = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
            let count = u32::from_le_bytes(rest.get(8..12)?.try_into().ok()?);
            let packed = &rest[12..];
            (packed.len() == count as usize * SAMPLE_BYTES && count > 0).then_some(Body::Samples {
                first_seq,
                count,
                packed,
            })
        }
        KIND_DICTIONARY => {
            let mut r = Cursor(rest);
            let site = r.string()?;
            let gateway = r.string()?;
            let n = r.u32()? as usize;
            // Each entry takes at least 4 bytes, so a corrupt count cannot make us allocate much.
            if n > r.0.len() / 4 {
                return None;
            }
            let mut tags = Vec::with_capacity(n);
            for _ in 0..n {
                tags.push((r.string()?, r.string()?));
            }
            r.0.is_empty().then_some(Body::Dictionary(Dictionary { site, gateway, tags }))
        }
        KIND_TEXT => {
            let id = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
            let text = core::str::from_utf8(&rest[4..]).ok()?;
            Some(Body::Text { id, text })
        }
        _ => None,
    }
}

/// Unpacks a samples record; `None` for words no sample packs to.
pub fn unpack(packed: &[u8], out: &mut Vec<Sample>) -> Result<(), usize> {
    for (i, chunk) in packed.chunks_exact(SAMPLE_BYTES).enumerate() {
        let w = |k: usize| u64::from_le_bytes(chunk[k * 8..k * 8 + 8].try_into().unwrap_or_default());
        out.push(Sample::from_words([w(0), w(1), w(2)]).ok_or(i)?);
    }
    Ok(())
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u32(&mut self) -> Option<u32> {
        let v = u32::from_le_bytes(self.0.get(..4)?.try_into().ok()?);
        self.0 = &self.0[4..];
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        let n = u16::from_le_bytes(self.0.get(..2)?.try_into().ok()?) as usize;
        let s = core::str::from_utf8(self.0.get(2..2 + n)?).ok()?.to_owned();
        self.0 = &self.0[2 + n..];
        Some(s)
    }
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Appends one whole record (header and body) to `out`.
fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    body(out);
    let len = (out.len() - start - HEADER) as u32;
    let crc = crc32fast::hash(&out[start + HEADER..]);
    out[start..start + 4].copy_from_slice(&MAGIC.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

pub fn encode_samples(out: &mut Vec<u8>, first_seq: u64, samples: &[Sample]) {
    frame(out, |b| {
        b.push(KIND_SAMPLES);
        b.extend_from_slice(&first_seq.to_le_bytes());
        b.extend_from_slice(&(samples.len() as u32).to_le_bytes());
        for s in samples {
            for w in s.to_words() {
                b.extend_from_slice(&w.to_le_bytes());
            }
        }
    });
}

/// Names longer than 65535 bytes are cut at a character boundary; config checks keep them far shorter.
fn put_string(b: &mut Vec<u8>, s: &str) {
    let mut n = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    b.extend_from_slice(&(n as u16).to_le_bytes());
    b.extend_from_slice(&s.as_bytes()[..n]);
}

pub fn encode_dictionary(out: &mut Vec<u8>, dict: &Dictionary) {
    frame(out, |b| {
        b.push(KIND_DICTIONARY);
        put_string(b, &dict.site);
        put_string(b, &dict.gateway);
        b.extend_from_slice(&(dict.tags.len() as u32).to_le_bytes());
        for (device, tag) in &dict.tags {
            put_string(b, device);
            put_string(b, tag);
        }
    });
}

pub fn encode_text(out: &mut Vec<u8>, id: u32, text: &str) {
    frame(out, |b| {
        b.push(KIND_TEXT);
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(text.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use protocols::{Reason, TagId, Timestamp, Value};

    fn samples(n: usize) -> Vec<Sample> {
        (0..n)
            .map(|i| match i % 3 {
                0 => Sample::good(
                    TagId(i as u32),
                    Timestamp(1_700_000_000_000_000_000 + i as i64),
                    Value::Float(i as f64),
                ),
                1 => Sample::bad(TagId(7), Timestamp(i as i64), Reason::Exception(2)),
                _ => Sample::good(TagId(1), Timestamp(-5), Value::Int(-(i as i64))),
            })
            .collect()
    }

    #[test]
    fn records_read_back_as_written() {
        let dict = Dictionary {
            site: "plant 1".into(),
            gateway: "gw-7".into(),
            tags: vec![("meter-3".into(), "incomer.kw".into()), ("press".into(), "temp".into())],
        };
        let mut buf = Vec::new();
        encode_dictionary(&mut buf, &dict);
        encode_text(&mut buf, 4, "batch 42 ✓");
        encode_samples(&mut buf, 99, &samples(10));

        let Decoded::Record { body: Body::Dictionary(d), len } = decode(&buf) else { panic!() };
        assert_eq!(d, dict);
        let rest = &buf[len..];
        let Decoded::Record { body: Body::Text { id: 4, text }, len: l2 } = decode(rest) else { panic!() };
        assert_eq!(text, "batch 42 ✓");
        let Decoded::Record { body: Body::Samples { first_seq: 99, count: 10, packed }, len: l3 } =
            decode(&rest[l2..])
        else {
            panic!()
        };
        assert_eq!(l2 + l3, rest.len());
        let mut out = Vec::new();
        unpack(packed, &mut out).unwrap();
        // NaN != NaN: compare packed words.
        let words = |v: &[Sample]| v.iter().map(|s| s.to_words()).collect::<Vec<_>>();
        assert_eq!(words(&out), words(&samples(10)));
    }

    #[test]
    fn a_cut_record_is_incomplete_and_a_flipped_byte_is_corrupt() {
        let mut buf = Vec::new();
        encode_samples(&mut buf, 0, &samples(4));
        let whole = buf.len();
        for cut in 0..whole {
            assert_eq!(decode(&buf[..cut]), Decoded::Incomplete, "cut at {cut}");
        }
        for at in 0..whole {
            let mut bad = buf.clone();
            bad[at] ^= 0x10;
            match decode(&bad) {
                Decoded::Corrupt { .. } => {}
                // A longer length looks like a record still being written; at a file's end it is a torn tail.
                Decoded::Incomplete => assert!((4..8).contains(&at), "flip at {at}"),
                Decoded::Record { .. } => panic!("flip at {at} went unnoticed"),
            }
        }
    }

    #[test]
    fn after_corruption_the_next_record_is_found() {
        let mut buf = Vec::new();
        encode_samples(&mut buf, 0, &samples(4));
        let second = buf.len();
        encode_samples(&mut buf, 4, &samples(2));
        buf[7] = 0xff; // the first record's length, now impossible
        let Decoded::Corrupt { skip, .. } = decode(&buf) else { panic!() };
        assert_eq!(skip, second);
        assert!(matches!(
            decode(&buf[skip..]),
            Decoded::Record { body: Body::Samples { first_seq: 4, .. }, .. }
        ));
    }

    proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(protocols::testkit::cases()))]
        #[test]
        fn arbitrary_bytes_never_panic_and_always_make_progress(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            match decode(&bytes) {
                Decoded::Corrupt { skip, .. } => prop_assert!(skip >= 1 && skip <= bytes.len().max(1)),
                Decoded::Record { len, .. } => prop_assert!(len <= bytes.len()),
                Decoded::Incomplete => prop_assert!(bytes.len() < HEADER + MAX_BODY),
            }
        }
    }
}
