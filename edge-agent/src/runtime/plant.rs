//! Turns the config's links and devices into drivers. Adding a protocol adds one block here.

use drivers::Driver;
use protocols::TagId;

use crate::config::Config;

/// One driver ready to run, and what the agent needs to route to it.
pub struct LinkPlan {
    /// The link's name, as logged (a TCP endpoint, a serial port, a simulated device).
    pub name: String,
    pub devices: Vec<String>,
    /// The driver, or why it could not be built (the link's devices then show down with that error).
    pub driver: Result<Box<dyn Driver>, String>,
    /// Tags on this link that accept writes.
    pub writable: Vec<TagId>,
}

/// Builds every link of `config`. A link whose driver cannot be built does not stop the others.
pub fn plan_links(config: &Config) -> Vec<LinkPlan> {
    let registry = &config.tags.registry;
    let mut links = Vec::new();
    for device in &config.sim_devices {
        let name = device.name.get_ref().clone();
        let driver = device.build(|tag| registry.id(tag));
        let writable = device
            .tags
            .iter()
            .filter(|t| t.writable.is_some())
            .filter_map(|t| registry.id(t.name.get_ref()))
            .collect();
        links.push(LinkPlan { name: name.clone(), devices: vec![name], driver, writable });
    }
    for link in &config.modbus_links {
        let writable = link
            .devices
            .iter()
            .flat_map(|d| &d.tags)
            .filter(|t| t.writable.is_some())
            .filter_map(|t| registry.id(t.name.get_ref()))
            .collect();
        links.push(LinkPlan {
            name: link.name.get_ref().clone(),
            devices: link.devices.iter().map(|d| d.name.get_ref().clone()).collect(),
            driver: link.build(|tag| registry.id(tag)),
            writable,
        });
    }
    links
}
