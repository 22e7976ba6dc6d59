//! `[[opcua.link]]` on the driver seam.

use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::OpcuaLinkConfig;
use super::config::OpcuaDeviceConfig;
use crate::Driver;
use crate::diag::ConfigErrors;
use crate::kind::{BuildContext, DeclaredDevice, DeclaredTag, DriverKind, LinkConfig};
use crate::sections::{Problem, links_with_children};

pub struct OpcuaKind;

impl DriverKind for OpcuaKind {
    fn section(&self) -> &'static str {
        "opcua"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn LinkConfig>> {
        links_with_children(
            value,
            ("opcua", "link", "device"),
            errors,
            |d: &mut OpcuaDeviceConfig, tags| d.tags = tags,
            |l: &mut OpcuaLinkConfig, devices| l.devices = devices,
        )
        .into_iter()
        .map(|l| Arc::new(l) as Arc<dyn LinkConfig>)
        .collect()
    }
}

impl LinkConfig for OpcuaLinkConfig {
    fn kind(&self) -> &'static str {
        "opcua"
    }

    fn name(&self) -> &str {
        self.name.get_ref()
    }

    fn devices(&self) -> Vec<DeclaredDevice<'_>> {
        self.devices
            .iter()
            .map(|d| DeclaredDevice {
                name: &d.name,
                tags: d
                    .tags
                    .iter()
                    .map(|t| DeclaredTag {
                        name: &t.name,
                        writable: t.writable.as_ref().map(|w| w.get_ref().into()),
                    })
                    .collect(),
            })
            .collect()
    }

    fn problems(&self) -> Vec<Problem> {
        OpcuaLinkConfig::problems(self)
    }

    fn summary(&self) -> String {
        let tags: usize = self.devices.iter().map(|d| d.tags.len()).sum();
        let polled = self.devices.iter().filter(|d| d.poll.is_some()).count();
        format!(
            "opcua link {} ({} {:?}/{:?}): {} devices ({} subscribed, {polled} polled), {tags} tags",
            self.name.get_ref(),
            self.endpoint.get_ref(),
            self.policy(),
            self.mode(),
            self.devices.len(),
            self.devices.len() - polled,
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Box<dyn Driver>, String> {
        super::driver::OpcuaDriver::new(self, cx).map(|d| Box::new(d) as Box<dyn Driver>)
    }
}
