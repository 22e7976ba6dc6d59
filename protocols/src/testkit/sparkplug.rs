//! Sparkplug B payloads as a peer edge node or host sends them: any metric field set or not, names,
//! aliases, datatypes in and beyond the basic ones, values of any kind (whether they fit the datatype
//! or not), a Quality property now and then.

use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::text;
use crate::sparkplug::{
    Metric, MetricValue, Payload, PropertySet, PropertyValue, PropertyValueKind, QUALITY,
};

fn metric_value() -> impl Strategy<Value = MetricValue> {
    prop_oneof![
        any::<u32>().prop_map(MetricValue::IntValue),
        any::<u64>().prop_map(MetricValue::LongValue),
        any::<f32>().prop_map(MetricValue::FloatValue),
        any::<f64>().prop_map(MetricValue::DoubleValue),
        any::<bool>().prop_map(MetricValue::BooleanValue),
        text("[a-z锅炉运行]{0,6}").prop_map(MetricValue::StringValue),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(MetricValue::BytesValue),
    ]
}

fn properties() -> impl Strategy<Value = PropertySet> {
    let value = prop_oneof![
        any::<u32>().prop_map(PropertyValueKind::IntValue),
        any::<u64>().prop_map(PropertyValueKind::LongValue),
        any::<bool>().prop_map(PropertyValueKind::BooleanValue),
        text("[a-z]{0,4}").prop_map(PropertyValueKind::StringValue),
    ];
    let key = prop_oneof![Just(String::from(QUALITY)), text("[A-Za-z]{1,8}")];
    prop::collection::vec((key, prop::option::of(0u32..20), prop::option::of(value)), 0..3).prop_map(|kv| {
        let (keys, values): (Vec<String>, Vec<PropertyValue>) =
            kv.into_iter().map(|(k, t, v)| (k, PropertyValue { r#type: t, is_null: None, value: v })).unzip();
        PropertySet { keys, values }
    })
}

/// One metric; names come from `names` so births and data of one node can share them.
pub fn metric(names: &'static [&'static str]) -> impl Strategy<Value = Metric> {
    (
        prop::option::of(prop::sample::select(names).prop_map(String::from)),
        prop::option::of(0u64..8),
        prop::option::of(any::<u64>()),
        prop::option::weighted(0.9, 0u32..20),
        prop::option::weighted(0.1, any::<bool>()),
        prop::option::weighted(0.2, properties()),
        prop::option::weighted(0.9, metric_value()),
    )
        .prop_map(|(name, alias, timestamp, datatype, is_null, properties, value)| Metric {
            name,
            alias,
            timestamp,
            datatype,
            is_null,
            properties,
            value,
            ..Default::default()
        })
}

/// A payload of up to eight metrics named from `names`.
pub fn payload(names: &'static [&'static str]) -> impl Strategy<Value = Payload> {
    (prop::option::of(any::<u64>()), prop::collection::vec(metric(names), 0..8), prop::option::of(0u64..300))
        .prop_map(|(timestamp, metrics, seq)| Payload { timestamp, metrics, seq, ..Default::default() })
}
