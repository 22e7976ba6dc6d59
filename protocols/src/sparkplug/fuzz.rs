//! Sparkplug B from another node or host, as properties: random bytes and valid payloads with
//! mutations through the payload decoder and the metric readings, topics of any text. No panic; what
//! is accepted reads back the same; a refusal names what it could not read.

use proptest::prelude::*;

use super::*;
use crate::testkit::{self, mutated, mutations, noise};

const NAMES: &[&str] = &["锅炉一号.温度", "锅炉一号.压力", "bdSeq", "Node Control/Rebirth", ""];

/// A refused metric says which datatype it could not read.
fn check_reading(m: &Metric, birth: Option<DataType>) -> Result<(), TestCaseError> {
    let _ = quality_of(m);
    if let Err(e) = Reading::of(m, birth) {
        let text = e.to_string();
        let named = match e {
            ValueError::NoDataType => m.datatype.is_none() && birth.is_none(),
            ValueError::Unsupported(c) => text.contains(&c.to_string()),
            ValueError::Mismatch(t) => text.contains(&format!("{t:?}")),
        };
        prop_assert!(named, "{}", text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(testkit::config())]

    #[test]
    fn payloads_decode_to_what_was_sent_or_name_the_fault(
        p in testkit::sparkplug::payload(NAMES),
        changes in mutations(),
        random in noise(512),
    ) {
        let valid = encode(&p);
        let bytes = random.unwrap_or_else(|| mutated(&valid, &changes));
        match decode(&bytes) {
            Ok(q) => {
                // What was read encodes to bytes that read back the same (NaN compared by bits).
                let again = encode(&q);
                prop_assert_eq!(encode(&decode(&again).unwrap()), again.clone());
                if bytes == valid {
                    prop_assert_eq!(again, valid);
                }
                for m in &q.metrics {
                    check_reading(m, None)?;
                    check_reading(m, Some(DataType::Double))?;
                }
            }
            Err(e) => {
                let text = e.to_string();
                let what = text.strip_prefix("failed to decode Protobuf message: ");
                prop_assert!(what.is_some_and(|w| !w.is_empty()), "{}", text);
            }
        }
    }

    #[test]
    fn parsing_any_topic_never_panics_and_formats_back(topic in "\\PC{0,40}", levels in proptest::collection::vec(testkit::text("[^/+#]{1,6}"), 3..6)) {
        let _ = Topic::parse(&topic);
        let joined = format!("{NAMESPACE}/{}", levels.join("/"));
        if let Some(t) = Topic::parse(&joined) {
            prop_assert_eq!(t.to_topic(), joined);
        }
    }

    #[test]
    fn metrics_with_any_field_values_read_without_panic(
        datatype in proptest::option::of(0u32..40),
        int in any::<u32>(),
        long in any::<u64>(),
        which in 0u8..4,
    ) {
        let value = match which {
            0 => MetricValue::IntValue(int),
            1 => MetricValue::LongValue(long),
            2 => MetricValue::FloatValue(f32::from_bits(int)),
            _ => MetricValue::DoubleValue(f64::from_bits(long)),
        };
        let m = Metric { datatype, value: Some(value), ..Default::default() };
        let _ = Reading::of(&m, None);
        let bytes = encode(&Payload { metrics: vec![m.clone()], ..Default::default() });
        // Compared as encoded bytes: a NaN value is never equal to itself, its bits are.
        let back = decode(&bytes).unwrap();
        prop_assert_eq!(encode(&back), bytes);
        prop_assert_eq!(back.metrics.len(), 1);
    }
}
