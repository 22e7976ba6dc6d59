//! `[[serial.port]]` on the driver seam.

use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::{InstrumentConfig, SerialPortConfig};
use crate::Driver;
use crate::diag::ConfigErrors;
use crate::kind::{BuildContext, DeclaredDevice, DeclaredTag, DriverKind, LinkConfig};
use crate::sections::{Problem, links_with_children};

pub struct SerialKind;

impl DriverKind for SerialKind {
    fn section(&self) -> &'static str {
        "serial"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn LinkConfig>> {
        links_with_children(
            value,
            ("serial", "port", "instrument"),
            errors,
            |i: &mut InstrumentConfig, tags| i.tags = tags,
            |l: &mut SerialPortConfig, instruments| l.instruments = instruments,
        )
        .into_iter()
        .map(|l| Arc::new(l) as Arc<dyn LinkConfig>)
        .collect()
    }
}

impl LinkConfig for SerialPortConfig {
    fn kind(&self) -> &'static str {
        "serial"
    }

    fn name(&self) -> &str {
        self.name.get_ref()
    }

    fn devices(&self) -> Vec<DeclaredDevice<'_>> {
        self.instruments
            .iter()
            .map(|i| DeclaredDevice {
                name: &i.name,
                tags: i.tags.iter().map(|t| DeclaredTag { name: &t.name, writable: None }).collect(),
            })
            .collect()
    }

    fn problems(&self) -> Vec<Problem> {
        SerialPortConfig::problems(self)
    }

    fn summary(&self) -> String {
        let tags: usize = self.instruments.iter().map(|i| i.tags.len()).sum();
        let how = if self.is_streaming() { "streaming" } else { "polled" };
        format!(
            "serial port {} ({} at {} baud): {} {how} instruments, {tags} tags",
            self.name.get_ref(),
            self.port.get_ref(),
            self.baud.get_ref(),
            self.instruments.len()
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Box<dyn Driver>, String> {
        SerialPortConfig::build(self, cx.tag_id)
    }
}
