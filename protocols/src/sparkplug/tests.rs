use super::*;

#[test]
fn topics_of_the_namespace_and_what_is_not_one() {
    let node = |kind, device| Some(Topic::Node { group: "华东一厂", kind, node: "三号网关", device });
    let table = [
        ("spBv1.0/华东一厂/NBIRTH/三号网关", node(MessageType::NBirth, None)),
        ("spBv1.0/华东一厂/DDATA/三号网关/锅炉一号", node(MessageType::DData, Some("锅炉一号"))),
        ("spBv1.0/华东一厂/NCMD/三号网关", node(MessageType::NCmd, None)),
        ("spBv1.0/STATE/scada-1", Some(Topic::State { host: "scada-1" })),
        // A device message needs its device; a node message may not have one.
        ("spBv1.0/华东一厂/DDATA/三号网关", None),
        ("spBv1.0/华东一厂/NDATA/三号网关/锅炉一号", None),
        ("spBv1.0/华东一厂/NDATA/三号网关/锅炉一号/x", None),
        ("spBv1.0/华东一厂/XDATA/三号网关", None),
        ("spAv1.0/华东一厂/NDATA/三号网关", None),
        ("spBv1.0//NDATA/三号网关", None),
        ("spBv1.0/STATE", None),
        ("spBv1.0/STATE/a/b", None),
        ("", None),
    ];
    for (text, want) in table {
        assert_eq!(Topic::parse(text), want, "{text}");
        if let Some(t) = want {
            assert_eq!(t.to_topic(), text);
        }
    }
}

#[test]
fn narrow_signed_integers_read_back_from_either_encoding() {
    let metric = |t: DataType, raw: u32| Metric {
        datatype: Some(t.code()),
        value: Some(MetricValue::IntValue(raw)),
        ..Default::default()
    };
    // -1 as Int8: sign-extended to 32 bits (Tahu Java) or cut to 8 bits; both mean -1.
    for (t, raw, want) in [
        (DataType::Int8, 0xFFFF_FFFF, -1),
        (DataType::Int8, 0xFF, -1),
        (DataType::Int16, 0xFFFF_8000, -32768),
        (DataType::Int16, 0x8000, -32768),
        (DataType::Int32, 0xFFFF_FFFE, -2),
        (DataType::Int8, 0x7F, 127),
    ] {
        assert_eq!(Reading::of(&metric(t, raw), None), Ok(Reading::Int(want)), "{t:?} {raw:#x}");
    }
    assert_eq!(Reading::of(&metric(DataType::UInt16, 65535), None), Ok(Reading::UInt(65535)));
}

#[test]
fn a_value_that_does_not_fit_its_datatype_or_has_none_is_an_error() {
    let mut m = Metric { datatype: Some(DataType::Int32.code()), ..Default::default() };
    m.value = Some(MetricValue::StringValue("高".into()));
    assert_eq!(Reading::of(&m, None), Err(ValueError::Mismatch(DataType::Int32)));
    m.value = None;
    assert_eq!(Reading::of(&m, None), Err(ValueError::Mismatch(DataType::Int32)));
    m.datatype = Some(16);
    assert_eq!(Reading::of(&m, None), Err(ValueError::Unsupported(16)));
    m.datatype = None;
    assert_eq!(Reading::of(&m, None), Err(ValueError::NoDataType));
    // A DDATA by alias carries no datatype: the birth's is used.
    m.value = Some(MetricValue::DoubleValue(1.5));
    assert_eq!(Reading::of(&m, Some(DataType::Double)), Ok(Reading::Float(1.5)));
}

#[test]
fn readings_round_trip_through_a_payload_with_their_quality() {
    let readings = [
        Reading::Bool(true),
        Reading::Int(-7),
        Reading::Int(i64::MIN),
        Reading::UInt(u64::MAX),
        Reading::Float(231.5),
        Reading::Text("运行".into()),
        Reading::Null,
    ];
    let metrics = readings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut m = Metric {
                name: Some(format!("锅炉一号.点{i}")),
                alias: Some(i as u64),
                timestamp: Some(1_700_000_000_000 + i as u64),
                datatype: Some(r.datatype().code()),
                properties: Some(quality_property(if *r == Reading::Null {
                    QUALITY_BAD
                } else {
                    QUALITY_GOOD
                })),
                ..Default::default()
            };
            r.put(&mut m);
            m
        })
        .collect();
    let bytes = encode(&Payload { timestamp: Some(1), metrics, seq: Some(255), ..Default::default() });
    let back = decode(&bytes).unwrap();
    assert_eq!(back.seq, Some(255));
    for (m, want) in back.metrics.iter().zip(&readings) {
        assert_eq!(&Reading::of(m, None).unwrap(), want);
        let q = if *want == Reading::Null { QUALITY_BAD } else { QUALITY_GOOD };
        assert_eq!(quality_of(m), Some(q));
    }
}

#[test]
fn seq_counts_from_zero_and_wraps_after_255() {
    let mut s = Seq::start();
    let got: Vec<u64> = (0..258).map(|_| s.take()).collect();
    assert_eq!(&got[..3], &[0, 1, 2]);
    assert_eq!(&got[254..], &[254, 255, 0, 1]);
}
