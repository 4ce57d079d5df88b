//! The local folder backend: Tessera's embedded default.
//!
//! One JSON file per session under `<path>/sessions/<shard>/<ref>`, one index
//! file per subject under `<path>/subjects/<shard>/<subject hash>`, one small
//! alias file per imported legacy SID under `<path>/legacy/<shard>/`, and
//! lock files under `<path>/locks/` (created on demand, at most 256) that
//! serialise changes to a subject's sessions across threads *and* processes
//! sharing the folder. Every write
//! is a temporary file, `fsync`, `rename` and a directory `fsync`, so a crash
//! leaves either the old or the new file, never a torn one.
//!
//! What it guarantees, what it does not, and when to move to Redis or
//! DynamoDB: `docs/backends/local.md`.
//!
//! This crate never reads the clock (every operation takes `now`). Expired
//! sessions are removed lazily by reads and in bulk by `purge`, which the
//! caller runs on a timer.

mod config;
mod error;
mod files;
mod index;
mod layout;
mod locks;
mod store;

pub use config::LocalConfig;
pub use error::LocalError;
pub use store::LocalStore;
