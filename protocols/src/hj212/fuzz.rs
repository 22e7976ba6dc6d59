//! HJ 212 from a platform or a station, as properties: random bytes, valid frames and segments with
//! mutations, a stream of frames between noise, and round trips through PNUM/PNO packets. No panic;
//! what is accepted is what was sent; a refusal names the part and the value it saw.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::testkit::{self, Mutation, mutated, mutations, near_text};

fn value() -> impl Strategy<Value = String> {
    testkit::text("[a-zA-Z0-9.\\-锅炉一号温度 ]{0,12}")
}

/// Segments up to split size, for the round trips through packets.
fn arb_segment() -> impl Strategy<Value = Segment> {
    segment_of(0..30)
}

/// Segments of one frame, for the decoders: big enough for every field, small enough to be quick.
fn small_segment() -> impl Strategy<Value = Segment> {
    segment_of(0..4)
}

fn segment_of(groups: core::ops::Range<usize>) -> impl Strategy<Value = Segment> {
    let field =
        (testkit::text("[a-z][a-z0-9锅炉一号温度.\\-]{0,10}"), value()).prop_map(|(k, v)| Field::new(k, v));
    let groups = prop::collection::vec(prop::collection::vec(field, 1..5), groups);
    (any::<bool>(), 0u16..10000, value(), value(), any::<u8>(), groups).prop_map(
        |(qn, cn, pw, mn, flag, groups)| Segment {
            qn: qn.then(|| "20240101120000000".to_string()),
            st: "31".into(),
            cn,
            pw,
            mn,
            flag: Some(Flag(flag & !2)),
            packet: None,
            cp: Cp { groups },
        },
    )
}

/// The segment's own syntax, for mutations that move it around.
const SYNTAX: &[&str] = &[
    ";", ",", "=", "&", "&&", "CP=&&", "QN=", "ST=", "CN=", "PW=", "MN=", "Flag=", "PNUM=", "PNO=", "\r\n",
    "##",
];

/// A frame's refusal names the part it found wrong, with the value it saw.
fn named_frame_error(e: &Hj212Error, bytes: &[u8]) -> bool {
    let digits = |r: core::ops::Range<usize>| bytes.get(r).and_then(|d| core::str::from_utf8(d).ok());
    !e.to_string().is_empty()
        && match e {
            Hj212Error::NoHeader => bytes.get(..2) != Some(b"##"),
            Hj212Error::BadLength => digits(2..6).is_none_or(|d| !d.bytes().all(|b| b.is_ascii_digit())),
            Hj212Error::TooLong { len, .. } => digits(2..6) == Some(&alloc::format!("{len:04}")),
            Hj212Error::Truncated { need } => bytes.len() < *need,
            Hj212Error::CrcMismatch { received, .. } => {
                let len = usize::from(digits(2..6).and_then(|d| d.parse::<u16>().ok()).unwrap_or(0));
                digits(6 + len..10 + len).and_then(|h| u16::from_str_radix(h, 16).ok()) == Some(*received)
            }
            Hj212Error::NotUtf8 { at } => core::str::from_utf8(&bytes[6..6 + at]).is_ok(),
            Hj212Error::BadCrcText | Hj212Error::NoTrailer => true,
            _ => false,
        }
}

/// A segment's refusal names the field; a missing one is not there.
fn named_segment_error(e: &Hj212Error, text: &str) -> bool {
    let shown = e.to_string();
    match e {
        Hj212Error::Missing("CP") => !text.contains("CP=&&"),
        Hj212Error::Missing(f) => shown.contains(f),
        Hj212Error::Duplicate(f) | Hj212Error::Field { field: f, .. } => {
            text.contains(f.as_str()) && shown.contains(f.as_str())
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(testkit::config())]
    #[test]
    fn any_bytes_decode_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok((text, used)) = decode_frame(&bytes, MAX_SEGMENT) {
            prop_assert!(used <= bytes.len());
            let _ = Segment::decode(text);
        }
        let mut d = FrameDecoder::new(MAX_SEGMENT);
        d.push(&bytes);
        while d.next_segment().is_some() {}
    }

    #[test]
    fn any_text_segment_decodes_without_panic(text in "[A-Za-z=;,&0-9锅]{0,80}") {
        let _ = Segment::decode(&text);
        let _ = Segment::decode(&alloc::format!("ST=1;CN=2011;MN=a;CP=&&{text}&&"));
    }

    #[test]
    fn mutated_frames_decode_to_what_was_sent_or_name_the_fault(seg in small_segment(), changes in mutations()) {
        let Ok(frames) = encode_frames(&seg, MAX_SEGMENT) else { return Ok(()) };
        let valid = frames[0].as_bytes();
        let bytes = mutated(valid, &changes);
        let original = decode_frame(valid, MAX_SEGMENT).unwrap().0;
        match decode_frame(&bytes, MAX_SEGMENT) {
            Ok((text, used)) => {
                let mut again = String::new();
                encode_frame(text, &mut again).unwrap();
                // The CRC's hex digits may change case; nothing else may differ.
                prop_assert_eq!(again.to_ascii_uppercase(), String::from_utf8_lossy(&bytes[..used]).to_ascii_uppercase());
                // CRC-16 catches every change within 16 bits: one byte changed keeps the text or is refused.
                let one_byte = changes.len() == 1 && matches!(changes[0], Mutation::Flip(..) | Mutation::Set(..));
                prop_assert!(!one_byte || text == original, "{:?} taken from {:?}", text, bytes);
            }
            Err(e) => prop_assert!(named_frame_error(&e, &bytes), "{:?} for {:?}", e, String::from_utf8_lossy(&bytes)),
        }
    }

    #[test]
    fn mutated_segments_read_back_as_they_encode_or_name_the_field(
        text in near_text(small_segment().prop_map(|s| { let mut t = String::new(); let _ = s.encode(&mut t); t }), SYNTAX),
    ) {
        match Segment::decode(&text) {
            Ok(seg) => {
                let mut again = String::new();
                if seg.encode(&mut again).is_ok() {
                    prop_assert_eq!(Segment::decode(&again), Ok(seg));
                }
            }
            Err(e) => prop_assert!(named_segment_error(&e, &text), "{:?} for {:?}", e, text),
        }
    }

    #[test]
    fn a_stream_of_frames_between_noise_comes_out_whole_and_in_order(
        segs in prop::collection::vec(small_segment(), 1..4),
        noise in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("not #", |b| *b != b'#'), 0..20), 4),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut stream = noise[0].clone();
        let mut want = Vec::new();
        for (i, seg) in segs.iter().enumerate() {
            let Ok(frames) = encode_frames(seg, MAX_SEGMENT) else { continue };
            for f in frames {
                want.push(decode_frame(f.as_bytes(), MAX_SEGMENT).unwrap().0.to_string());
                stream.extend_from_slice(f.as_bytes());
            }
            stream.extend_from_slice(&noise[i + 1]);
        }
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).chain([0, stream.len()]).collect();
        at.sort_unstable();
        let mut d = FrameDecoder::new(MAX_SEGMENT);
        let mut got = Vec::new();
        for w in at.windows(2) {
            d.push(&stream[w[0]..w[1]]);
            while let Some(seg) = d.next_segment() {
                got.push(seg.map_err(|e| e.to_string()));
            }
        }
        prop_assert_eq!(got, want.into_iter().map(Ok).collect::<Vec<_>>());
    }

    #[test]
    fn any_packets_reassemble_or_not_without_panic(segs in prop::collection::vec(small_segment(), 0..5), nums in prop::collection::vec((0u16..5, 0u16..6), 5)) {
        let packets: Vec<Segment> = segs.into_iter().zip(nums).map(|(mut s, (n, o))| { s.packet = Some((n, o)); s }).collect();
        if let Some(whole) = reassemble(&packets) {
            prop_assert!(whole.packet.is_none());
        }
    }
}

// Round trips build and split whole segments: a tenth of the cases keeps the normal run short.
proptest! {
    #![proptest_config(ProptestConfig { cases: testkit::cases() / 10, ..testkit::config() })]
    #[test]
    fn segments_round_trip_through_frames_and_packets(seg in arb_segment(), max in 150usize..1100) {
        let Ok(frames) = encode_frames(&seg, max) else { return Ok(()) };
        let mut packets = Vec::new();
        for f in &frames {
            let (text, used) = decode_frame(f.as_bytes(), max).unwrap();
            prop_assert_eq!(used, f.len());
            packets.push(Segment::decode(text).unwrap());
        }
        let mut want = seg.clone();
        want.cp.groups.retain(|g| !g.is_empty());
        let back = if frames.len() == 1 { packets.pop().unwrap() } else { reassemble(&packets).unwrap() };
        // A long group may come back as several groups; compare the fields in order.
        prop_assert_eq!(back.cn, want.cn);
        let flat = |s: &Segment| s.cp.groups.iter().flatten().cloned().collect::<Vec<_>>();
        prop_assert_eq!(flat(&back), flat(&want));
    }
}
