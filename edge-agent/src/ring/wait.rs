//! Parking layered over the lock-free core: the hot path touches the `Notify` only when a sleeper
//! counter says someone is parked, so pushes and reads stay atomics-only while nobody waits.

use tokio::sync::Notify;

use super::sync::{AtomicU64, Ordering, fence};

pub(crate) struct Waiters {
    notify: Notify,
    sleepers: AtomicU64,
}

/// Counts one parked task for as long as it lives, so a cancelled wait does not leave a phantom sleeper.
struct Sleeper<'a>(&'a AtomicU64);

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl Waiters {
    pub(crate) fn new() -> Self {
        Waiters { notify: Notify::new(), sleepers: AtomicU64::new(0) }
    }

    /// Called after the state change a sleeper may wait for. The SeqCst fence pairs with the one in
    /// `prepare`: either we see the sleeper, or the sleeper's re-check sees our change.
    pub(crate) fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Acquire) != 0 {
            self.notify.notify_waiters();
        }
    }

    /// Wakes everyone regardless of the counter (close, a reader leaving).
    pub(crate) fn wake_all(&self) {
        self.notify.notify_waiters();
    }

    /// Resolves once `ready()` holds, parking in between.
    pub(crate) async fn wait_until(&self, mut ready: impl FnMut() -> bool) {
        while !ready() {
            let parked = self.prepare();
            if ready() {
                return;
            }
            parked.notified.await;
        }
    }

    /// Like `wait_until`, for a check that needs `&mut` state the closure cannot borrow
    /// (a reader copying samples out): returns a guard to hold across the re-check and the await.
    pub(crate) fn prepare(&self) -> Parked<'_> {
        // Created before the counter goes up: tokio guarantees a `Notified` sees every
        // `notify_waiters` issued after its creation, even before it is first polled.
        let notified = self.notify.notified();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let sleeper = Sleeper(&self.sleepers);
        fence(Ordering::SeqCst);
        Parked { notified, _sleeper: sleeper }
    }
}

/// A registered sleeper: re-check the condition, then await `notified`.
pub(crate) struct Parked<'a> {
    pub(crate) notified: tokio::sync::futures::Notified<'a>,
    _sleeper: Sleeper<'a>,
}
