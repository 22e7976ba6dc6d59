//! OPC UA values to samples: variants to [`Value`]s (an array element by its index), status codes to
//! quality, and OPC UA time (100 ns ticks since 1601) to [`Timestamp`]s.

use opcua::types::{DataValue, DateTime, StatusCode, Variant};
use protocols::{Quality, Reason, TextPool, Timestamp, Value};

use super::config::Stamp;

/// 100 ns ticks from 1601-01-01 to the Unix epoch.
const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;

pub fn timestamp(t: &DateTime) -> Option<Timestamp> {
    if t.is_null() {
        return None;
    }
    t.ticks().checked_sub(UNIX_EPOCH_TICKS)?.checked_mul(100).map(Timestamp)
}

/// The sample's time: the one the device asked for, falling back as OPC UA allows servers to omit them.
pub fn stamp_of(dv: &DataValue, which: Stamp, arrival: Timestamp) -> Timestamp {
    let source = dv.source_timestamp.as_ref().and_then(timestamp);
    let server = dv.server_timestamp.as_ref().and_then(timestamp);
    match which {
        Stamp::Source => source.or(server).unwrap_or(arrival),
        Stamp::Server => server.unwrap_or(arrival),
        Stamp::Agent => arrival,
    }
}

/// The status code's name, as logged and shown in /healthz: `BadNodeIdUnknown`.
pub fn status_name(s: StatusCode) -> &'static str {
    s.sub_code().name()
}

/// OPC UA's three classes onto the sample's; the reason keeps what the agent's reasons can say, and
/// the code's sub-code byte otherwise (its name goes to the device's last error).
pub fn quality(s: StatusCode) -> Quality {
    if s.is_good() {
        return match status_name(s) {
            "GoodLocalOverride" => Quality::Uncertain(Reason::Substituted),
            _ => Quality::Good,
        };
    }
    let name = status_name(s);
    let reason = match name {
        "BadCommunicationError"
        | "BadConnectionClosed"
        | "BadServerNotConnected"
        | "BadNoCommunication"
        | "BadSecureChannelClosed"
        | "BadSessionClosed"
        | "BadNotConnected" => Reason::CommsLost,
        "BadTimeout" | "BadRequestTimeout" => Reason::Timeout,
        "BadSensorFailure" | "BadDeviceFailure" | "UncertainSensorNotAccurate" => Reason::SensorFault,
        "BadOutOfRange" | "UncertainEngineeringUnitsExceeded" => Reason::OutOfRange,
        "BadWaitingForInitialData" | "UncertainLastUsableValue" | "BadLastKnownValue" => Reason::Stale,
        "UncertainSubstituteValue" | "UncertainInitialValue" => Reason::Substituted,
        "BadTypeMismatch" | "BadDecodingError" | "BadEncodingError" | "BadDataEncodingInvalid" => {
            Reason::DecodeError
        }
        _ => Reason::Exception((s.bits() >> 16) as u8),
    };
    if s.is_uncertain() { Quality::Uncertain(reason) } else { Quality::Bad(reason) }
}

/// Why a variant cannot be a sample, naming its type: the config must point elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    Unsupported(String),
    NoIndex { len: usize },
    IndexPast { index: u32, len: usize },
    NotArray { index: u32, kind: String },
    Empty,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unsupported(t) => {
                write!(f, "data type {t} is not supported: point the tag at a numeric, boolean or text node")
            }
            Refusal::NoIndex { len } => write!(
                f,
                "the node holds an array of {len}: give the tag `index = 0..{}`",
                len.saturating_sub(1)
            ),
            Refusal::IndexPast { index, len } => {
                write!(f, "index {index} is past the array's {len} elements")
            }
            Refusal::NotArray { index, kind } => {
                write!(f, "index {index} given, but the node holds a scalar {kind}")
            }
            Refusal::Empty => write!(f, "the server sent no value"),
        }
    }
}

pub fn value(v: &Variant, index: Option<u32>, texts: &TextPool) -> Result<Value, Refusal> {
    match (v, index) {
        (Variant::Array(a), Some(i)) => {
            let len = a.values.len();
            let e = a.values.get(i as usize).ok_or(Refusal::IndexPast { index: i, len })?;
            scalar(e, texts)
        }
        (Variant::Array(a), None) => Err(Refusal::NoIndex { len: a.values.len() }),
        (Variant::Empty, _) => Err(Refusal::Empty),
        (other, Some(i)) => Err(Refusal::NotArray { index: i, kind: type_name(other).into() }),
        (other, None) => scalar(other, texts),
    }
}

fn scalar(v: &Variant, texts: &TextPool) -> Result<Value, Refusal> {
    Ok(match v {
        Variant::Boolean(b) => Value::Bool(*b),
        Variant::SByte(x) => Value::Int(i64::from(*x)),
        Variant::Int16(x) => Value::Int(i64::from(*x)),
        Variant::Int32(x) => Value::Int(i64::from(*x)),
        Variant::Int64(x) => Value::Int(*x),
        Variant::Byte(x) => Value::UInt(u64::from(*x)),
        Variant::UInt16(x) => Value::UInt(u64::from(*x)),
        Variant::UInt32(x) => Value::UInt(u64::from(*x)),
        Variant::UInt64(x) => Value::UInt(*x),
        Variant::Float(x) => Value::Float(f64::from(*x)),
        Variant::Double(x) => Value::Float(*x),
        Variant::String(s) => Value::Text(texts.intern(s.as_ref())),
        Variant::LocalizedText(t) => Value::Text(texts.intern(t.text.as_ref())),
        Variant::DateTime(t) => Value::Int(timestamp(t).map_or(0, |t| t.0)),
        Variant::StatusCode(s) => Value::UInt(u64::from(s.bits())),
        other => return Err(Refusal::Unsupported(type_name(other).into())),
    })
}

pub fn type_name(v: &Variant) -> &'static str {
    match v {
        Variant::Empty => "Null",
        Variant::Boolean(_) => "Boolean",
        Variant::SByte(_) => "SByte",
        Variant::Byte(_) => "Byte",
        Variant::Int16(_) => "Int16",
        Variant::UInt16(_) => "UInt16",
        Variant::Int32(_) => "Int32",
        Variant::UInt32(_) => "UInt32",
        Variant::Int64(_) => "Int64",
        Variant::UInt64(_) => "UInt64",
        Variant::Float(_) => "Float",
        Variant::Double(_) => "Double",
        Variant::String(_) => "String",
        Variant::DateTime(_) => "DateTime",
        Variant::Guid(_) => "Guid",
        Variant::StatusCode(_) => "StatusCode",
        Variant::ByteString(_) => "ByteString",
        Variant::XmlElement(_) => "XmlElement",
        Variant::QualifiedName(_) => "QualifiedName",
        Variant::LocalizedText(_) => "LocalizedText",
        Variant::NodeId(_) => "NodeId",
        Variant::ExpandedNodeId(_) => "ExpandedNodeId",
        Variant::ExtensionObject(_) => "ExtensionObject (a structure)",
        Variant::Variant(_) => "Variant",
        Variant::DataValue(_) => "DataValue",
        Variant::DiagnosticInfo(_) => "DiagnosticInfo",
        Variant::Array(_) => "Array",
    }
}

/// A number to write, in the variant type the node holds (OPC UA servers refuse a Double for an
/// Int16 node with BadTypeMismatch); `None` when it does not fit that type.
pub fn to_variant(value: f64, like: &Variant) -> Option<Variant> {
    let int = |lo: f64, hi: f64| (value.fract() == 0.0 && value >= lo && value <= hi).then_some(value);
    Some(match like {
        Variant::Boolean(_) => Variant::Boolean(value != 0.0),
        Variant::SByte(_) => Variant::SByte(int(-128.0, 127.0)? as i8),
        Variant::Byte(_) => Variant::Byte(int(0.0, 255.0)? as u8),
        Variant::Int16(_) => Variant::Int16(int(-32768.0, 32767.0)? as i16),
        Variant::UInt16(_) => Variant::UInt16(int(0.0, 65535.0)? as u16),
        Variant::Int32(_) => Variant::Int32(int(-2147483648.0, 2147483647.0)? as i32),
        Variant::UInt32(_) => Variant::UInt32(int(0.0, 4294967295.0)? as u32),
        Variant::Int64(_) => Variant::Int64(int(-9.2e18, 9.2e18)? as i64),
        Variant::UInt64(_) => Variant::UInt64(int(0.0, 1.8e19)? as u64),
        Variant::Float(_) => Variant::Float(value as f32),
        Variant::Double(_) => Variant::Double(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opcua::types::StatusCode;

    #[test]
    fn status_codes_map_to_classes_with_their_names() {
        let table = [
            (StatusCode::Good, Quality::Good, "Good"),
            (StatusCode::BadNodeIdUnknown, Quality::Bad(Reason::Exception(0x34)), "BadNodeIdUnknown"),
            (StatusCode::BadCommunicationError, Quality::Bad(Reason::CommsLost), "BadCommunicationError"),
            (StatusCode::BadTimeout, Quality::Bad(Reason::Timeout), "BadTimeout"),
            (StatusCode::BadSensorFailure, Quality::Bad(Reason::SensorFault), "BadSensorFailure"),
            (
                StatusCode::UncertainLastUsableValue,
                Quality::Uncertain(Reason::Stale),
                "UncertainLastUsableValue",
            ),
            (
                StatusCode::UncertainSubstituteValue,
                Quality::Uncertain(Reason::Substituted),
                "UncertainSubstituteValue",
            ),
            (StatusCode::BadOutOfRange, Quality::Bad(Reason::OutOfRange), "BadOutOfRange"),
        ];
        for (code, q, name) in table {
            assert_eq!(quality(code), q, "{name}");
            assert_eq!(status_name(code), name);
        }
    }

    #[test]
    fn variants_become_values_and_arrays_need_an_index() {
        let texts = TextPool::new();
        assert_eq!(value(&Variant::Int16(-7), None, &texts), Ok(Value::Int(-7)));
        assert_eq!(value(&Variant::UInt32(7), None, &texts), Ok(Value::UInt(7)));
        assert_eq!(value(&Variant::Double(81.5), None, &texts), Ok(Value::Float(81.5)));
        assert_eq!(value(&Variant::Boolean(true), None, &texts), Ok(Value::Bool(true)));
        let Ok(Value::Text(id)) = value(&Variant::from("运行中"), None, &texts) else { panic!("text") };
        assert_eq!(&*texts.get(id).unwrap(), "运行中");
        let arr = Variant::from(vec![1.5f64, 2.5, 3.5]);
        assert_eq!(value(&arr, Some(2), &texts), Ok(Value::Float(3.5)));
        assert_eq!(value(&arr, Some(3), &texts), Err(Refusal::IndexPast { index: 3, len: 3 }));
        assert_eq!(value(&arr, None, &texts), Err(Refusal::NoIndex { len: 3 }));
        assert!(matches!(value(&Variant::Double(1.0), Some(0), &texts), Err(Refusal::NotArray { .. })));
        let guid = Variant::Guid(Box::default());
        assert_eq!(value(&guid, None, &texts), Err(Refusal::Unsupported("Guid".into())));
        assert!(Refusal::Unsupported("Guid".into()).to_string().contains("data type Guid"));
    }

    #[test]
    fn writes_take_the_node_type_and_refuse_what_does_not_fit() {
        assert_eq!(to_variant(40.0, &Variant::Int16(0)), Some(Variant::Int16(40)));
        assert_eq!(to_variant(40.5, &Variant::Int16(0)), None);
        assert_eq!(to_variant(70000.0, &Variant::UInt16(0)), None);
        assert_eq!(to_variant(40.5, &Variant::Double(0.0)), Some(Variant::Double(40.5)));
        assert_eq!(to_variant(1.0, &Variant::Boolean(false)), Some(Variant::Boolean(true)));
        assert_eq!(to_variant(1.0, &Variant::from("x")), None);
    }

    #[test]
    fn opc_time_is_ticks_since_1601() {
        let t = DateTime::ymd_hms(2024, 1, 1, 0, 0, 0);
        assert_eq!(timestamp(&t), Some(Timestamp::from_secs(1_704_067_200)));
        assert_eq!(timestamp(&DateTime::null()), None);
    }

    use proptest::prelude::*;

    fn any_scalar() -> impl Strategy<Value = Variant> {
        prop_oneof![
            any::<bool>().prop_map(Variant::Boolean),
            any::<i8>().prop_map(Variant::SByte),
            any::<i16>().prop_map(Variant::Int16),
            any::<i32>().prop_map(Variant::Int32),
            any::<i64>().prop_map(Variant::Int64),
            any::<u8>().prop_map(Variant::Byte),
            any::<u32>().prop_map(Variant::UInt32),
            any::<u64>().prop_map(Variant::UInt64),
            any::<f32>().prop_map(Variant::Float),
            any::<f64>().prop_map(Variant::Double),
            "\\PC{0,20}".prop_map(|t| Variant::from(t.as_str())),
            (-100_000_000_000_000_000i64..9_000_000_000_000_000_000)
                .prop_map(|t| Variant::DateTime(Box::new(DateTime::from(t)))),
            any::<u32>().prop_map(|b| Variant::StatusCode(StatusCode::from(b))),
            Just(Variant::Guid(Box::default())),
            Just(Variant::Empty),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(protocols::testkit::cases()))]
        /// Whatever a server sends for a node, scalar or array, with or without an index: a value, or a
        /// refusal that names the type or the index. Never a panic.
        #[test]
        fn any_variant_is_a_value_or_a_named_refusal(
            elements in prop::collection::vec(any_scalar(), 0..6),
            array in any::<bool>(),
            index in proptest::option::of(0u32..8),
        ) {
            let texts = TextPool::new();
            // Elements of mixed types, as a misbehaving server could send them.
            let v = if array {
                Variant::Array(Box::new(opcua::types::Array {
                    value_type: opcua::types::VariantScalarTypeId::Double,
                    values: elements.clone(),
                    dimensions: None,
                }))
            } else {
                elements.first().cloned().unwrap_or(Variant::Empty)
            };
            match value(&v, index, &texts) {
                Ok(Value::Float(f)) => {
                    let scalar = if array { &elements[index.unwrap() as usize] } else { &v };
                    let same = match scalar {
                        Variant::Double(d) => d.to_bits() == f.to_bits(),
                        Variant::Float(x) => f64::from(*x).to_bits() == f.to_bits(),
                        _ => false,
                    };
                    prop_assert!(same, "{:?} read as {}", scalar, f);
                }
                Ok(_) => {}
                Err(r) => prop_assert!(!r.to_string().is_empty()),
            }
        }

        /// Any status code a server sends maps to a quality and a name; good codes never map to Bad.
        #[test]
        fn any_status_code_has_a_quality_and_a_name(bits in any::<u32>(), ticks in any::<i64>()) {
            let code = StatusCode::from(bits);
            let q = quality(code);
            prop_assert!(!status_name(code).is_empty());
            if code.is_good() {
                prop_assert!(!matches!(q, Quality::Bad(_)));
            }
            if code.is_bad() {
                prop_assert!(matches!(q, Quality::Bad(_)));
            }
            let _ = timestamp(&DateTime::from(ticks.clamp(-100_000_000_000_000_000, 9_000_000_000_000_000_000)));
        }
    }
}
