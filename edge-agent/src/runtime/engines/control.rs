//! The command path from the local API to the engines: a typed request on a channel that each engine
//! host selects on beside its samples, answered when the engine has acted. Control loops take mode and
//! setpoint changes the same way.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use protocols::Timestamp;
use serde_json::Value as Json;
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc, oneshot};

use super::EngineSet;
use super::lossless::Checkpoint;
use crate::config::Config;
use crate::engine::{Command, CommandError, Emitter, EngineInput};

/// Requests queued per host: operators click, they do not stream.
const QUEUE: usize = 64;
/// An engine host answers within this or the caller hears it is unavailable (it may be restarting).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

pub(crate) enum Request {
    Command { engine: String, command: Command, reply: oneshot::Sender<Result<Json, CommandError>> },
    Status { kind: String, reply: oneshot::Sender<Vec<Json>> },
}

/// A host's end of the channel; kept across the host's restarts, held by one incarnation at a time.
pub(crate) type Requests = Arc<Mutex<mpsc::Receiver<Request>>>;

/// The API's end: which host runs which engine, and a channel to each.
#[derive(Clone, Default)]
pub struct EngineControl {
    hosts: HashMap<EngineInput, mpsc::Sender<Request>>,
    engines: Arc<HashMap<String, EngineInput>>,
}

impl EngineControl {
    /// A channel per host that `config` runs engines on; the receivers go to [`super::start_engines`].
    pub(crate) fn new(config: &Config) -> (EngineControl, HashMap<EngineInput, Requests>) {
        let engines: HashMap<String, EngineInput> =
            config.engines.iter().map(|e| (e.name(), e.input())).collect();
        let mut hosts = HashMap::new();
        let mut receivers = HashMap::new();
        for input in [EngineInput::Lossy, EngineInput::Lossless] {
            if engines.values().any(|&i| i == input) {
                let (tx, rx) = mpsc::channel(QUEUE);
                hosts.insert(input, tx);
                receivers.insert(input, Arc::new(Mutex::new(rx)));
            }
        }
        (EngineControl { hosts, engines: Arc::new(engines) }, receivers)
    }

    /// Hands `command` to the engine named `engine` and waits for its answer.
    pub async fn command(&self, engine: &str, command: Command) -> Result<Json, CommandError> {
        let input = *self.engines.get(engine).ok_or_else(|| CommandError::NoSuchEngine(engine.to_owned()))?;
        let host = self.hosts.get(&input).ok_or(CommandError::Unavailable)?;
        let (reply, answer) = oneshot::channel();
        let request = Request::Command { engine: engine.to_owned(), command, reply };
        host.send(request).await.map_err(|_| CommandError::Unavailable)?;
        match tokio::time::timeout(ANSWER_WITHIN, answer).await {
            Ok(Ok(answer)) => answer,
            _ => Err(CommandError::Unavailable),
        }
    }

    /// What every engine of `kind` shows now, from every host; a host that does not answer in time
    /// is left out.
    pub async fn status(&self, kind: &str) -> Vec<Json> {
        let mut all = Vec::new();
        for host in self.hosts.values() {
            let (reply, answer) = oneshot::channel();
            if host.send(Request::Status { kind: kind.to_owned(), reply }).await.is_err() {
                continue;
            }
            if let Ok(Ok(mut rows)) = tokio::time::timeout(ANSWER_WITHIN, answer).await {
                all.append(&mut rows);
            }
        }
        all
    }

    /// Whether some engine is named `engine`.
    pub fn has(&self, engine: &str) -> bool {
        self.engines.contains_key(engine)
    }
}

/// One incarnation's hold on its host's end.
pub(crate) type Held = OwnedMutexGuard<mpsc::Receiver<Request>>;

/// Takes the host's end for one incarnation of the host.
pub(crate) async fn take(requests: &Option<Requests>) -> Option<Held> {
    match requests {
        Some(r) => Some(r.clone().lock_owned().await),
        None => None,
    }
}

/// Waits for the next request; never ready without a channel.
pub(crate) async fn next(requests: &mut Option<Held>) -> Request {
    match requests {
        Some(rx) => match rx.recv().await {
            Some(r) => r,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Carries out one request; `saved` runs after a command took effect and before its answer leaves, so
/// an acknowledged alarm is on disk when the operator hears it was acknowledged.
pub(crate) fn serve(
    set: &mut EngineSet,
    request: Request,
    now: Timestamp,
    out: &mut Emitter,
    saved: impl FnOnce(&EngineSet),
) {
    match request {
        Request::Command { engine, command, reply } => {
            let answer = set.command(&engine, now, &command, out);
            if answer.is_ok() {
                saved(set);
            }
            let _ = reply.send(answer);
        }
        Request::Status { kind, reply } => {
            let _ = reply.send(set.status(&kind));
        }
    }
}

/// The state of lossy engines that keep some (alarm acknowledgements and shelving), in
/// `<store>/engines/lossy.json`, replaced atomically and only when it changed: flash cells wear.
pub(crate) struct StateFile {
    path: PathBuf,
    last: Option<std::collections::BTreeMap<String, Json>>,
}

impl StateFile {
    pub fn new(path: PathBuf) -> StateFile {
        StateFile { path, last: None }
    }

    /// Gives the engines what was saved last time.
    pub fn restore(&mut self, set: &mut EngineSet) {
        match Checkpoint::load(&self.path) {
            Ok(Some(saved)) => {
                self.last = Some(saved.states.clone());
                set.restore(saved.states);
            }
            Ok(None) => {}
            Err(e) => tracing::error!("lossy engines: cannot read their saved state ({e}); they start fresh"),
        }
    }

    pub fn save(&mut self, set: &EngineSet) {
        let states = set.save();
        if self.last.as_ref() == Some(&states) {
            return;
        }
        let checkpoint = Checkpoint { position: 0, states };
        match checkpoint.save(&self.path) {
            Ok(()) => self.last = Some(checkpoint.states),
            Err(e) => tracing::warn!(
                "lossy engines: cannot save their state to {}: {e}; acknowledgements since the last save are lost at a restart",
                self.path.display()
            ),
        }
    }
}
