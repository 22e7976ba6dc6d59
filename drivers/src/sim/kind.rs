//! `[[sim.device]]` on the driver seam: each simulated device is a link of its own.

use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::SimDeviceConfig;
use crate::Driver;
use crate::diag::ConfigErrors;
use crate::kind::{BuildContext, DeclaredDevice, DeclaredTag, DriverKind, LinkConfig};
use crate::sections::{Problem, sub_item_values, with_list};

pub struct SimKind;

impl DriverKind for SimKind {
    fn section(&self) -> &'static str {
        "sim"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn LinkConfig>> {
        sub_item_values(value, "sim", "device", errors)
            .into_iter()
            .filter_map(|d| with_list(d, "tags", errors, |d: &mut SimDeviceConfig, tags| d.tags = tags))
            .map(|d| Arc::new(d) as Arc<dyn LinkConfig>)
            .collect()
    }
}

impl LinkConfig for SimDeviceConfig {
    fn kind(&self) -> &'static str {
        "sim"
    }

    fn name(&self) -> &str {
        self.name.get_ref()
    }

    fn devices(&self) -> Vec<DeclaredDevice<'_>> {
        let tags = self
            .tags
            .iter()
            .map(|t| DeclaredTag { name: &t.name, writable: t.writable.as_ref().map(|w| w.get_ref().into()) })
            .collect();
        vec![DeclaredDevice { name: &self.name, tags }]
    }

    fn problems(&self) -> Vec<Problem> {
        SimDeviceConfig::problems(self)
    }

    fn summary(&self) -> String {
        let fault =
            self.fault.map(|f| format!(" · faults every {} for {}", f.every, f.lasting)).unwrap_or_default();
        format!("sim {:<24} {:>5} tags every {}{fault}", self.name.get_ref(), self.tags.len(), self.scan)
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Box<dyn Driver>, String> {
        SimDeviceConfig::build(self, cx.tag_id)
    }
}
