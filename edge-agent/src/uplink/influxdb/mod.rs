//! InfluxDB as an uplink kind (`influxdb_v2`, `influxdb_v1`): one line of line protocol per sample,
//! written over HTTP to InfluxDB or anything that speaks its write API (VictoriaMetrics, Telegraf).
//!
//! - `config`: its keys of an `[[uplink]]`.
//! - [`client`]: one batch, one HTTP request, one [`WriteOutcome`].
//! - [`lines`]: a sample as a line-protocol point.

mod answer;
pub mod client;
mod config;
pub mod lines;
mod retry_after;

use tokio::task::JoinHandle;

pub use client::{ClientError, InfluxApi, InfluxClient, InfluxTarget, WriteOutcome};
pub use config::parse;
pub use lines::{PointError, write_live, write_sample};

use super::registry::KindConfig;
use super::sink::{BoxFuture, Delivery, Encoded, Replay, Sink, Unencodable};
use super::task::{self, UplinkContext};
use crate::store::Batch;

/// The sink: line protocol to one historian. A line is an item, so a line the historian refuses is
/// isolated and quarantined alone, and a body over its limit is split between lines.
pub struct InfluxSink {
    client: InfluxClient,
}

impl InfluxSink {
    pub fn new(target: &InfluxTarget) -> Result<Self, ClientError> {
        Ok(InfluxSink { client: InfluxClient::new(target)? })
    }
}

impl Sink for InfluxSink {
    /// One point with its newline.
    type Item = Box<str>;

    const QUARANTINE_EXT: &'static str = "lp";

    fn encode(&self, batch: &Batch, _: Replay, out: &mut Vec<Encoded<Self::Item>>) -> Unencodable {
        let mut skipped = Unencodable::default();
        let mut line = String::with_capacity(128);
        out.reserve(batch.samples.len());
        for s in &batch.samples {
            let text = match s.value {
                protocols::Value::Text(id) => batch.texts.get(&id.0).map(String::as_str),
                _ => None,
            };
            line.clear();
            match write_sample(&mut line, &batch.dict, s, text) {
                Ok(()) => out.push(Encoded { item: line.as_str().into(), samples: 1 }),
                Err(e) => skipped.add(|| e.to_string()),
            }
        }
        skipped
    }

    fn deliver<'a>(&'a self, items: &'a [Encoded<Self::Item>]) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let mut body = Vec::with_capacity(items.iter().map(|e| e.item.len()).sum());
            for e in items {
                body.extend_from_slice(e.item.as_bytes());
            }
            match self.client.write_owned(body).await {
                WriteOutcome::Accepted => Delivery::Acknowledged,
                WriteOutcome::Retry { reason, after } => Delivery::Retry { reason, after },
                WriteOutcome::Rejected { status, message } => {
                    Delivery::Refused { reason: format!("{status}: {message}") }
                }
                WriteOutcome::TooLarge { message } => {
                    Delivery::TooLarge { reason: format!("413: {message}") }
                }
            }
        })
    }

    fn describe(&self, item: &Self::Item) -> String {
        item.trim_end_matches('\n').to_owned()
    }

    fn peer(&self) -> String {
        self.client.shown_url().to_owned()
    }
}

impl KindConfig for InfluxTarget {
    fn kind(&self) -> &'static str {
        match self.api {
            InfluxApi::V2 { .. } => "influxdb_v2",
            InfluxApi::V1 { .. } => "influxdb_v1",
        }
    }

    fn peer(&self) -> String {
        self.url.clone()
    }

    fn start(&self, cx: UplinkContext) -> JoinHandle<Result<(), String>> {
        task::spawn(cx, InfluxSink::new(self).map_err(|e| e.to_string()))
    }
}
