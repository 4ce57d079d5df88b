//! Per-subject mutual exclusion across threads and processes.
//!
//! 256 lock files (stripes); a subject's stripe is the first byte of its
//! hash. An in-process mutex per stripe orders this process's threads (an
//! `flock` is shared by every thread holding the same open file), and an
//! exclusive `flock` on the stripe's file orders processes sharing the
//! folder. The kernel drops an `flock` when its holder dies, so a crashed
//! process never leaves a subject locked.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tessera_store::StoreError;

use crate::files::io_error;
use crate::layout::Layout;

pub(crate) struct Stripes {
    stripes: Vec<Mutex<Option<File>>>,
}

/// Holds a stripe: the in-process mutex and the file lock, released on drop.
pub(crate) struct StripeGuard<'a> {
    guard: MutexGuard<'a, Option<File>>,
}

impl Stripes {
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..=u8::MAX).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Blocks until this thread holds `stripe` exclusively in every process.
    pub(crate) fn lock(&self, layout: &Layout, stripe: u8) -> Result<StripeGuard<'_>, StoreError> {
        let mut guard = self.stripes[usize::from(stripe)]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            let path = layout.lock(stripe);
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| io_error(&format!("opening lock file {}", path.display()), e))?;
            *guard = Some(file);
        }
        guard
            .as_ref()
            .expect("opened above")
            .lock()
            .map_err(|e| io_error("taking a subject lock", e))?;
        Ok(StripeGuard { guard })
    }
}

impl Drop for StripeGuard<'_> {
    fn drop(&mut self) {
        if let Some(file) = self.guard.as_ref() {
            // Failing to unlock leaves the lock to the kernel, which drops it
            // when the file is closed; nothing better can be done in a drop.
            let _ = file.unlock();
        }
    }
}
