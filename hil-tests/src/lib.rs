//! The test-support library every crate's tests use: peers on free 127.0.0.1 ports (historians, Modbus
//! simulators), the agent as a process, an in-process driver harness, and the contracts every driver and
//! every uplink must pass.
//!
//! - [`acquired`]: what the agent acquired, per tag, read back from its store.
//! - [`agent`]: scratch directories, `edge-agent run`/`test` as a process, its log, HTTP and metrics.
//! - [`historians`]: VictoriaMetrics and InfluxDB 1.x, with a plant CA for TLS.
//! - [`mosquitto`]: the MQTT broker, plain or TLS with client certificates, and a probe client.
//! - [`asyncua`]: an OPC UA server (asyncua) with nodes to delete, add and set, restartable.
//! - [`opcua_link`]: the agent's side of the OPC UA tests: a link's config, trusting a server, browse
//!   and check.
//! - [`pymodbus`]: pymodbus serving a typed register map, and serial pty pairs.
//! - [`sensor_node`]: the firmware's RTU slave on a pty, and a relay that puts faults on the line.
//! - [`sshd`]: OpenSSH's sshd with its own host and user keys, as a gateway to push configs to.
//! - [`instrument`]: a scripted ASCII serial instrument on a pty.
//! - [`faults`]: a TCP proxy that injects latency, resets, blackholes, flipped bytes, ...
//! - [`harness`]: a driver built from agent.toml text and run in-process into a test sink.
//! - [`contract`]: what every driver and every uplink must do: `assert_driver_contract`,
//!   `assert_sink_contract`.

pub mod acquired;
pub mod agent;
pub mod asyncua;
pub mod contract;
pub mod faults;
pub mod harness;
pub mod historians;
pub mod instrument;
pub mod mosquitto;
pub mod opcua_link;
pub mod pymodbus;
pub mod sensor_node;
pub mod sshd;
