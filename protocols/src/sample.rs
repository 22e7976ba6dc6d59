//! The sample: one value of one tag at one instant, with its quality.
//!
//! A `Sample` is `Copy` and fits in three machine words, so the ring can move it without allocation and
//! the store can write it without a serializer. Strings never live inside it: a text value is an id into a
//! [`crate::TextPool`] kept beside the ring.

use core::fmt;
use core::time::Duration;

/// Interned id of a tag name (see [`crate::TagRegistry`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TagId(pub u32);

/// Interned id of a text value (see [`crate::TextPool`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TextId(pub u32);

/// Nanoseconds since the Unix epoch, as read by the clock that acquired the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_nanos(ns: i64) -> Self {
        Timestamp(ns)
    }
    pub const fn as_nanos(self) -> i64 {
        self.0
    }
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s.saturating_mul(1_000_000_000))
    }
    /// Later by `d`, saturating at the end of the representable range (year 2262).
    pub fn saturating_add(self, d: Duration) -> Self {
        let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ns))
    }
    /// Time elapsed since `earlier`, or zero if `earlier` is not earlier.
    pub fn since(self, earlier: Timestamp) -> Duration {
        let d = self.0.saturating_sub(earlier.0);
        if d <= 0 { Duration::ZERO } else { Duration::from_nanos(d as u64) }
    }
}

/// A value as acquired. Integers keep their sign and width class so the historian gets `i`/`u` fields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(TextId),
}

impl Value {
    /// The value as a number for engines that compute (alarms, energy, control); text has none.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            Value::Float(f) => Some(f),
            Value::Text(_) => None,
        }
    }
}

/// Why a value is not fully trustworthy. Travels with the sample so a gap is never silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The device did not answer within its timeout.
    Timeout,
    /// The device answered with a protocol exception (Modbus exception code, OPC UA status class, ...).
    Exception(u8),
    /// The link to the device is down (connect refused, port gone, session closed).
    CommsLost,
    /// No fresh value arrived within the expected period.
    Stale,
    /// The value lies outside the tag's declared range.
    OutOfRange,
    /// The bytes could not be decoded as the tag's type (NaN where not allowed, bad text, short frame).
    DecodeError,
    /// The instrument itself flags a fault (status bits, sensor break).
    SensorFault,
    /// The value was substituted (manual entry or last good value), not measured.
    Substituted,
}

impl Reason {
    /// Short, stable label used in metrics, logs and the line protocol `quality` tag.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Exception(_) => "exception",
            Reason::CommsLost => "comms_lost",
            Reason::Stale => "stale",
            Reason::OutOfRange => "out_of_range",
            Reason::DecodeError => "decode_error",
            Reason::SensorFault => "sensor_fault",
            Reason::Substituted => "substituted",
        }
    }

    fn code(self) -> (u8, u8) {
        match self {
            Reason::Timeout => (1, 0),
            Reason::Exception(c) => (2, c),
            Reason::CommsLost => (3, 0),
            Reason::Stale => (4, 0),
            Reason::OutOfRange => (5, 0),
            Reason::DecodeError => (6, 0),
            Reason::SensorFault => (7, 0),
            Reason::Substituted => (8, 0),
        }
    }

    /// `None` for a code no reason packs to, and for an argument on a reason that takes none: a word
    /// that decodes must be the one its sample encodes to, so corruption there is caught, not absorbed.
    fn from_code(code: u8, arg: u8) -> Option<Reason> {
        if arg != 0 && code != 2 {
            return None;
        }
        Some(match code {
            1 => Reason::Timeout,
            2 => Reason::Exception(arg),
            3 => Reason::CommsLost,
            4 => Reason::Stale,
            5 => Reason::OutOfRange,
            6 => Reason::DecodeError,
            7 => Reason::SensorFault,
            8 => Reason::Substituted,
            _ => return None,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Exception(c) => write!(f, "exception {c:#04x}"),
            other => f.write_str(other.label()),
        }
    }
}

/// Quality of a value, after OPC UA's three classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Quality {
    #[default]
    Good,
    Uncertain(Reason),
    Bad(Reason),
}

impl Quality {
    pub fn is_good(self) -> bool {
        matches!(self, Quality::Good)
    }
    pub fn label(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Uncertain(_) => "uncertain",
            Quality::Bad(_) => "bad",
        }
    }
    pub fn reason(self) -> Option<Reason> {
        match self {
            Quality::Good => None,
            Quality::Uncertain(r) | Quality::Bad(r) => Some(r),
        }
    }
}

/// One value of one tag at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub tag: TagId,
    pub ts: Timestamp,
    pub value: Value,
    pub quality: Quality,
}

const _: () = assert!(core::mem::size_of::<Sample>() <= 32);

/// Value kind of a float in word 0 of [`Sample::to_words`].
const FLOAT_KIND: u8 = 3;

impl Sample {
    pub fn good(tag: TagId, ts: Timestamp, value: Value) -> Self {
        Sample { tag, ts, value, quality: Quality::Good }
    }

    /// A Bad sample: the value slot carries nothing meaningful, the reason says why.
    pub fn bad(tag: TagId, ts: Timestamp, reason: Reason) -> Self {
        Sample { tag, ts, value: Value::Float(f64::NAN), quality: Quality::Bad(reason) }
    }

    /// Packs into three words: the ring's slot layout and the store's record body.
    ///
    /// Word 0: tag id (bits 0..32), quality class (32..40), reason code (40..48), reason argument
    /// (48..56), value kind (56..64). Word 1: timestamp. Word 2: value payload.
    #[inline]
    pub fn to_words(&self) -> [u64; 3] {
        // Most plant samples are good floats: one predictable branch instead of two matches.
        if let (Quality::Good, Value::Float(f)) = (self.quality, self.value) {
            return [self.tag.0 as u64 | (FLOAT_KIND as u64) << 56, self.ts.0 as u64, f.to_bits()];
        }
        let (class, reason) = match self.quality {
            Quality::Good => (0u8, (0u8, 0u8)),
            Quality::Uncertain(r) => (1, r.code()),
            Quality::Bad(r) => (2, r.code()),
        };
        let (kind, payload) = match self.value {
            Value::Bool(b) => (0u8, b as u64),
            Value::Int(i) => (1, i as u64),
            Value::UInt(u) => (2, u),
            Value::Float(f) => (FLOAT_KIND, f.to_bits()),
            Value::Text(t) => (4, t.0 as u64),
        };
        let w0 = self.tag.0 as u64
            | (class as u64) << 32
            | (reason.0 as u64) << 40
            | (reason.1 as u64) << 48
            | (kind as u64) << 56;
        [w0, self.ts.0 as u64, payload]
    }

    /// Inverse of [`Sample::to_words`]; `None` for words no sample packs to (a corrupt record).
    #[inline]
    pub fn from_words(w: [u64; 3]) -> Option<Sample> {
        if w[0] >> 32 == (FLOAT_KIND as u64) << 24 {
            let value = Value::Float(f64::from_bits(w[2]));
            return Some(Sample::good(TagId(w[0] as u32), Timestamp(w[1] as i64), value));
        }
        let tag = TagId(w[0] as u32);
        let class = (w[0] >> 32) as u8;
        let reason = || Reason::from_code((w[0] >> 40) as u8, (w[0] >> 48) as u8);
        let quality = match class {
            0 if (w[0] >> 40) as u16 == 0 => Quality::Good,
            1 => Quality::Uncertain(reason()?),
            2 => Quality::Bad(reason()?),
            _ => return None,
        };
        let value = match (w[0] >> 56) as u8 {
            0 if w[2] <= 1 => Value::Bool(w[2] == 1),
            1 => Value::Int(w[2] as i64),
            2 => Value::UInt(w[2]),
            FLOAT_KIND => Value::Float(f64::from_bits(w[2])),
            4 if w[2] <= u32::MAX as u64 => Value::Text(TextId(w[2] as u32)),
            _ => return None,
        };
        Some(Sample { tag, ts: Timestamp(w[1] as i64), value, quality })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason() -> impl Strategy<Value = Reason> {
        prop_oneof![
            Just(Reason::Timeout),
            any::<u8>().prop_map(Reason::Exception),
            Just(Reason::CommsLost),
            Just(Reason::Stale),
            Just(Reason::OutOfRange),
            Just(Reason::DecodeError),
            Just(Reason::SensorFault),
            Just(Reason::Substituted),
        ]
    }

    fn sample() -> impl Strategy<Value = Sample> {
        let value = prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<u64>().prop_map(Value::UInt),
            any::<f64>().prop_map(Value::Float),
            any::<u32>().prop_map(|t| Value::Text(TextId(t))),
        ];
        let quality = prop_oneof![
            Just(Quality::Good),
            reason().prop_map(Quality::Uncertain),
            reason().prop_map(Quality::Bad),
        ];
        (any::<u32>(), any::<i64>(), value, quality).prop_map(|(t, ts, value, quality)| Sample {
            tag: TagId(t),
            ts: Timestamp(ts),
            value,
            quality,
        })
    }

    proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::testkit::cases()))]
        #[test]
        fn words_round_trip(s in sample()) {
            let back = Sample::from_words(s.to_words()).unwrap();
            // NaN != NaN, so compare the packed form.
            prop_assert_eq!(back.to_words(), s.to_words());
            prop_assert_eq!(back.tag, s.tag);
            prop_assert_eq!(back.quality, s.quality);
        }

        #[test]
        fn arbitrary_words_never_panic(w in any::<[u64; 3]>()) {
            if let Some(s) = Sample::from_words(w) {
                prop_assert_eq!(s.to_words(), w);
            }
        }
    }

    #[test]
    fn exception_keeps_its_code() {
        let s = Sample::bad(TagId(7), Timestamp(1), Reason::Exception(0x02));
        let back = Sample::from_words(s.to_words()).unwrap();
        assert_eq!(back.quality, Quality::Bad(Reason::Exception(2)));
        assert_eq!(Reason::Exception(2).to_string(), "exception 0x02");
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        let t = Timestamp::from_secs(10);
        assert_eq!(t.saturating_add(Duration::from_millis(5)).as_nanos(), 10_005_000_000);
        assert_eq!(Timestamp(5).since(Timestamp(9)), Duration::ZERO);
        assert_eq!(Timestamp(i64::MAX - 1).saturating_add(Duration::from_secs(1)), Timestamp(i64::MAX));
    }
}
