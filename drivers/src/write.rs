//! Writes to actuators. Only tags declared writable, only inside their limits; control relies on this.

use protocols::{TagId, Value};
use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::{Mutex, mpsc, oneshot};

/// `writable = { min = .., max = .. }` on any tag of any driver.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WritableConfig {
    pub min: f64,
    pub max: f64,
}

impl From<&WritableConfig> for WritableSpec {
    fn from(w: &WritableConfig) -> Self {
        WritableSpec { min: w.min, max: w.max }
    }
}

/// Limits of a writable tag, from its `writable = { min = .., max = .. }` in the config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WritableSpec {
    pub min: f64,
    pub max: f64,
}

impl WritableSpec {
    /// Checks `value` against the limits. Text values are never written to actuators.
    pub fn check(&self, tag: &str, value: Value) -> Result<(), WriteError> {
        let v = value.as_f64().ok_or_else(|| WriteError::Type { tag: tag.to_owned() })?;
        if v.is_nan() || v < self.min || v > self.max {
            return Err(WriteError::OutOfLimits {
                tag: tag.to_owned(),
                value: v,
                min: self.min,
                max: self.max,
            });
        }
        Ok(())
    }
}

/// One write on its way to a driver, with the channel its outcome goes back on.
#[derive(Debug)]
pub struct WriteRequest {
    pub tag: TagId,
    pub value: Value,
    pub reply: oneshot::Sender<Result<(), WriteError>>,
}

/// A link's queue of writes. It outlives the driver task: a driver restarted after a crash serves the
/// same queue, so the write router never needs to learn of the restart.
#[derive(Debug, Clone)]
pub struct WriteQueue {
    rx: Arc<Mutex<mpsc::Receiver<WriteRequest>>>,
}

impl WriteQueue {
    pub fn new(rx: mpsc::Receiver<WriteRequest>) -> Self {
        WriteQueue { rx: Arc::new(Mutex::new(rx)) }
    }

    /// The next write, or `None` once the agent stopped routing writes here. Cancel-safe.
    pub async fn recv(&mut self) -> Option<WriteRequest> {
        self.rx.lock().await.recv().await
    }
}

impl From<mpsc::Receiver<WriteRequest>> for WriteQueue {
    fn from(rx: mpsc::Receiver<WriteRequest>) -> Self {
        WriteQueue::new(rx)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    #[error("tag {tag} is not writable: declare `writable = {{ min = .., max = .. }}` on it")]
    NotWritable { tag: String },
    #[error("tag {tag}: {value} is outside its writable limits [{min}, {max}]")]
    OutOfLimits { tag: String, value: f64, min: f64, max: f64 },
    #[error("tag {tag}: only numeric or boolean values can be written")]
    Type { tag: String },
    #[error("tag {tag}: the device refused the write ({reason})")]
    Refused { tag: String, reason: String },
    #[error("tag {tag}: the write did not reach the device ({reason})")]
    Link { tag: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_inclusive_and_nan_is_refused() {
        let spec = WritableSpec { min: 0.0, max: 100.0 };
        assert!(spec.check("valve", Value::Float(0.0)).is_ok());
        assert!(spec.check("valve", Value::Float(100.0)).is_ok());
        assert!(matches!(spec.check("valve", Value::Float(100.5)), Err(WriteError::OutOfLimits { .. })));
        assert!(matches!(spec.check("valve", Value::Float(f64::NAN)), Err(WriteError::OutOfLimits { .. })));
        assert!(matches!(
            spec.check("valve", Value::Text(protocols::TextId(0))),
            Err(WriteError::Type { .. })
        ));
    }
}
