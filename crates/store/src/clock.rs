//! Where time comes from.

#[cfg(feature = "testkit")]
use std::sync::atomic::{AtomicI64, Ordering};

use tessera_core::Timestamp;

/// A source of the current time. Read at the edges (the [`Sessions`]
/// service, sweeper tasks) and passed down as `now`.
///
/// [`Sessions`]: crate::Sessions
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place where production code reads the wall clock"
    )]
    fn now(&self) -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to, for deterministic tests
/// (feature `testkit`: [`testkit::MockClock`](crate::testkit::MockClock)).
#[cfg(feature = "testkit")]
#[derive(Debug)]
pub struct MockClock(AtomicI64);

#[cfg(feature = "testkit")]
impl MockClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.as_millis()))
    }

    /// Moves the clock forward by `millis`.
    pub fn advance_millis(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }

    /// Moves the clock forward by `minutes`.
    pub fn advance_minutes(&self, minutes: i64) {
        self.advance_millis(minutes * 60_000);
    }

    /// Sets the clock.
    pub fn set(&self, to: Timestamp) {
        self.0.store(to.as_millis(), Ordering::SeqCst);
    }
}

#[cfg(feature = "testkit")]
impl Clock for MockClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}
