//! The platform's commands while no record is on its way (a re-send request at night, a 1062 between
//! uploads): a listener beside the sender on the same session, so the platform is answered within
//! `LISTEN` rather than after the next upload's 9014.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Platform, Session, now_ms};

/// How long the listener holds the session per turn: an upload waits at most this long for it.
const LISTEN: Duration = Duration::from_millis(200);
/// The gap between turns, in which the sender takes the session first.
const GAP: Duration = Duration::from_millis(50);

/// Runs the listener beside `sender` as one task: the uplink ends when the sender ends; a listener that
/// crashed (a bug) ends the uplink with why, so the runtime's supervisor shows it and restarts it.
pub fn spawn_beside(
    platform: Arc<Platform>,
    stop: watch::Receiver<bool>,
    name: String,
    sender: JoinHandle<Result<(), String>>,
) -> JoinHandle<Result<(), String>> {
    let listener = tokio::spawn(listen(platform, stop));
    tokio::spawn(async move {
        let (mut sender, mut listener) = (Abort(sender), Abort(listener));
        tokio::select! {
            r = &mut sender.0 => r.unwrap_or_else(|e| Err(format!("uplink {name}: its sender ended ({e})"))),
            r = &mut listener.0 => match r {
                Ok(()) => (&mut sender.0)
                    .await
                    .unwrap_or_else(|e| Err(format!("uplink {name}: its sender ended ({e})"))),
                Err(e) => Err(format!(
                    "uplink {name}: its command listener crashed ({e}; a bug: please report it); it restarts from its saved position"
                )),
            },
        }
    })
}

/// Aborts the task when dropped: aborting the uplink aborts both halves.
struct Abort<T>(JoinHandle<T>);

impl<T> Drop for Abort<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn listen(p: Arc<Platform>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        {
            let mut guard = p.session.lock().await;
            let Session { link, settings, .. } = &mut *guard;
            if let Some(l) = link.as_mut() {
                let heard = match l.idle(&p.t, settings, Instant::now() + LISTEN, now_ms).await {
                    Ok(()) => p.serve_history(l, settings).await,
                    Err(e) => Err(e),
                };
                p.count(l);
                if let Err(e) = heard {
                    tracing::warn!(platform = %p.t.address, "hj212: session lost while idle ({e:?}); the next upload reconnects");
                    p.lose(link);
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(GAP) => {}
            // The generation is gone without saying stop: nothing left to listen for.
            r = stop.changed() => if r.is_err() { return },
        }
    }
}
