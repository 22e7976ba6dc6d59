//! Figures engines add to /metrics: families declared once as statics, samples summed by labels, so
//! 2000 alarm engines make one `edge_alarms_active{priority="high"}` line, not 2000.

use std::collections::BTreeMap;

/// A metric family an engine kind publishes.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Family {
    pub name: &'static str,
    /// `gauge` or `counter`.
    pub kind: &'static str,
    pub help: &'static str,
}

/// Label values of one sample, by label name.
pub type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Gauges {
    families: BTreeMap<&'static str, (&'static Family, BTreeMap<Labels, f64>)>,
}

impl Gauges {
    /// Adds `value` to the sample of `family` with these labels.
    pub fn add(&mut self, family: &'static Family, labels: &[(&'static str, &str)], value: f64) {
        let labels: Labels = labels.iter().map(|&(k, v)| (k, v.to_owned())).collect();
        let (_, samples) = self.families.entry(family.name).or_insert_with(|| (family, BTreeMap::new()));
        *samples.entry(labels).or_insert(0.0) += value;
    }

    /// Declares `family` with no sample yet, so it shows with zeros where an engine has nothing to count.
    pub fn declare(&mut self, family: &'static Family) {
        self.families.entry(family.name).or_insert_with(|| (family, BTreeMap::new()));
    }

    /// Folds another host's figures into these.
    pub fn merge(&mut self, other: &Gauges) {
        for (family, samples) in other.families.values() {
            self.declare(family);
            for (labels, v) in samples {
                let pairs: Vec<(&'static str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                self.add(family, &pairs, *v);
            }
        }
    }

    /// Each family with its samples, by name.
    pub fn families(&self) -> impl Iterator<Item = (&'static Family, &BTreeMap<Labels, f64>)> {
        self.families.values().map(|(f, s)| (*f, s))
    }

    /// The value of one sample (tests).
    pub fn get(&self, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let (_, samples) = self.families.get(family)?;
        samples
            .iter()
            .find(|(l, _)| {
                l.len() == labels.len() && l.iter().zip(labels).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
            })
            .map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ACTIVE: Family = Family { name: "edge_alarms_active", kind: "gauge", help: "Active alarms." };

    #[test]
    fn samples_with_the_same_labels_are_summed_across_engines_and_hosts() {
        let mut lossy = Gauges::default();
        lossy.add(&ACTIVE, &[("priority", "high")], 1.0);
        lossy.add(&ACTIVE, &[("priority", "high")], 1.0);
        lossy.add(&ACTIVE, &[("priority", "low")], 1.0);
        let mut all = Gauges::default();
        all.add(&ACTIVE, &[("priority", "high")], 3.0);
        all.merge(&lossy);
        assert_eq!(all.get("edge_alarms_active", &[("priority", "high")]), Some(5.0));
        assert_eq!(all.get("edge_alarms_active", &[("priority", "low")]), Some(1.0));
        assert_eq!(all.get("edge_alarms_active", &[("priority", "urgent")]), None);
    }
}
