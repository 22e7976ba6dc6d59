//! Sparkplug B (Eclipse Sparkplug 3.0) sans-IO: the topic namespace, the payload codec and the mapping
//! between Sparkplug metric values and plain readings. No I/O, no clock: callers pass timestamps in.
//!
//! - [`proto`]: the protobuf messages, with the specification's field numbers.
//! - here: [`Topic`], [`DataType`], [`Reading`], [`encode`] and [`decode`], sequence numbers.

#[cfg(test)]
mod fuzz;
pub mod proto;
#[cfg(test)]
mod tests;

use prost::Message as _;

pub use proto::{Metric, MetricValue, Payload, PropertySet, PropertyValue, PropertyValueKind};

/// The first topic level of every Sparkplug B message (ch. 4, topic namespace).
pub const NAMESPACE: &str = "spBv1.0";
/// The NBIRTH/NDEATH metric that pairs a birth with its death certificate (ch. 5, edge node session).
pub const BD_SEQ: &str = "bdSeq";
/// The node control metric a host sets to `true` in an NCMD to ask for new births (ch. 5, rebirth).
pub const REBIRTH: &str = "Node Control/Rebirth";
/// The metric property carrying an OPC-style quality code, as Ignition and other hosts read it.
pub const QUALITY: &str = "Quality";
/// OPC DA quality codes carried in [`QUALITY`]: good, uncertain, bad.
pub const QUALITY_GOOD: i32 = 192;
pub const QUALITY_UNCERTAIN: i32 = 64;
pub const QUALITY_BAD: i32 = 0;

/// The message types of ch. 4 that carry a Sparkplug B payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    NBirth,
    NDeath,
    DBirth,
    DDeath,
    NData,
    DData,
    NCmd,
    DCmd,
}

impl MessageType {
    pub const ALL: [MessageType; 8] = [
        MessageType::NBirth,
        MessageType::NDeath,
        MessageType::DBirth,
        MessageType::DDeath,
        MessageType::NData,
        MessageType::DData,
        MessageType::NCmd,
        MessageType::DCmd,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::NBirth => "NBIRTH",
            MessageType::NDeath => "NDEATH",
            MessageType::DBirth => "DBIRTH",
            MessageType::DDeath => "DDEATH",
            MessageType::NData => "NDATA",
            MessageType::DData => "DDATA",
            MessageType::NCmd => "NCMD",
            MessageType::DCmd => "DCMD",
        }
    }

    /// Device messages carry a device id as the topic's fifth level; node messages do not.
    pub fn is_device(self) -> bool {
        matches!(self, MessageType::DBirth | MessageType::DDeath | MessageType::DData | MessageType::DCmd)
    }

    fn parse(s: &str) -> Option<Self> {
        MessageType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A topic of the Sparkplug B namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic<'a> {
    /// `spBv1.0/<group>/<type>/<edge node>[/<device>]`.
    Node { group: &'a str, kind: MessageType, node: &'a str, device: Option<&'a str> },
    /// `spBv1.0/STATE/<host id>`: a host application's online state (3.0; JSON payload).
    State { host: &'a str },
}

/// Whether `id` may stand as one topic level: not empty, and none of MQTT's `/`, `+`, `#`
/// (ch. 4: group, edge node and device ids are UTF-8 strings without those characters).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(['/', '+', '#'])
}

impl<'a> Topic<'a> {
    /// The topic's parts, or `None` when it is not in the namespace (wrong level count, unknown type,
    /// a device id on a node message or none on a device message).
    pub fn parse(topic: &'a str) -> Option<Topic<'a>> {
        let mut levels = topic.split('/');
        if levels.next()? != NAMESPACE {
            return None;
        }
        let group = levels.next()?;
        let second = levels.next()?;
        if group == "STATE" {
            return (levels.next().is_none() && valid_id(second)).then_some(Topic::State { host: second });
        }
        let kind = MessageType::parse(second)?;
        let node = levels.next()?;
        let device = levels.next();
        if levels.next().is_some()
            || !valid_id(group)
            || !valid_id(node)
            || device.is_some_and(|d| !valid_id(d))
            || kind.is_device() != device.is_some()
        {
            return None;
        }
        Some(Topic::Node { group, kind, node, device })
    }

    pub fn to_topic(&self) -> String {
        match self {
            Topic::State { host } => format!("{NAMESPACE}/STATE/{host}"),
            Topic::Node { group, kind, node, device: None } => {
                format!("{NAMESPACE}/{group}/{}/{node}", kind.as_str())
            }
            Topic::Node { group, kind, node, device: Some(d) } => {
                format!("{NAMESPACE}/{group}/{}/{node}/{d}", kind.as_str())
            }
        }
    }
}

/// Metric data types (ch. 6, data types), the basic ones; others decode as [`DataType::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float,
    Double,
    Boolean,
    String,
    DateTime,
    Text,
    Other(u32),
}

impl DataType {
    pub fn code(self) -> u32 {
        match self {
            DataType::Int8 => 1,
            DataType::Int16 => 2,
            DataType::Int32 => 3,
            DataType::Int64 => 4,
            DataType::UInt8 => 5,
            DataType::UInt16 => 6,
            DataType::UInt32 => 7,
            DataType::UInt64 => 8,
            DataType::Float => 9,
            DataType::Double => 10,
            DataType::Boolean => 11,
            DataType::String => 12,
            DataType::DateTime => 13,
            DataType::Text => 14,
            DataType::Other(c) => c,
        }
    }

    pub fn from_code(code: u32) -> DataType {
        const BASIC: [DataType; 14] = [
            DataType::Int8,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::UInt8,
            DataType::UInt16,
            DataType::UInt32,
            DataType::UInt64,
            DataType::Float,
            DataType::Double,
            DataType::Boolean,
            DataType::String,
            DataType::DateTime,
            DataType::Text,
        ];
        BASIC.into_iter().find(|t| t.code() == code).unwrap_or(DataType::Other(code))
    }
}

/// A metric's value as plain data.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    /// `is_null`: the metric has no value (a bad reading).
    Null,
}

/// Why a metric has no [`Reading`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Neither the metric nor its birth gave a datatype.
    NoDataType,
    /// A datatype this codec does not map to a reading (DataSet, Template, Bytes, ...).
    Unsupported(u32),
    /// The value field does not fit the datatype (a string in an Int32), or is missing.
    Mismatch(DataType),
}

impl core::fmt::Display for ValueError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ValueError::NoDataType => write!(f, "no datatype in the metric or its birth"),
            ValueError::Unsupported(c) => write!(f, "datatype {c} is not supported"),
            ValueError::Mismatch(t) => write!(f, "the value does not fit datatype {t:?}"),
        }
    }
}

impl Reading {
    /// Reads `metric`'s value as `datatype` (the metric's own, else the one its birth declared).
    /// Signed types narrower than 64 bits travel in the unsigned `int_value`; they are read back from
    /// their low bits, so both sign-extended and truncated encoders are understood.
    pub fn of(metric: &Metric, birth: Option<DataType>) -> Result<Reading, ValueError> {
        let t = metric.datatype.map(DataType::from_code).or(birth).ok_or(ValueError::NoDataType)?;
        if let DataType::Other(c) = t {
            return Err(ValueError::Unsupported(c));
        }
        if metric.is_null == Some(true) {
            return Ok(Reading::Null);
        }
        let mismatch = || ValueError::Mismatch(t);
        use MetricValue as V;
        Ok(match (t, metric.value.as_ref().ok_or_else(mismatch)?) {
            (DataType::Int8, V::IntValue(v)) => Reading::Int(i64::from(*v as u8 as i8)),
            (DataType::Int16, V::IntValue(v)) => Reading::Int(i64::from(*v as u16 as i16)),
            (DataType::Int32, V::IntValue(v)) => Reading::Int(i64::from(*v as i32)),
            (DataType::UInt8 | DataType::UInt16 | DataType::UInt32, V::IntValue(v)) => {
                Reading::UInt(u64::from(*v))
            }
            // Some encoders put 32-bit unsigned values in long_value; the value is the same.
            (DataType::UInt32, V::LongValue(v)) => Reading::UInt(*v),
            (DataType::Int64, V::LongValue(v)) => Reading::Int(*v as i64),
            (DataType::UInt64 | DataType::DateTime, V::LongValue(v)) => Reading::UInt(*v),
            (DataType::Float, V::FloatValue(v)) => Reading::Float(f64::from(*v)),
            (DataType::Double, V::DoubleValue(v)) => Reading::Float(*v),
            (DataType::Boolean, V::BooleanValue(v)) => Reading::Bool(*v),
            (DataType::String | DataType::Text, V::StringValue(s)) => Reading::Text(s.clone()),
            _ => return Err(mismatch()),
        })
    }

    /// The datatype a reading is published as: 64-bit integers and doubles keep every value exact.
    pub fn datatype(&self) -> DataType {
        match self {
            Reading::Bool(_) => DataType::Boolean,
            Reading::Int(_) => DataType::Int64,
            Reading::UInt(_) => DataType::UInt64,
            Reading::Float(_) | Reading::Null => DataType::Double,
            Reading::Text(_) => DataType::String,
        }
    }

    /// Sets `metric`'s value field (and `is_null`) for this reading; the datatype is the caller's.
    pub fn put(&self, metric: &mut Metric) {
        metric.value = match self {
            Reading::Bool(b) => Some(MetricValue::BooleanValue(*b)),
            Reading::Int(i) => Some(MetricValue::LongValue(*i as u64)),
            Reading::UInt(u) => Some(MetricValue::LongValue(*u)),
            Reading::Float(f) => Some(MetricValue::DoubleValue(*f)),
            Reading::Text(s) => Some(MetricValue::StringValue(s.clone())),
            Reading::Null => None,
        };
        metric.is_null = matches!(self, Reading::Null).then_some(true);
    }
}

/// A property set holding only the [`QUALITY`] code (an Int32, as hosts expect it).
pub fn quality_property(code: i32) -> PropertySet {
    PropertySet {
        keys: vec![QUALITY.to_owned()],
        values: vec![PropertyValue {
            r#type: Some(DataType::Int32.code()),
            is_null: None,
            value: Some(PropertyValueKind::IntValue(code as u32)),
        }],
    }
}

/// The [`QUALITY`] code of a metric, when it carries one as an integer property.
pub fn quality_of(metric: &Metric) -> Option<i32> {
    let props = metric.properties.as_ref()?;
    let at = props.keys.iter().position(|k| k == QUALITY)?;
    match props.values.get(at)?.value.as_ref()? {
        PropertyValueKind::IntValue(v) => Some(*v as i32),
        PropertyValueKind::LongValue(v) => i32::try_from(*v as i64).ok(),
        _ => None,
    }
}

/// The payload as protobuf bytes.
pub fn encode(payload: &Payload) -> Vec<u8> {
    payload.encode_to_vec()
}

/// A payload read from `bytes`; any input gives a payload or an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<Payload, prost::DecodeError> {
    Payload::decode(bytes)
}

/// The message sequence number of an edge node session: 0 in NBIRTH, then +1 per message, 255 wraps to
/// 0 (ch. 5, edge node session).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seq(u8);

impl Seq {
    /// A new session: the next number is 0, the NBIRTH's.
    pub fn start() -> Seq {
        Seq(0)
    }

    /// The number for the next message, counting it.
    pub fn take(&mut self) -> u64 {
        let n = self.0;
        self.0 = self.0.wrapping_add(1);
        u64::from(n)
    }
}
