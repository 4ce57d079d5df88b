//! Test helpers (feature `testkit`, test-only; the crate's own tests have
//! them too). Nothing here is for production: enabling the feature changes
//! no behaviour of the library.

use std::fmt;
use std::sync::Mutex;

use ring::digest;

use crate::{RandomError, SecureRandom};

/// A deterministic generator for tests and benchmarks. **Predictable: never use
/// it for real keys, SIDs, nonces or tokens.**
///
/// The output stream is SHA-256 in counter mode over the seed:
/// block *i* is `SHA-256("tessera/seeded-random/v1\0" || seed || i as u64 BE)`.
/// The same seed always yields the same stream, which is the point: a test that
/// mints a SID or seals a credential can be replayed exactly. Anyone who knows
/// the seed knows every byte it will ever produce.
pub struct SeededRandom {
    seed: Vec<u8>,
    state: Mutex<StreamState>,
}

struct StreamState {
    counter: u64,
    block: [u8; 32],
    used: usize,
}

const SEEDED_RANDOM_LABEL: &[u8] = b"tessera/seeded-random/v1\0";

impl SeededRandom {
    /// Creates a generator whose whole output is determined by `seed`.
    pub fn new(seed: &[u8]) -> Self {
        Self {
            seed: seed.to_vec(),
            state: Mutex::new(StreamState {
                counter: 0,
                block: [0; 32],
                // Marks the (empty) first block as consumed.
                used: 32,
            }),
        }
    }

    fn next_block(&self, counter: u64) -> [u8; 32] {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(SEEDED_RANDOM_LABEL);
        ctx.update(&self.seed);
        ctx.update(&counter.to_be_bytes());
        let mut block = [0; 32];
        block.copy_from_slice(ctx.finish().as_ref());
        block
    }
}

impl SecureRandom for SeededRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        let mut state = self.state.lock().map_err(|_| RandomError::new())?;
        for byte in dest.iter_mut() {
            if state.used == state.block.len() {
                let counter = state.counter;
                state.block = self.next_block(counter);
                state.counter = counter.checked_add(1).ok_or(RandomError::new())?;
                state.used = 0;
            }
            *byte = state.block[state.used];
            state.used += 1;
        }
        Ok(())
    }
}

impl fmt::Debug for SeededRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeededRandom").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_regardless_of_chunking() {
        let a = SeededRandom::new(b"seed");
        let b = SeededRandom::new(b"seed");
        let mut whole = [0u8; 100];
        a.fill(&mut whole).unwrap();
        let mut pieces = [0u8; 100];
        for chunk in pieces.chunks_mut(7) {
            b.fill(chunk).unwrap();
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn different_seeds_differ() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        SeededRandom::new(b"one").fill(&mut a).unwrap();
        SeededRandom::new(b"two").fill(&mut b).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn consecutive_fills_differ() {
        let rng = SeededRandom::new(b"seed");
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        rng.fill(&mut a).unwrap();
        rng.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
