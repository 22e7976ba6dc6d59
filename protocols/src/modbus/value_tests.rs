//! Types × byte orders against known byte patterns, range checks, and round-trip properties.

use proptest::prelude::*;

use super::order::ByteOrder::{self, Abcd, Badc, Cdab, Dcba};
use super::value::{DataType, TagCodec, ValueError};
use crate::Value;

fn codec(ty: DataType, order: ByteOrder) -> TagCodec {
    TagCodec::new(ty, order).unwrap()
}

/// Wire registers of a big-endian byte string in `order`, built from bytes so the table stays literal.
fn wire(be: &[u8], order: ByteOrder) -> [u16; 4] {
    let mut regs = [0u16; 4];
    let n = be.len() / 2;
    for i in 0..n {
        let (hi, lo) = (be[2 * i], be[2 * i + 1]);
        let word =
            if order.bytes_swapped() { u16::from_be_bytes([lo, hi]) } else { u16::from_be_bytes([hi, lo]) };
        let slot = if order.words_swapped() { n - 1 - i } else { i };
        regs[slot] = word;
    }
    regs
}

#[test]
fn f32_123_456_in_all_four_orders() {
    // 123.456f32 = 0x42F6E979.
    let table = [
        (Abcd, [0x42F6, 0xE979]),
        (Cdab, [0xE979, 0x42F6]),
        (Badc, [0xF642, 0x79E9]),
        (Dcba, [0x79E9, 0xF642]),
    ];
    for (order, regs) in table {
        let c = codec(DataType::F32, order);
        assert_eq!(c.decode(&regs), Ok(Value::Float(123.456f32.into())), "{order}");
        let mut out = [0u16; 2];
        assert_eq!(c.encode(Value::Float(123.456f32.into()), &mut out), Ok(2));
        assert_eq!(out, regs, "{order}");
    }
}

#[test]
fn every_type_in_every_order_against_known_bytes() {
    let table: [(DataType, &[u8], Value); 10] = [
        (DataType::U16, &[0xCF, 0xC7], Value::UInt(0xCFC7)),
        (DataType::I16, &[0xCF, 0xC7], Value::Int(-12345)),
        (DataType::U32, &[0x12, 0x34, 0x56, 0x78], Value::UInt(0x1234_5678)),
        (DataType::I32, &[0xF8, 0xA4, 0x32, 0xEB], Value::Int(-123_456_789)),
        (DataType::F32, &[0xBF, 0xC0, 0x00, 0x00], Value::Float(-1.5)),
        (
            DataType::U64,
            &[0x11, 0x22, 0x10, 0xF4, 0x7D, 0xE9, 0x81, 0x15],
            Value::UInt(1_234_567_890_123_456_789),
        ),
        (
            DataType::I64,
            &[0xEE, 0xDD, 0xEF, 0x0B, 0x82, 0x16, 0x7E, 0xEB],
            Value::Int(-1_234_567_890_123_456_789),
        ),
        (DataType::F64, &[0x40, 0x5E, 0xDD, 0x2F, 0x1A, 0x9F, 0xBE, 0x77], Value::Float(123.456)),
        (DataType::F64, &[0xBF, 0x50, 0x62, 0x4D, 0xD2, 0xF1, 0xA9, 0xFC], Value::Float(-0.001)),
        (DataType::Bit(15), &[0x80, 0x00], Value::Bool(true)),
    ];
    for (ty, be, value) in table {
        for order in ByteOrder::ALL {
            let regs = wire(be, order);
            let n = usize::from(ty.registers());
            let c = codec(ty, order);
            assert_eq!(c.decode(&regs[..n]), Ok(value), "decode {} {order}", ty.name());
            let mut out = [0u16; 4];
            assert_eq!(c.encode(value, &mut out), Ok(n), "encode {} {order}", ty.name());
            assert_eq!(out[..n], regs[..n], "encode {} {order}", ty.name());
        }
    }
}

#[test]
fn bits_and_bools() {
    let c = codec(DataType::Bit(3), Abcd);
    assert_eq!(c.decode(&[0x0008]), Ok(Value::Bool(true)));
    assert_eq!(c.decode(&[0xFFF7]), Ok(Value::Bool(false)));
    // Byte-swapped device: bit 3 of the value sits in the wire's high byte.
    assert_eq!(codec(DataType::Bit(3), Badc).decode(&[0x0800]), Ok(Value::Bool(true)));
    // Read-modify-write keeps the other bits.
    let mut reg = [0xF0F0];
    assert_eq!(c.encode(Value::Bool(true), &mut reg), Ok(1));
    assert_eq!(reg, [0xF0F8]);
    assert_eq!(codec(DataType::Bit(4), Abcd).encode(Value::Int(0), &mut reg), Ok(1));
    assert_eq!(reg, [0xF0E8]);
    let b = codec(DataType::Bool, Abcd);
    assert_eq!(b.decode(&[1]), Ok(Value::Bool(true)));
    assert_eq!(b.decode(&[0]), Ok(Value::Bool(false)));
    assert!(matches!(b.encode(Value::Float(2.0), &mut reg), Err(ValueError::OutOfRange { .. })));
    assert_eq!(TagCodec::new(DataType::Bit(16), Abcd), Err(ValueError::BadCodec));
}

#[test]
fn scaling_turns_integers_into_floats_and_back() {
    let kwh = codec(DataType::U32, Abcd).with_linear(0.01, 0.0).unwrap();
    assert_eq!(kwh.decode(&[0x0001, 0x0000]), Ok(Value::Float(655.36)));
    let mut out = [0u16; 2];
    assert_eq!(kwh.encode(Value::Float(655.36), &mut out), Ok(2));
    assert_eq!(out, [0x0001, 0x0000]);
    // 4..20 mA card: raw 0..=27648 is -50..150 degC.
    let temp = codec(DataType::I16, Abcd).with_linear(200.0 / 27648.0, -50.0).unwrap();
    assert_eq!(temp.decode(&[0]), Ok(Value::Float(-50.0)));
    let mut reg = [0u16];
    temp.encode(Value::Float(150.0), &mut reg).unwrap();
    assert_eq!(reg, [27648]);
    assert_eq!(codec(DataType::U16, Abcd).with_linear(0.0, 1.0), Err(ValueError::BadCodec));
    assert_eq!(codec(DataType::U16, Abcd).with_linear(1.0, f64::NAN), Err(ValueError::BadCodec));
}

#[test]
fn writes_that_do_not_fit_are_refused_not_wrapped() {
    let mut out = [0u16; 4];
    let cases: [(DataType, f64, Value); 9] = [
        (DataType::U16, 1.0, Value::Int(65536)),
        (DataType::U16, 1.0, Value::Int(-1)),
        (DataType::I16, 1.0, Value::Int(32768)),
        (DataType::I16, 1.0, Value::UInt(40000)),
        (DataType::U32, 1.0, Value::Float(4_294_967_296.0)),
        (DataType::I64, 1.0, Value::UInt(u64::MAX)),
        (DataType::U64, 1.0, Value::Int(-5)),
        (DataType::F32, 1.0, Value::Float(1e39)),
        (DataType::U16, 0.1, Value::Float(6553.6)),
    ];
    for (ty, scale, value) in cases {
        let c = codec(ty, Abcd).with_linear(scale, 0.0).unwrap();
        assert!(
            matches!(c.encode(value, &mut out), Err(ValueError::OutOfRange { .. })),
            "{} {value:?}",
            ty.name()
        );
    }
    let u16c = codec(DataType::U16, Abcd);
    assert_eq!(u16c.encode(Value::Float(1.5), &mut out), Err(ValueError::NotInteger { raw: 1.5 }));
    assert_eq!(u16c.encode(Value::Float(f64::NAN), &mut out), Err(ValueError::NotFinite));
    assert_eq!(u16c.encode(Value::Int(1), &mut []), Err(ValueError::Short { need: 1, got: 0 }));
    assert_eq!(u16c.decode(&[]), Err(ValueError::Short { need: 1, got: 0 }));
    assert_eq!(codec(DataType::F64, Abcd).decode(&[1, 2, 3]), Err(ValueError::Short { need: 4, got: 3 }));
    // Edges that do fit.
    assert_eq!(codec(DataType::I16, Abcd).encode(Value::Int(-32768), &mut out), Ok(1));
    assert_eq!(out[0], 0x8000);
    assert_eq!(codec(DataType::U64, Abcd).encode(Value::UInt(u64::MAX), &mut out), Ok(4));
    assert_eq!(out, [0xFFFF; 4]);
}

#[test]
fn text_is_trimmed_and_byte_order_swaps_characters() {
    let mut buf = [0u8; 16];
    let c = codec(DataType::Text(4), Abcd);
    // "PM5560  " with trailing spaces, then a NUL-terminated one.
    assert_eq!(c.decode_text(&[0x504D, 0x3535, 0x3630, 0x2020], &mut buf), Ok("PM5560"));
    assert_eq!(c.decode_text(&[0x4142, 0x4300, 0x5858, 0x5858], &mut buf), Ok("ABC"));
    let swapped = codec(DataType::Text(2), Badc);
    assert_eq!(swapped.decode_text(&[0x4241, 0x4443], &mut buf), Ok("ABCD"));
    assert_eq!(c.decode_text(&[0x41FF, 0, 0, 0], &mut buf), Err(ValueError::BadText { max_chars: 8 }));
    assert_eq!(c.decode(&[0; 4]), Err(ValueError::WrongKind { ty: DataType::Text(4) }));
    let mut regs = [0u16; 4];
    assert_eq!(c.encode_text("AB1", &mut regs), Ok(4));
    assert_eq!(regs, [0x4142, 0x3100, 0, 0]);
    assert_eq!(c.encode_text("too long text", &mut regs), Err(ValueError::BadText { max_chars: 8 }));
    assert_eq!(TagCodec::new(DataType::Text(0), Abcd), Err(ValueError::BadCodec));
}

#[test]
fn type_names_parse() {
    assert_eq!("F32".parse::<DataType>(), Ok(DataType::F32));
    assert_eq!("i64".parse::<DataType>(), Ok(DataType::I64));
    assert!("float".parse::<DataType>().is_err());
}

fn numeric_type() -> impl Strategy<Value = DataType> {
    prop_oneof![
        Just(DataType::U16),
        Just(DataType::I16),
        Just(DataType::U32),
        Just(DataType::I32),
        Just(DataType::U64),
        Just(DataType::I64),
        Just(DataType::F32),
        Just(DataType::F64),
        (0u8..16).prop_map(DataType::Bit),
        Just(DataType::Bool),
    ]
}

fn order() -> impl Strategy<Value = ByteOrder> {
    prop::sample::select(ByteOrder::ALL.to_vec())
}

proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::testkit::cases()))]
    /// Any registers an unscaled numeric tag reads write back to the same registers (NaNs aside).
    #[test]
    fn unscaled_registers_round_trip(ty in numeric_type(), order in order(), regs in any::<[u16; 4]>()) {
        let c = codec(ty, order);
        let n = usize::from(ty.registers());
        let value = c.decode(&regs).unwrap();
        prop_assume!(!matches!(value, Value::Float(f) if f.is_nan()));
        let mut out = regs;
        if !matches!(ty, DataType::Bit(_)) {
            out = [0; 4];
        }
        prop_assert_eq!(c.encode(value, &mut out), Ok(n));
        match ty {
            // Bool and Bit keep only what they mean: truth, or one bit of an unchanged register.
            DataType::Bool => prop_assert_eq!(out[0] != 0, regs[0] != 0),
            _ => prop_assert_eq!(&out[..n], &regs[..n]),
        }
    }

    /// Scaled integers: writing a decoded value gives back the same raw register.
    #[test]
    fn scaled_u16_round_trip(raw in any::<u16>(), scale in 0.001f64..100.0, offset in -1000f64..1000.0) {
        let c = codec(DataType::U16, Abcd).with_linear(scale, offset).unwrap();
        let value = c.decode(&[raw]).unwrap();
        let mut out = [0u16];
        prop_assert_eq!(c.encode(value, &mut out), Ok(1));
        prop_assert_eq!(out[0], raw);
    }

    #[test]
    fn text_round_trips(text in "[ -~]{0,8}", order in order()) {
        let c = codec(DataType::Text(4), order);
        let mut regs = [0u16; 4];
        prop_assert_eq!(c.encode_text(&text, &mut regs), Ok(4));
        let mut buf = [0u8; 8];
        prop_assert_eq!(c.decode_text(&regs, &mut buf), Ok(text.trim_end_matches(' ')));
    }

    /// No value and no register content makes the codec panic.
    #[test]
    fn codec_never_panics(
        ty in numeric_type(), order in order(), regs in prop::collection::vec(any::<u16>(), 0..5),
        x in any::<f64>(), i in any::<i64>(), scale in any::<f64>(), offset in any::<f64>(),
    ) {
        let c = TagCodec::new(ty, order).unwrap();
        let c = c.with_linear(scale, offset).unwrap_or(c);
        let _ = c.decode(&regs);
        let mut out = regs.clone();
        let _ = c.encode(Value::Float(x), &mut out);
        let _ = c.encode(Value::Int(i), &mut out);
        let _ = c.encode(Value::UInt(i as u64), &mut out);
        let t = TagCodec::new(DataType::Text(2), order).unwrap();
        let mut buf = [0u8; 4];
        let _ = t.decode_text(&regs, &mut buf);
    }
}
