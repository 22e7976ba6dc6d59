//! rumqttc's MQTT 3.1.1 and MQTT 5 clients behind one face, so the session is written once: what the
//! session needs of a client (publish, subscribe without waiting; the events of its event loop).

use bytes::Bytes;
use rumqttc::v5;
use rumqttc::{QoS, TlsConfiguration, Transport};

use super::link::{LinkSettings, Protocol};
use super::session::Will;

/// What the event loop reported, for either protocol.
pub(super) enum Raw {
    ConnAck {
        session_present: bool,
    },
    Message {
        topic: String,
        payload: Bytes,
    },
    /// A publish left for the broker with this packet id (0 for QoS 0).
    Sent {
        pkid: u16,
    },
    /// The broker acknowledged a QoS 1 publish; MQTT 5 may refuse it with a reason code.
    PubAck {
        pkid: u16,
        refused: Option<String>,
    },
    SubAck {
        refused: usize,
    },
    Other,
}

pub(super) enum Client {
    V311(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

pub(super) enum Events {
    V311(Box<rumqttc::EventLoop>),
    V5(Box<v5::EventLoop>),
}

/// Incoming and outgoing packets up to this size: a Sparkplug birth of a large device, a JSON report.
const MAX_PACKET: usize = 16 << 20;
/// QoS 1 publishes on their way at once; rumqttc holds further ones back until acknowledgements come.
const INFLIGHT: u16 = 512;
/// Requests queued for the event loop before a publish is answered "busy".
const REQUESTS: usize = 4096;

fn qos(q: u8) -> QoS {
    if q == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce }
}

fn qos5(q: u8) -> v5::mqttbytes::QoS {
    if q == 0 { v5::mqttbytes::QoS::AtMostOnce } else { v5::mqttbytes::QoS::AtLeastOnce }
}

pub(super) fn open(s: &LinkSettings) -> (Client, Events) {
    let transport =
        s.tls.as_ref().map(|t| Transport::tls_with_config(TlsConfiguration::Rustls(t.config.clone())));
    match s.protocol {
        Protocol::V311 => {
            let mut o = rumqttc::MqttOptions::new(&s.client_id, &s.host, s.port);
            o.set_keep_alive(s.keep_alive)
                .set_clean_session(s.clean_session)
                .set_max_packet_size(MAX_PACKET, MAX_PACKET)
                .set_inflight(INFLIGHT);
            if let Some((u, p)) = &s.credentials {
                o.set_credentials(u, p);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (c, e) = rumqttc::AsyncClient::new(o, REQUESTS);
            (Client::V311(c), Events::V311(Box::new(e)))
        }
        Protocol::V5 => {
            let mut o = v5::MqttOptions::new(&s.client_id, &s.host, s.port);
            o.set_keep_alive(s.keep_alive)
                .set_clean_start(s.clean_session)
                .set_max_packet_size(Some(MAX_PACKET as u32))
                .set_outgoing_inflight_upper_limit(INFLIGHT);
            if let Some(e) = s.session_expiry {
                o.set_session_expiry_interval(Some(u32::try_from(e.as_secs()).unwrap_or(u32::MAX)));
            }
            if let Some((u, p)) = &s.credentials {
                o.set_credentials(u, p);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (c, e) = v5::AsyncClient::new(o, REQUESTS);
            (Client::V5(c), Events::V5(Box::new(e)))
        }
    }
}

impl Client {
    pub(super) fn try_publish(
        &self,
        topic: &str,
        q: u8,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        match self {
            Client::V311(c) => c.try_publish(topic, qos(q), retain, payload).map_err(|e| e.to_string()),
            Client::V5(c) => c.try_publish(topic, qos5(q), retain, payload).map_err(|e| e.to_string()),
        }
    }

    pub(super) fn try_subscribe(&self, filter: &str, q: u8) -> Result<(), String> {
        match self {
            Client::V311(c) => c.try_subscribe(filter, qos(q)).map_err(|e| e.to_string()),
            Client::V5(c) => c.try_subscribe(filter, qos5(q)).map_err(|e| e.to_string()),
        }
    }

    pub(super) fn try_disconnect(&self) {
        let _ = match self {
            Client::V311(c) => c.try_disconnect().map_err(|e| e.to_string()),
            Client::V5(c) => c.try_disconnect().map_err(|e| e.to_string()),
        };
    }
}

impl Events {
    /// The next event; an error means the connection is gone (the next poll reconnects).
    pub(super) async fn poll(&mut self) -> Result<Raw, String> {
        use rumqttc::{Event, Outgoing, Packet};
        match self {
            Events::V311(e) => Ok(match e.poll().await.map_err(|e| e.to_string())? {
                Event::Incoming(Packet::ConnAck(a)) => Raw::ConnAck { session_present: a.session_present },
                Event::Incoming(Packet::Publish(p)) => Raw::Message { topic: p.topic, payload: p.payload },
                Event::Incoming(Packet::PubAck(a)) => Raw::PubAck { pkid: a.pkid, refused: None },
                Event::Incoming(Packet::SubAck(a)) => Raw::SubAck {
                    refused: a
                        .return_codes
                        .iter()
                        .filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                        .count(),
                },
                Event::Outgoing(Outgoing::Publish(pkid)) => Raw::Sent { pkid },
                _ => Raw::Other,
            }),
            Events::V5(e) => {
                use v5::mqttbytes::v5::{Packet as P, PubAckReason, SubscribeReasonCode};
                Ok(match e.poll().await.map_err(|e| e.to_string())? {
                    v5::Event::Incoming(P::ConnAck(a)) => Raw::ConnAck { session_present: a.session_present },
                    v5::Event::Incoming(P::Publish(p)) => match String::from_utf8(p.topic.to_vec()) {
                        Ok(topic) => Raw::Message { topic, payload: p.payload },
                        // MQTT 5 §1.5.4: topics are UTF-8; a broker that sends otherwise is not one.
                        Err(_) => Raw::Other,
                    },
                    v5::Event::Incoming(P::PubAck(a)) => Raw::PubAck {
                        pkid: a.pkid,
                        refused: (!matches!(
                            a.reason,
                            PubAckReason::Success | PubAckReason::NoMatchingSubscribers
                        ))
                        .then(|| format!("{:?}", a.reason)),
                    },
                    v5::Event::Incoming(P::SubAck(a)) => Raw::SubAck {
                        refused: a
                            .return_codes
                            .iter()
                            .filter(|c| !matches!(c, SubscribeReasonCode::Success(_)))
                            .count(),
                    },
                    v5::Event::Outgoing(Outgoing::Publish(pkid)) => Raw::Sent { pkid },
                    _ => Raw::Other,
                })
            }
        }
    }

    /// Forgets every publish rumqttc would resend on the next connection, every request still
    /// queued, and the events of the lost connection not yet reported (a stale "sent" or PUBACK would
    /// pair with a publish of the next connection): the owner of each publish resends what it needs
    /// (the uplink from its store, births anew).
    pub(super) fn drop_pending(&mut self) {
        match self {
            Events::V311(e) => {
                e.clean();
                e.pending.clear();
                e.state.events.clear();
                e.state.collision = None;
            }
            Events::V5(e) => {
                e.clean();
                e.pending.clear();
                e.state.events.clear();
                e.state.collision = None;
            }
        }
    }

    /// The will the next connection registers (a Sparkplug NDEATH carries a new bdSeq each time).
    pub(super) fn set_will(&mut self, will: Option<Will>) {
        let Some(w) = will else { return };
        match self {
            Events::V311(e) => {
                e.mqtt_options.set_last_will(rumqttc::LastWill::new(
                    w.topic,
                    w.payload,
                    qos(w.qos),
                    w.retain,
                ));
            }
            Events::V5(e) => {
                e.options.set_last_will(v5::mqttbytes::v5::LastWill::new(
                    w.topic,
                    w.payload,
                    qos5(w.qos),
                    w.retain,
                    None,
                ));
            }
        }
    }
}
