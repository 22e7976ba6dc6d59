//! `[[mqtt.broker]]` on the driver seam.

use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::config::{MqttBrokerConfig, parse_broker};
use crate::Driver;
use crate::diag::ConfigErrors;
use crate::kind::{BuildContext, DeclaredDevice, DeclaredTag, DriverKind, LinkConfig};
use crate::sections::Problem;

pub struct MqttKind;

impl DriverKind for MqttKind {
    fn section(&self) -> &'static str {
        "mqtt"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn LinkConfig>> {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            errors.push(Some(span), "`mqtt` holds a list: write each entry as `[[mqtt.broker]]`");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in table {
            if key.get_ref().as_ref() != "broker" {
                errors.push(
                    Some(key.span()),
                    format!("unknown key `mqtt.{}`; expected `[[mqtt.broker]]`", key.get_ref()),
                );
                continue;
            }
            let span = value.span();
            let DeValue::Array(items) = value.into_inner() else {
                errors.push(Some(span), "`mqtt.broker` is a list: write each entry as `[[mqtt.broker]]`");
                continue;
            };
            for item in items {
                if let Some(b) = parse_broker(item, errors) {
                    out.push(Arc::new(b) as Arc<dyn LinkConfig>);
                }
            }
        }
        out
    }
}

impl LinkConfig for MqttBrokerConfig {
    fn kind(&self) -> &'static str {
        "mqtt"
    }

    fn name(&self) -> &str {
        self.name.get_ref()
    }

    fn devices(&self) -> Vec<DeclaredDevice<'_>> {
        self.devices
            .iter()
            .map(|(name, tags)| DeclaredDevice {
                name,
                tags: tags.iter().map(|t| DeclaredTag { name: t, writable: None }).collect(),
            })
            .collect()
    }

    /// Everything was checked while reading the entry (the connection keys need it).
    fn problems(&self) -> Vec<Problem> {
        Vec::new()
    }

    fn summary(&self) -> String {
        let tags: usize = self.devices.iter().map(|(_, t)| t.len()).sum();
        format!(
            "mqtt broker {} ({}): {} subscriptions, {} devices, {tags} tags",
            self.name.get_ref(),
            self.link.broker(),
            self.subscriptions.len(),
            self.devices.len()
        )
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Box<dyn Driver>, String> {
        super::driver::MqttDriver::new(self, cx.tag_id).map(|d| Box::new(d) as Box<dyn Driver>)
    }
}
