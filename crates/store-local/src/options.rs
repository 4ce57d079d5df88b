//! Settings of the local store.

use std::path::PathBuf;
use std::time::Duration;

/// Where the store lives and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    /// The folder. Created (mode 0700) if missing.
    pub path: PathBuf,
    /// Touch coalescing window: a read persists `last_used` only when the
    /// stored value is at least this old. Zero persists every touch.
    /// Default: 60 s.
    pub touch_window: Duration,
    /// How often the sweeper removes expired sessions; zero turns it off
    /// (matching `sessionStore.sessionMap.expirationInterval = 0`).
    /// Default: 60 s.
    pub sweep_interval: Duration,
}

impl LocalOptions {
    /// The default touch window.
    pub const DEFAULT_TOUCH_WINDOW: Duration = Duration::from_secs(60);
    /// The default sweep interval.
    pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

    /// Defaults for a store in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            touch_window: Self::DEFAULT_TOUCH_WINDOW,
            sweep_interval: Self::DEFAULT_SWEEP_INTERVAL,
        }
    }
}
