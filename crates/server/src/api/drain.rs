//! Counting request handlers still running, so that shutdown can wait for
//! the ones no connection is waiting for any more (timed out, or abandoned
//! by a client that hung up).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// The handlers running under one [`serve`](super::serve) call. `serve`
/// puts it in every request's extensions; the edge middleware holds a
/// [`Running`] guard for as long as the handler runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    idle: Notify,
}

/// One running handler; dropping it marks the handler finished.
#[derive(Debug)]
pub(crate) struct Running(Arc<Inner>);

impl InFlight {
    /// Marks a handler as running until the guard is dropped.
    pub(crate) fn enter(&self) -> Running {
        self.0.running.fetch_add(1, Ordering::SeqCst);
        Running(Arc::clone(&self.0))
    }

    /// Waits until no handler runs, or `limit` has passed; returns how many
    /// are still running.
    pub(crate) async fn drained(&self, limit: Duration) -> usize {
        let wait = async {
            loop {
                let notified = self.0.idle.notified();
                if self.0.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        // On timeout, the count below says how many are left.
        let _ = tokio::time::timeout(limit, wait).await;
        self.0.running.load(Ordering::SeqCst)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_every_guard() {
        let in_flight = InFlight::default();
        assert_eq!(in_flight.drained(Duration::from_secs(1)).await, 0);
        let a = in_flight.enter();
        let b = in_flight.enter();
        let waiter = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.drained(Duration::from_secs(60)).await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        assert_eq!(waiter.await.unwrap(), 0);
    }

    #[tokio::test]
    async fn gives_up_after_the_limit() {
        let in_flight = InFlight::default();
        let _stuck = in_flight.enter();
        assert_eq!(in_flight.drained(Duration::from_millis(10)).await, 1);
    }
}
