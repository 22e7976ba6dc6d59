//! `[[opcua.link]]` on the driver seam.

use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::OpcuaLinkConfig;
use super::config::OpcuaDeviceConfig;
use crate::Driver;
use crate::diag::ConfigErrors;
use crate::kind::{BuildContext, DeclaredDevice, DeclaredTag, DriverKind, LinkConfig};
use crate::sections::{Problem, each_raw, section, sub_item_values, take_list, with_list};

pub struct OpcuaKind;

impl DriverKind for OpcuaKind {
    fn section(&self) -> &'static str {
        "opcua"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn LinkConfig>> {
        let mut links = Vec::new();
        for mut item in sub_item_values(value, "opcua", "link", errors) {
            let devices = take_list(&mut item, "device");
            let link = section::<OpcuaLinkConfig>(item, errors);
            let devices: Vec<OpcuaDeviceConfig> = match devices {
                Some(list) => each_raw(list, "device", errors)
                    .into_iter()
                    .filter_map(|d| {
                        with_list(d, "tags", errors, |d: &mut OpcuaDeviceConfig, tags| d.tags = tags)
                    })
                    .collect(),
                None => Vec::new(),
            };
            if let Some(mut link) = link {
                link.devices = devices;
                links.push(Arc::new(link) as Arc<dyn LinkConfig>);
            }
        }
        links
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
