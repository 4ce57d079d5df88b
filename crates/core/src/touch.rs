//! The one decision a read takes about `last_used`: whether a touch moves
//! it, and whether the move must be written back now or can wait.
//!
//! Stores coalesce touches: a read persists `last_used` only when the
//! window has passed since the stored value, and otherwise answers with the
//! moved value without writing it. A lost (or not yet written) touch can
//! only make a session idle out earlier, never later. Every backend asks
//! this function, so they cannot drift apart in their arithmetic.

use crate::Timestamp;

/// How long a store may leave a touch unwritten, in milliseconds
/// (`tokenizer.touch_window_ms`). Zero writes every touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TouchWindow(u32);

impl TouchWindow {
    /// The longest window accepted: one hour.
    pub const MAX_MILLIS: u32 = 3_600_000;
    /// The default window of every store: one minute.
    pub const DEFAULT: Self = Self(60_000);
    /// No coalescing: every touch is written.
    pub const NONE: Self = Self(0);

    /// A window of `millis`, capped at [`TouchWindow::MAX_MILLIS`].
    pub fn from_millis(millis: u64) -> Self {
        Self(u32::try_from(millis.min(u64::from(Self::MAX_MILLIS))).unwrap_or(Self::MAX_MILLIS))
    }

    /// The window in milliseconds.
    pub fn as_millis(self) -> u64 {
        u64::from(self.0)
    }
}

/// What a read with a touch does to a live session's `last_used`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchDecision {
    /// `now` is not after the stored last use: nothing moves.
    Unchanged,
    /// The answer carries `last_used = now`; the store writes nothing yet
    /// (the window has not passed since the stored value).
    Coalesced,
    /// The window has passed: the store writes `last_used = now`.
    Write,
}

impl TouchDecision {
    /// Whether the answer's `last_used` moves to `now`.
    pub fn moves(self) -> bool {
        !matches!(self, Self::Unchanged)
    }
}

/// Decides a touch at `now` of a session whose stored last use is
/// `last_used`, for a store that coalesces within `window`.
///
/// Saturating arithmetic: no instant, however far in the past or future,
/// overflows.
pub fn decide_touch(now: Timestamp, last_used: Timestamp, window: TouchWindow) -> TouchDecision {
    if now <= last_used {
        return TouchDecision::Unchanged;
    }
    let since = now.as_millis().saturating_sub(last_used.as_millis());
    if u64::try_from(since).unwrap_or(u64::MAX) >= window.as_millis() {
        TouchDecision::Write
    } else {
        TouchDecision::Coalesced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn a_touch_is_written_once_the_window_has_passed() {
        let w = TouchWindow::DEFAULT;
        assert_eq!(
            decide_touch(at(1_000), at(1_000), w),
            TouchDecision::Unchanged
        );
        assert_eq!(
            decide_touch(at(999), at(1_000), w),
            TouchDecision::Unchanged
        );
        assert_eq!(
            decide_touch(at(60_999), at(1_000), w),
            TouchDecision::Coalesced
        );
        assert_eq!(decide_touch(at(61_000), at(1_000), w), TouchDecision::Write);
    }

    #[test]
    fn a_zero_window_writes_every_move_and_extremes_do_not_overflow() {
        assert_eq!(
            decide_touch(at(2), at(1), TouchWindow::NONE),
            TouchDecision::Write
        );
        assert_eq!(
            decide_touch(at(i64::MAX), at(i64::MIN), TouchWindow::DEFAULT),
            TouchDecision::Write
        );
        assert_eq!(
            decide_touch(at(i64::MIN), at(i64::MAX), TouchWindow::DEFAULT),
            TouchDecision::Unchanged
        );
        assert_eq!(TouchWindow::from_millis(u64::MAX).as_millis(), 3_600_000);
    }
}
