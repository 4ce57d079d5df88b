//! The randomness this crate consumes, injected by the caller.
//!
//! The crate never reads the operating system's random generator itself: every
//! function that needs fresh bytes takes a `&dyn SecureRandom`. Production code
//! passes an adapter over the OS generator (the store crate wraps
//! `ring::rand::SystemRandom`); tests pass
//! [`testkit::SeededRandom`](crate::testkit::SeededRandom) (feature
//! `testkit`) so every SID, nonce and token they produce is reproducible.
//!
//! ring's own `SecureRandom` trait is sealed, so a test cannot implement it;
//! this trait is the crate's seam instead.

use std::fmt;

/// A source of cryptographically secure random bytes.
///
/// Implementations must fill `dest` completely with unpredictable bytes or
/// return an error; a partial fill must be reported as an error.
pub trait SecureRandom: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// The random generator could not produce bytes.
///
/// It carries no detail on purpose: the callers can do nothing with one except
/// fail the operation, and an adapter keeps the underlying cause in its own
/// logs if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RandomError {
    _private: (),
}

impl RandomError {
    /// Creates the error; adapters over other generators map their failure to it.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the random generator failed")
    }
}

impl std::error::Error for RandomError {}
