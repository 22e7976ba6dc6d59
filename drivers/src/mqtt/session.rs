//! One MQTT connection, kept up: connects, reconnects with full-jitter backoff up to `reconnect_max`,
//! registers the will the owner gives for each new connection, and tells the owner what happened.
//!
//! A publish resolves when the broker has it: at its PUBACK for QoS 1 (at the socket for QoS 0), or
//! fails when the connection drops first. rumqttc would resend unacknowledged publishes on the next
//! connection; the session forgets them instead, so exactly one party resends (the uplink, from its
//! store) and a Sparkplug session starts with its births, never with last session's data.
//!
//! rumqttc numbers publishes with packet ids in the order they are queued, and reports each as it goes
//! out: a FIFO of waiters in that order pairs each report with its publish.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::client::{self, Client, Events, Raw};
use super::link::LinkSettings;
use crate::backoff::Backoff;

/// The message the broker publishes for this client when the connection drops without DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
}

/// What the session tells its owner, in order.
#[derive(Debug)]
pub enum LinkEvent {
    /// Connected (again): subscriptions were sent again; `session_present` says the broker kept the
    /// last session (MQTT 3.1.1 §3.2.2.2).
    Connected {
        session_present: bool,
    },
    Message {
        topic: String,
        payload: Bytes,
    },
    /// The broker refused this many of the subscriptions (not authorised, a bad filter).
    SubscribeRefused {
        filters: usize,
    },
    /// The connection is gone; the next try is in `retry_in`.
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("not connected to the broker ({0})")]
    NotConnected(String),
    #[error("the connection dropped before the broker acknowledged ({0})")]
    Lost(String),
    #[error("the broker refused the message ({0})")]
    Refused(String),
    #[error("too many messages waiting for the connection; try again")]
    Busy,
}

type Waiter = oneshot::Sender<Result<(), PublishError>>;

struct State {
    connected: bool,
    /// Why the connection is down, while it is.
    down_because: String,
    /// Queued with rumqttc, in order, not yet numbered.
    queued: VecDeque<Waiter>,
    /// Sent with QoS 1, by packet id.
    awaiting: HashMap<u16, Waiter>,
    subscriptions: Vec<(String, u8)>,
}

struct Shared {
    client: Client,
    state: Mutex<State>,
}

/// A handle to publish and subscribe; cheap to clone.
#[derive(Clone)]
pub struct SessionHandle {
    shared: Arc<Shared>,
}

/// The running connection: its handle, its events, its task (stopped on drop).
pub struct Session {
    pub handle: SessionHandle,
    pub events: mpsc::Receiver<LinkEvent>,
    task: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Gives the will for each new connection attempt (`None`: no will).
pub type WillFn = Box<dyn FnMut() -> Option<Will> + Send>;

/// Starts connecting to `settings`' broker and keeps the connection up until the session is dropped.
pub fn start(settings: &LinkSettings, subscriptions: Vec<(String, u8)>, will: WillFn) -> Session {
    let (client, events) = client::open(settings);
    let shared = Arc::new(Shared {
        client,
        state: Mutex::new(State {
            connected: false,
            down_because: "connecting".into(),
            queued: VecDeque::new(),
            awaiting: HashMap::new(),
            subscriptions,
        }),
    });
    let (tx, rx) = mpsc::channel(1024);
    let backoff = Backoff::new(Duration::from_secs(1), settings.reconnect_max);
    let task = tokio::spawn(run(shared.clone(), events, tx, will, backoff));
    Session { handle: SessionHandle { shared }, events: rx, task }
}

impl SessionHandle {
    /// Queues a publish; the future resolves once the broker has it (QoS 1: its PUBACK).
    pub fn publish(
        &self,
        topic: &str,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
    ) -> impl Future<Output = Result<(), PublishError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let queued = {
            let mut st = self.state();
            if !st.connected {
                Err(PublishError::NotConnected(st.down_because.clone()))
            } else {
                st.queued.push_back(tx);
                self.shared.client.try_publish(topic, qos.min(1), retain, payload).map_err(|_| {
                    st.queued.pop_back();
                    PublishError::Busy
                })
            }
        };
        async move {
            queued?;
            rx.await.unwrap_or_else(|_| Err(PublishError::Lost("the session ended".into())))
        }
    }

    pub fn is_connected(&self) -> bool {
        self.state().connected
    }

    /// Why the connection is down (a refused TLS handshake, a refused CONNECT), while it is.
    pub fn down_because(&self) -> Option<String> {
        let st = self.state();
        (!st.connected).then(|| st.down_because.clone())
    }

    /// Sends DISCONNECT: the broker drops the will (MQTT 3.1.1 §3.14.4).
    pub fn disconnect(&self) {
        self.shared.client.try_disconnect();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn run(
    shared: Arc<Shared>,
    mut events: Events,
    tx: mpsc::Sender<LinkEvent>,
    mut will: WillFn,
    mut backoff: Backoff,
) {
    let handle = SessionHandle { shared: shared.clone() };
    let random = RandomState::new();
    let mut attempt = 0u64;
    events.set_will(will());
    loop {
        let event = match events.poll().await {
            Ok(Raw::ConnAck { session_present }) => {
                backoff.reset();
                let mut st = handle.state();
                st.connected = true;
                for (filter, qos) in &st.subscriptions {
                    // Queued before any publish of the owner, so they go out first.
                    let _ = shared.client.try_subscribe(filter, *qos);
                }
                LinkEvent::Connected { session_present }
            }
            Ok(Raw::Message { topic, payload }) => LinkEvent::Message { topic, payload },
            Ok(Raw::Sent { pkid }) => {
                let mut st = handle.state();
                if let Some(w) = st.queued.pop_front() {
                    if pkid == 0 {
                        let _ = w.send(Ok(()));
                    } else {
                        st.awaiting.insert(pkid, w);
                    }
                }
                continue;
            }
            Ok(Raw::PubAck { pkid, refused }) => {
                if let Some(w) = handle.state().awaiting.remove(&pkid) {
                    let _ = w.send(refused.map_or(Ok(()), |r| Err(PublishError::Refused(r))));
                }
                continue;
            }
            Ok(Raw::SubAck { refused: 0 }) | Ok(Raw::Other) => continue,
            Ok(Raw::SubAck { refused }) => LinkEvent::SubscribeRefused { filters: refused },
            Err(reason) => {
                {
                    let mut st = handle.state();
                    events.drop_pending();
                    st.connected = false;
                    st.down_because = reason.clone();
                    let awaiting: Vec<Waiter> = st.awaiting.drain().map(|(_, w)| w).collect();
                    for w in st.queued.drain(..).chain(awaiting) {
                        let _ = w.send(Err(PublishError::Lost(reason.clone())));
                    }
                }
                attempt += 1;
                let retry_in = backoff.next_delay(random.hash_one(attempt));
                if tx.send(LinkEvent::Disconnected { reason, retry_in }).await.is_err() {
                    return;
                }
                tokio::time::sleep(retry_in).await;
                events.set_will(will());
                continue;
            }
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}
