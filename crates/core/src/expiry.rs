//! When a session ends.

use crate::{Session, Timestamp};

/// The instant a session ends, or never.
///
/// Ordered so that every finite instant comes before [`Expiry::Never`]:
/// sorting sessions by expiry puts the next-expiring first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Expiry {
    /// The session ends at this instant (it is expired at and after it).
    At(Timestamp),
    /// All three terms are unlimited.
    Never,
}

impl Expiry {
    /// The earlier of two expiries.
    #[must_use]
    pub fn min(self, other: Self) -> Self {
        std::cmp::min(self, other)
    }

    /// An expiry from an optional instant (`None` meaning never).
    pub fn from_option(at: Option<Timestamp>) -> Self {
        at.map_or(Self::Never, Self::At)
    }

    /// The instant, if finite.
    pub fn at(self) -> Option<Timestamp> {
        match self {
            Self::At(t) => Some(t),
            Self::Never => None,
        }
    }

    /// Whether the session has ended at `now`. The expiry instant itself
    /// already counts as ended.
    pub fn has_passed(self, now: Timestamp) -> bool {
        matches!(self, Self::At(t) if now >= t)
    }
}

impl Session {
    /// The end of the session: the earliest of creation + `max_life`,
    /// authentication + `auth_life` and last use + `max_idle`, skipping
    /// unlimited terms.
    pub fn expiry(&self) -> Expiry {
        self.hard_expiry()
            .min(Expiry::from_option(self.last_used.plus(self.max_idle)))
    }

    /// The end of the session if it were used continuously: the earlier of
    /// the `max_life` and `auth_life` terms. Touching can never move the
    /// expiry past this instant.
    pub fn hard_expiry(&self) -> Expiry {
        Expiry::from_option(self.creation_time.plus(self.max_life))
            .min(Expiry::from_option(self.auth_time.plus(self.auth_life)))
    }

    /// Whether the session has ended at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expiry().has_passed(now)
    }

    /// Records a use of the session at `now`: moves `last_used` forward
    /// (never backward, so a late or reordered touch cannot shorten it).
    ///
    /// Touching an expired session does not revive it in any meaningful way;
    /// callers check [`Session::is_expired`] first.
    pub fn touch(&mut self, now: Timestamp) {
        self.last_used = self.last_used.max(now);
    }
}
