//! Settings of the local store.

use std::path::PathBuf;
use std::time::Duration;

/// Where the store lives and how it behaves.
///
/// Expired sessions are removed lazily by reads and in bulk by
/// [`SessionStore::purge`](tessera_store::SessionStore::purge); call
/// [`Sessions::purge`](tessera_store::Sessions::purge) on a timer (the
/// `tessera` server does, every `sessionStore.sessionMap.expirationInterval`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// The folder. Created (mode 0700) if missing.
    pub path: PathBuf,
    /// Touch coalescing window: a read persists `last_used` only when the
    /// stored value is at least this old. Zero persists every touch.
    /// Default: 60 s.
    pub touch_window: Duration,
}

impl LocalConfig {
    /// The default touch window.
    pub const DEFAULT_TOUCH_WINDOW: Duration = Duration::from_secs(60);

    /// Defaults for a store in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            touch_window: Self::DEFAULT_TOUCH_WINDOW,
        }
    }
}
