//! The background task that removes expired sessions.

use std::sync::Arc;

use tessera_store::{Clock, SessionStore};
use tokio::task::JoinHandle;

use crate::LocalStore;

impl LocalStore {
    /// Starts the sweeper: every `sweep_interval` it purges expired sessions
    /// and stale index entries. Returns `None` when the interval is zero
    /// (sweeping off; reads still delete expired sessions lazily).
    ///
    /// Must be called within a Tokio runtime. The task runs until aborted.
    pub fn spawn_sweeper(self: &Arc<Self>, clock: Arc<dyn Clock>) -> Option<JoinHandle<()>> {
        let interval = self.inner().options.sweep_interval;
        if interval.is_zero() {
            return None;
        }
        let store = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                match store.purge(clock.now()).await {
                    Ok(report) if report.sessions + report.index_entries > 0 => tracing::info!(
                        sessions = report.sessions,
                        index_entries = report.index_entries,
                        "swept expired sessions"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "sweeping expired sessions failed"),
                }
            }
        }))
    }
}
