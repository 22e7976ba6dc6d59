//! Frames, segments and splitting: the standard's own packet and named errors. Any input without a
//! panic: `fuzz.rs`.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;

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
