//! The session's event loop, polled on its own task, reporting what the driver acts on.

use futures::StreamExt;
use opcua::client::{SessionPollResult, SubscriptionActivity};
use tokio::sync::mpsc;

use crate::opcua::values;

/// What the session's event loop task reports.
pub(super) enum LinkEvent {
    Connected,
    Lost(String),
    Published,
}

/// Polls the crate's event loop and reports what the driver acts on; ends at the first loss, since
/// the driver (not the crate) reconnects.
pub(super) async fn forward(
    event_loop: opcua::client::SessionEventLoop<opcua::client::transport::TcpConnector>,
    tx: mpsc::UnboundedSender<LinkEvent>,
) {
    let stream = event_loop.enter();
    futures::pin_mut!(stream);
    while let Some(r) = stream.next().await {
        let ev = match r {
            Ok(SessionPollResult::Reconnected(_)) => LinkEvent::Connected,
            Ok(SessionPollResult::ConnectionLost(s)) => {
                LinkEvent::Lost(format!("session lost ({})", values::status_name(s)))
            }
            Ok(SessionPollResult::ReconnectFailed(s)) => {
                LinkEvent::Lost(format!("connect failed ({})", values::status_name(s)))
            }
            Ok(SessionPollResult::Subscription(SubscriptionActivity::Publish)) => LinkEvent::Published,
            Ok(SessionPollResult::Subscription(SubscriptionActivity::FatalFailure(s))) => {
                LinkEvent::Lost(format!("publishing failed ({})", values::status_name(s)))
            }
            Ok(_) => continue,
            Err(s) => LinkEvent::Lost(format!("session ended ({})", values::status_name(s))),
        };
        let lost = matches!(ev, LinkEvent::Lost(_));
        if tx.send(ev).is_err() || lost {
            return;
        }
    }
    let _ = tx.send(LinkEvent::Lost("the session closed".into()));
}
