//! How the agent names its samples outside the process: the store's dictionary of a config's tags.

use crate::config::Config;
use crate::store::Dictionary;

/// The names of a config's tags, as the store keeps them beside the samples.
pub fn dictionary(config: &Config) -> Dictionary {
    Dictionary {
        site: config.agent.site.clone(),
        gateway: config.agent.gateway.clone(),
        tags: config.tags.info.iter().map(|t| (t.device.clone(), t.name.clone())).collect(),
    }
}
