//! The production random number generator.

use tessera_crypto::{RandomError, SecureRandom};

/// The operating system's CSPRNG (ring's `SystemRandom`), behind
/// tessera-crypto's injectable [`SecureRandom`] trait.
#[derive(Debug, Clone)]
pub struct SystemRandom(ring::rand::SystemRandom);

impl SystemRandom {
    /// The OS generator.
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place where production code reaches the OS RNG"
    )]
    pub fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl SecureRandom for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        ring::rand::SecureRandom::fill(&self.0, dest).map_err(|_| RandomError::new())
    }
}
