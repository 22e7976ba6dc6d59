//! Frames, segments and splitting: the standard's own packet, named errors, and any input without a
//! panic: random bytes and valid frames and segments with mutations (`PROPTEST_CASES`, 10 000 by default).

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::testkit::{self, Mutation, mutated, mutations, near_text};

const STANDARD: &str = "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n";

#[test]
fn decodes_the_standards_packet() {
    let (text, used) = decode_frame(STANDARD.as_bytes(), MAX_SEGMENT).unwrap();
    assert_eq!(used, STANDARD.len());
    let seg = Segment::decode(text).unwrap();
    assert_eq!(seg.qn.as_deref(), Some("20160801085857223"));
    assert_eq!((seg.st.as_str(), seg.cn, seg.pw.as_str()), ("32", 1062, "100000"));
    assert_eq!(seg.mn, "010000A8900016F000169DC0");
    let flag = seg.flag.unwrap();
    assert_eq!((flag.edition(), flag.answer(), flag.packet()), (Some(Edition::V2017), true, false));
    assert_eq!(seg.cp.get("RtdInterval"), Some("30"));
    // And back, byte for byte.
    assert_eq!(encode_frames(&seg, MAX_SEGMENT).unwrap(), vec![STANDARD.to_string()]);
}

#[test]
fn flags_of_both_editions() {
    assert_eq!(Flag::new(Edition::V2017, true, false).0, 5);
    assert_eq!(Flag::new(Edition::V2025, true, false).0, 9);
    assert_eq!(Flag::new(Edition::V2025, false, true).0, 10);
    assert_eq!(Flag(9).edition(), Some(Edition::V2025));
    assert_eq!(Flag(0).edition(), None, "HJ/T 212-2005 is not spoken");
    assert_eq!(Flag(5).with_packet(true).0, 7);
}

#[test]
fn length_counts_utf8_bytes() {
    let seg = Segment {
        qn: None,
        st: "31".into(),
        cn: 2011,
        pw: "123456".into(),
        mn: "锅炉一号".into(),
        flag: Some(Flag::new(Edition::V2025, true, false)),
        packet: None,
        cp: Cp { groups: vec![vec![Field::new("锅炉一号.温度-Rtd", "85.5")]] },
    };
    let frame = &encode_frames(&seg, MAX_SEGMENT).unwrap()[0];
    let text_len = frame.len() - frame::OVERHEAD;
    assert_eq!(&frame[2..6], alloc::format!("{text_len:04}"));
    assert!(text_len > frame.chars().count() - frame::OVERHEAD, "bytes, not characters");
    let (text, _) = decode_frame(frame.as_bytes(), MAX_SEGMENT).unwrap();
    assert_eq!(Segment::decode(text).unwrap(), seg);
}

#[test]
fn frame_errors_name_the_part() {
    let good = STANDARD.as_bytes();
    let mut bad_crc = good.to_vec();
    bad_crc[good.len() - 3] = b'1';
    assert_eq!(
        decode_frame(&bad_crc, MAX_SEGMENT),
        Err(Hj212Error::CrcMismatch { computed: 0x1C80, received: 0x1C81 })
    );
    let mut bad_len = good.to_vec();
    bad_len[5] = b'2';
    assert!(decode_frame(&bad_len, MAX_SEGMENT).is_err());
    assert_eq!(decode_frame(b"#!0101", MAX_SEGMENT), Err(Hj212Error::NoHeader));
    assert_eq!(decode_frame(b"##01x1", MAX_SEGMENT), Err(Hj212Error::BadLength));
    assert_eq!(decode_frame(&good[..50], MAX_SEGMENT), Err(Hj212Error::Truncated { need: good.len() }));
    assert_eq!(decode_frame(good, 100), Err(Hj212Error::TooLong { len: 101, max: 100 }));
    let mut no_crlf = good.to_vec();
    no_crlf[good.len() - 1] = b'\n' + 1;
    assert_eq!(decode_frame(&no_crlf, MAX_SEGMENT), Err(Hj212Error::NoTrailer));
    let mut hex = good.to_vec();
    hex[good.len() - 4] = b'G';
    assert_eq!(decode_frame(&hex, MAX_SEGMENT), Err(Hj212Error::BadCrcText));
}

#[test]
fn segment_errors_name_the_field() {
    let cases: &[(&str, Hj212Error)] = &[
        ("ST=32;PW=1;MN=a;CP=&&&&", Hj212Error::Missing("CN")),
        ("CN=2011;PW=1;MN=a;CP=&&&&", Hj212Error::Missing("ST")),
        ("ST=32;CN=2011;PW=1;CP=&&&&", Hj212Error::Missing("MN")),
        ("ST=32;CN=2011;PW=1;MN=a", Hj212Error::Missing("CP")),
        (
            "ST=32;CN=20x1;PW=1;MN=a;CP=&&&&",
            Hj212Error::Field { field: "CN".into(), problem: "CN is 4 digits" },
        ),
        ("ST=32;ST=31;CN=2011;PW=1;MN=a;CP=&&&&", Hj212Error::Duplicate("ST".into())),
        (
            "QN=1;ST=32;CN=2011;PW=1;MN=a;CP=&&&&",
            Hj212Error::Field { field: "QN".into(), problem: "QN is 17 digits YYYYMMDDhhmmsszzz" },
        ),
        (
            "ST=32;CN=2011;PW=1;MN=a;Flag=256;CP=&&&&",
            Hj212Error::Field { field: "Flag".into(), problem: "Flag is a number 0..=255" },
        ),
        ("ST=32;CN=2011;PW=1;MN=a;PNUM=2;CP=&&&&", Hj212Error::Missing("PNO")),
        (
            "ST=32;CN=2011;PW=1;MN=a;PNUM=2;PNO=3;CP=&&&&",
            Hj212Error::Field { field: "PNO".into(), problem: "PNO is between 1 and PNUM" },
        ),
        (
            "ST=32;CN=2011;PW=1;MN=a;XX=1;CP=&&&&",
            Hj212Error::Field { field: "XX".into(), problem: "not a field of the HJ 212 data segment" },
        ),
        (
            "ST=32;CN=2011;PW=1;MN=a;CP=&&a21026-Rtd&&",
            Hj212Error::Field {
                field: "a21026-Rtd".into(),
                problem: "CP field has no `=` between name and value",
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&Segment::decode(text).unwrap_err(), want, "{text}");
    }
}

#[test]
fn cp_groups_and_fields() {
    let seg = Segment::decode(
        "QN=20240101120000000;ST=31;CN=2051;PW=123456;MN=M1;Flag=5;CP=&&DataTime=20240101120000;a21026-Avg=12.5,a21026-Flag=N;a19001-Avg=8.1,a19001-Flag=N&&",
    )
    .unwrap();
    assert_eq!(seg.cp.groups.len(), 3);
    assert_eq!(seg.cp.groups[1], vec![Field::new("a21026-Avg", "12.5"), Field::new("a21026-Flag", "N")]);
    assert_eq!(seg.cp.get("a19001-Flag"), Some("N"));
}

#[test]
fn encoding_refuses_a_separator_in_a_value() {
    let mut seg = Segment::decode("ST=32;CN=2011;PW=1;MN=a;CP=&&&&").unwrap();
    seg.cp.groups.push(vec![Field::new("锅炉一号.备注", "a;b")]);
    assert_eq!(seg.encode(&mut String::new()), Err(Hj212Error::Separator { field: "锅炉一号.备注".into() }));
}

fn big_segment(n: usize) -> Segment {
    let mut groups = vec![vec![Field::new("DataTime", "20240101120000")]];
    for i in 0..n {
        groups.push(vec![
            Field::new(alloc::format!("锅炉{i}号.温度-Rtd"), "123.456"),
            Field::new(alloc::format!("锅炉{i}号.温度-Flag"), "N"),
        ]);
    }
    Segment {
        qn: Some("20240101120000000".into()),
        st: "31".into(),
        cn: 2011,
        pw: "123456".into(),
        mn: "MN01".into(),
        flag: Some(Flag::new(Edition::V2017, true, false)),
        packet: None,
        cp: Cp { groups },
    }
}

#[test]
fn splits_over_the_limit_and_reassembles() {
    let seg = big_segment(60);
    let frames = encode_frames(&seg, MAX_SEGMENT).unwrap();
    assert!(frames.len() >= 3, "{} frames", frames.len());
    let mut packets = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let (text, _) = decode_frame(f.as_bytes(), MAX_SEGMENT).unwrap();
        assert!(text.len() <= MAX_SEGMENT);
        let p = Segment::decode(text).unwrap();
        assert_eq!(p.packet, Some((frames.len() as u16, i as u16 + 1)));
        assert!(p.flag.unwrap().packet(), "D bit set");
        assert_eq!(p.cp.get("DataTime"), Some("20240101120000"), "each packet reads alone");
        packets.push(p);
    }
    packets.reverse();
    assert_eq!(reassemble(&packets), Some(seg));
    packets.pop();
    assert_eq!(reassemble(&packets), None, "a missing packet");
}

#[test]
fn splits_a_long_group_between_fields() {
    let mut seg = big_segment(0);
    seg.cp.groups.push((0..120).map(|i| Field::new(alloc::format!("a{i:05}-Rtd"), "1.5")).collect());
    let parts = split(&seg, 300).unwrap();
    assert!(parts.len() > 1);
    for p in &parts {
        let mut t = String::new();
        p.encode(&mut t).unwrap();
        assert!(t.len() <= 300, "{}", t.len());
    }
    let fields: usize = parts.iter().map(|p| p.cp.groups.iter().skip(1).flatten().count()).sum();
    assert_eq!(fields, 120);
    seg.cp.groups.push(vec![Field::new("long", "x".repeat(400))]);
    assert!(matches!(split(&seg, 300), Err(Hj212Error::Unsplittable { .. })));
}

#[test]
fn stream_decoder_resyncs_after_noise_and_a_bad_frame() {
    let mut d = FrameDecoder::new(MAX_SEGMENT);
    let mut bad = STANDARD.as_bytes().to_vec();
    bad[10] = b'X';
    d.push(b"noise#");
    assert!(d.next_segment().is_none());
    d.push(&bad);
    d.push(&STANDARD.as_bytes()[..40]);
    assert!(matches!(d.next_segment(), Some(Err(Hj212Error::CrcMismatch { .. }))));
    assert!(d.next_segment().is_none(), "second frame incomplete");
    d.push(&STANDARD.as_bytes()[40..]);
    assert!(d.next_segment().unwrap().unwrap().contains("RtdInterval=30"));
    assert!(d.next_segment().is_none());
}

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
