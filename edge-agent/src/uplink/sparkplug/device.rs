//! One device as the edge node knows it: its metrics (alias, datatype, last value) and whether it is
//! born on the present connection or dead (Sparkplug 3.0 ch. 5: the node publishes a DDEATH on behalf
//! of a device it lost, and a DBIRTH before that device's data again).

use std::collections::BTreeMap;

use protocols::sparkplug::{self, DataType, Metric, Reading};
use protocols::{Quality, Reason};

use super::{Message, Point};

/// One metric of a device as last born and seen.
pub(super) struct Known {
    pub alias: u64,
    pub datatype: DataType,
    pub last: Point,
}

#[derive(Default)]
pub(super) struct Device {
    pub metrics: BTreeMap<String, Known>,
    /// The connection its last DBIRTH went out on (0: none).
    pub born_on: u64,
    /// Its DDEATH is out: no DDATA until a DBIRTH.
    pub dead: bool,
}

/// The device stopped answering: the reasons a driver gives when the link or the device is gone, not
/// when one value is wrong (an exception, a range, a sensor fault keep the device alive).
fn unreachable(q: Quality) -> bool {
    matches!(q, Quality::Bad(Reason::CommsLost | Reason::Timeout | Reason::Stale))
}

impl Device {
    /// Every metric's latest live sample says the device cannot be reached.
    pub fn lost(&self) -> bool {
        !self.metrics.is_empty() && self.metrics.values().all(|k| unreachable(k.last.quality))
    }

    /// Takes note of the message's metrics (live values become the last ones); true when one is new
    /// or changed type (a new DBIRTH). Aliases come from `next_alias`, unique across the node.
    pub fn learn(&mut self, m: &Message, next_alias: &mut u64) -> bool {
        let mut changed = false;
        for p in &m.points {
            let datatype = p.reading.datatype();
            match self.metrics.get_mut(&p.tag) {
                Some(k) if k.datatype == datatype || p.reading == Reading::Null => {
                    if !m.historical {
                        k.last = p.clone();
                    }
                }
                Some(k) => {
                    k.datatype = datatype;
                    k.last = p.clone();
                    changed = true;
                }
                None => {
                    self.metrics
                        .insert(p.tag.clone(), Known { alias: *next_alias, datatype, last: p.clone() });
                    *next_alias += 1;
                    changed = true;
                }
            }
        }
        changed
    }
}

/// A metric for a birth (name, alias, last value) or data (alias, this value).
pub(super) fn metric(p: &Point, k: &Known, birth: bool, historical: bool) -> Metric {
    let mut m = Metric {
        name: birth.then(|| p.tag.clone()),
        alias: Some(k.alias),
        timestamp: Some(p.ts_ms),
        datatype: Some(k.datatype.code()),
        is_historical: historical.then_some(true),
        ..Default::default()
    };
    p.reading.put(&mut m);
    let code = match p.quality {
        Quality::Good => None,
        Quality::Uncertain(_) => Some(sparkplug::QUALITY_UNCERTAIN),
        Quality::Bad(_) => Some(sparkplug::QUALITY_BAD),
    };
    m.properties = code.map(sparkplug::quality_property);
    m
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    fn msg(points: &[(&str, Quality)], historical: bool) -> Message {
        let points = points
            .iter()
            .map(|&(tag, quality)| Point {
                tag: tag.into(),
                ts_ms: 1,
                reading: if quality.is_good() { Reading::Float(1.0) } else { Reading::Null },
                quality,
            })
            .collect();
        Message { device: "锅炉一号".into(), points, historical, acked: AtomicBool::new(false) }
    }

    #[test]
    fn a_device_is_lost_only_when_every_metric_is_unreachable_in_live_data() {
        let (good, timeout, lost) =
            (Quality::Good, Quality::Bad(Reason::Timeout), Quality::Bad(Reason::CommsLost));
        let mut d = Device::default();
        let mut alias = 1;
        assert!(!d.lost(), "a device with no metrics yet");
        d.learn(&msg(&[("锅炉一号.温度", good), ("锅炉一号.压力", good)], false), &mut alias);
        assert_eq!(alias, 3);
        d.learn(&msg(&[("锅炉一号.温度", timeout)], false), &mut alias);
        assert!(!d.lost(), "one of two metrics still answers");
        d.learn(&msg(&[("锅炉一号.压力", Quality::Bad(Reason::OutOfRange))], false), &mut alias);
        assert!(!d.lost(), "a value out of range is the value's fault, not the link's");
        d.learn(&msg(&[("锅炉一号.压力", lost)], true), &mut alias);
        assert!(!d.lost(), "the backlog does not say how the device is now");
        d.learn(&msg(&[("锅炉一号.压力", lost)], false), &mut alias);
        assert!(d.lost());
        d.learn(&msg(&[("锅炉一号.温度", good)], false), &mut alias);
        assert!(!d.lost(), "back");
    }
}
