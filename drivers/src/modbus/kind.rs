//! `[[modbus.link]]` on the driver seam.

use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::{ModbusDeviceConfig, ModbusLinkConfig};
use crate::Driver;
use crate::diag::ConfigErrors;
use crate::kind::{BuildContext, DeclaredDevice, DeclaredTag, DriverKind, LinkConfig};
use crate::sections::{Problem, links_with_children};

pub struct ModbusKind;

impl DriverKind for ModbusKind {
    fn section(&self) -> &'static str {
        "modbus"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn LinkConfig>> {
        links_with_children(
            value,
            ("modbus", "link", "device"),
            errors,
            |d: &mut ModbusDeviceConfig, tags| d.tags = tags,
            |l: &mut ModbusLinkConfig, devices| l.devices = devices,
        )
        .into_iter()
        .map(|l| Arc::new(l) as Arc<dyn LinkConfig>)
        .collect()
    }
}

impl LinkConfig for ModbusLinkConfig {
    fn kind(&self) -> &'static str {
        "modbus"
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
        let mut problems = ModbusLinkConfig::problems(self);
        if self.devices.is_empty() {
            problems.push((
                self.name.span(),
                format!("modbus link {}: declare its devices as [[modbus.link.device]]", self.name.get_ref()),
            ));
        }
        problems
    }

    fn summary(&self) -> String {
        let tags: usize = self.devices.iter().map(|d| d.tags.len()).sum();
        format!(
            "modbus link {} ({:?} {}): {} devices, {tags} tags",
            self.name.get_ref(),
            self.transport,
            self.endpoint(),
            self.devices.len()
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Box<dyn Driver>, String> {
        ModbusLinkConfig::build(self, cx.tag_id)
    }
}
