//! MQTT: the connection every MQTT component shares, and the ingest driver.
//!
//! - [`link`]: the connection keys (`url`, TLS, credentials, sessions), read once for the driver and
//!   the uplinks; [`session`]: one connection kept up, publishes resolved at their PUBACK;
//!   `client`: rumqttc's 3.1.1 and 5 clients behind one face.
//! - the ingest driver: [`config`] (`[[mqtt.broker]]` and its subscriptions), [`json`] and
//!   [`sparkplug`] (payloads to readings, sans-IO), [`driver`] (the link's task), `kind`.

mod client;
pub mod link;
pub mod session;

pub use link::{LINK_KEYS, LinkSettings, LinkToml, Protocol};
pub use session::{LinkEvent, PublishError, Session, SessionHandle, Will};
pub mod config;
pub mod driver;
pub mod json;
mod kind;
pub mod sparkplug;

pub use config::MqttBrokerConfig;
pub use kind::MqttKind;
