//! `[[gpio.chip]]` on the driver seam.

use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::GpioChipConfig;
use crate::Driver;
use crate::diag::ConfigErrors;
use crate::kind::{BuildContext, DeclaredDevice, DeclaredTag, DriverKind, LinkConfig};
use crate::sections::{Problem, sub_item_values, with_list};

pub struct GpioKind;

impl DriverKind for GpioKind {
    fn section(&self) -> &'static str {
        "gpio"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn LinkConfig>> {
        sub_item_values(value, "gpio", "chip", errors)
            .into_iter()
            .filter_map(|c| with_list(c, "pins", errors, |c: &mut GpioChipConfig, pins| c.pins = pins))
            .map(|c| Arc::new(c) as Arc<dyn LinkConfig>)
            .collect()
    }
}

impl LinkConfig for GpioChipConfig {
    fn kind(&self) -> &'static str {
        "gpio"
    }

    fn name(&self) -> &str {
        self.name.get_ref()
    }

    fn devices(&self) -> Vec<DeclaredDevice<'_>> {
        let tags = self
            .pins
            .iter()
            .map(|p| DeclaredTag { name: &p.name, writable: p.writable.as_ref().map(|w| w.get_ref().into()) })
            .collect();
        vec![DeclaredDevice { name: &self.name, tags }]
    }

    fn problems(&self) -> Vec<Problem> {
        GpioChipConfig::problems(self)
    }

    fn summary(&self) -> String {
        format!("gpio chip {}: {} pins", self.name.get_ref(), self.pins.len())
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Box<dyn Driver>, String> {
        #[cfg(feature = "rpi-gpio")]
        {
            let pins = super::pins::RpiGpio::open()?;
            self.build_on(Box::new(pins), cx)
        }
        #[cfg(not(feature = "rpi-gpio"))]
        {
            let _ = cx;
            Err(format!(
                "gpio chip {}: this agent was built without the rpi-gpio feature",
                self.name.get_ref()
            ))
        }
    }
}
