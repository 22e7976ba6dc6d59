//! Turns the config's links into drivers, whatever their protocol: every link builds itself.

use std::sync::Arc;

use drivers::{BuildContext, Driver, LinkConfig};
use protocols::TagId;

use crate::config::Config;

/// One driver ready to run, and what the agent needs to route to it.
pub struct LinkPlan {
    /// The link's config: it builds the driver again after a crash.
    pub config: Arc<dyn LinkConfig>,
    /// The protocol, as /healthz names it.
    pub kind: &'static str,
    /// The link's name, as logged (a TCP endpoint, a serial port, a simulated device).
    pub name: String,
    pub devices: Vec<String>,
    /// The driver, or why it could not be built (the link's devices then show down with that error).
    pub driver: Result<Box<dyn Driver>, String>,
    /// Tags on this link that accept writes.
    pub writable: Vec<TagId>,
}

/// Builds every link of `config` but those `kept` running from the last generation (`None` in their
/// place). A link whose driver cannot be built does not stop the others.
pub fn plan_links(config: &Config, kept: impl Fn(usize) -> bool) -> Vec<Option<LinkPlan>> {
    let registry = &config.tags.registry;
    let tag_id = |tag: &str| registry.id(tag);
    let cx = BuildContext { tag_id: &tag_id, data_dir: &config.agent.data_dir };
    config
        .links
        .iter()
        .enumerate()
        .map(|(i, link)| {
            (!kept(i)).then(|| LinkPlan {
                config: link.clone(),
                kind: link.kind(),
                name: link.name().to_owned(),
                writable: writable(config, &**link),
                devices: link.devices().iter().map(|d| d.name.get_ref().clone()).collect(),
                driver: link.build(&cx),
            })
        })
        .collect()
}

/// Tags on `link` that accept writes, by their ids in `config`.
pub fn writable(config: &Config, link: &dyn LinkConfig) -> Vec<TagId> {
    let registry = &config.tags.registry;
    link.devices()
        .iter()
        .flat_map(|d| &d.tags)
        .filter(|t| t.writable.is_some())
        .filter_map(|t| registry.id(t.name.get_ref()))
        .collect()
}
