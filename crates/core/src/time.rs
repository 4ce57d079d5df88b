//! Points in time, as milliseconds since the Unix epoch.

use crate::Lifetime;

/// A point in time: milliseconds since the Unix epoch (UTC).
///
/// Sessions keep millisecond precision internally; the JSON representation
/// of a [`Session`](crate::Session) uses whole seconds, like the reference
/// session store API. Arithmetic saturates instead of overflowing, so an
/// absurd lifetime can never wrap around into the past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

const MILLIS_PER_SECOND: i64 = 1_000;
const MILLIS_PER_MINUTE: i64 = 60_000;

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);

    /// A timestamp from milliseconds since the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// A timestamp from whole seconds since the epoch (saturating).
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(MILLIS_PER_SECOND))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded towards the past.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(MILLIS_PER_SECOND)
    }

    /// This instant plus a number of milliseconds (saturating).
    #[must_use]
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// This instant plus a lifetime; `None` if the lifetime is unlimited.
    pub fn plus(self, lifetime: Lifetime) -> Option<Self> {
        lifetime
            .minutes()
            .map(|m| self.plus_millis(i64::from(m.get()).saturating_mul(MILLIS_PER_MINUTE)))
    }
}
