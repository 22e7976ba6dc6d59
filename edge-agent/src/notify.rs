//! Tells systemd how the agent is doing (sd_notify(3)): `READY=1` once it serves, `RELOADING=1` and
//! `READY=1` around a reload, `STOPPING=1`, and `WATCHDOG=1` at half the unit's `WatchdogSec`.
//!
//! The protocol is one datagram per message to the unix socket named by `NOTIFY_SOCKET` (a path, or an
//! abstract name when it starts with `@`). Written here, in safe std, rather than taken from a crate:
//! it is twenty lines, and the crates for it are either unmaintained or wrap libsystemd.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where systemd listens, when the agent runs under a unit of `Type=notify`.
#[derive(Debug, Clone)]
pub struct Notifier {
    socket: String,
}

impl Notifier {
    /// The notifier of this process's environment, or none outside systemd.
    pub fn from_env() -> Option<Notifier> {
        std::env::var("NOTIFY_SOCKET").ok().filter(|s| !s.is_empty()).map(|socket| Notifier { socket })
    }

    pub fn new(socket: impl Into<String>) -> Notifier {
        Notifier { socket: socket.into() }
    }

    /// Sends `state` (newline-separated `KEY=value` lines) in one datagram.
    pub fn send(&self, state: &str) -> io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        if let Some(name) = self.socket.strip_prefix('@') {
            // systemd binds its socket in the abstract namespace on Linux.
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), &self.socket)?;
        }
        Ok(())
    }

    /// Sends `state`, logging (not failing) when systemd cannot be told: the agent's work goes on.
    pub fn tell(&self, state: &str) {
        if let Err(e) = self.send(state) {
            tracing::warn!(socket = %self.socket, "cannot notify systemd ({state:?}): {e}");
        }
    }
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC` (sd_watchdog_enabled(3)), when the watchdog
/// is meant for this process (`WATCHDOG_PID` unset or ours).
pub fn watchdog_interval(usec: Option<&str>, pid: Option<&str>) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

/// Pings the watchdog from the async runtime for as long as the returned task runs: a runtime that
/// wedges stops the pings, and systemd restarts the agent.
pub fn start_watchdog(notifier: &Notifier) -> Option<tokio::task::JoinHandle<()>> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    let every = watchdog_interval(usec.as_deref(), pid.as_deref())?;
    tracing::info!(every_ms = every.as_millis() as u64, "systemd watchdog on");
    let notifier = notifier.clone();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            notifier.tell("WATCHDOG=1");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        Notifier::new(path.to_str().unwrap()).send("READY=1\nSTATUS=锅炉一号 scanning").unwrap();
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "READY=1\nSTATUS=锅炉一号 scanning");
    }

    #[test]
    fn a_datagram_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("edge-agent-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::new(format!("@{name}")).send("WATCHDOG=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }

    #[test]
    fn no_listener_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("nobody-listens");
        assert!(Notifier::new(gone.to_str().unwrap()).send("READY=1").is_err());
    }

    #[test]
    fn the_watchdog_pings_at_half_its_timeout_and_only_for_its_process() {
        let me = std::process::id().to_string();
        assert_eq!(watchdog_interval(Some("20000000"), None), Some(Duration::from_secs(10)));
        assert_eq!(watchdog_interval(Some("20000000"), Some(&me)), Some(Duration::from_secs(10)));
        assert_eq!(watchdog_interval(Some("20000000"), Some("1")), None);
        assert_eq!(watchdog_interval(None, None), None);
        assert_eq!(watchdog_interval(Some("0"), None), None);
        assert_eq!(watchdog_interval(Some("ten"), None), None);
    }
}
