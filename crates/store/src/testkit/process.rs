//! A child process that a test owns: killed and reaped when the test lets
//! go of it, also when the test fails, so no server outlives its test.

use std::ops::{Deref, DerefMut};
use std::process::Child;

/// `Child`, killed and waited for on drop.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Deref for KillOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Already gone is fine: the test may have ended it itself.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
