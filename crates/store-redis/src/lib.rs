//! The Redis backend of Tessera's session store.
//!
//! [`RedisStore`] implements [`tessera_store::SessionStore`] on Redis —
//! standalone, Sentinel or Cluster — with [`fred`]:
//!
//! * a session is one compact value (a format header and MessagePack)
//!   whose key expiry (`PXAT`) is the session's current expiry; a subject's
//!   sessions are listed in a sorted set scored by hard expiry;
//! * a read is one plain `GET`, decided with the caller's clock; the use
//!   is written at most once per touch window (default 60 s), by one
//!   conditional script;
//! * every other operation is one Lua script, one round trip: create
//!   applies the quota decision atomically, update is compare-and-set on
//!   the version;
//! * a session's key and its subject's index share one Cluster hash tag,
//!   the subject tag the SID itself carries, so every script is single-slot
//!   and a lookup by SID knows its slot.
//!
//! The key layout, the scripts, TLS, sizing and failure behaviour are
//! described in `docs/backends/redis.md`.
//!
//! What it never does: it never sees a SID (only storage keys); it never
//! reads Redis' clock for a decision (time is the caller's `now`); it never
//! relies on keyspace notifications (the scripts and `purge` prune the
//! index); it never scans the keyspace on a request path (only `count` and
//! `purge` scan); it never logs keys or session contents; and an
//! unreachable Redis is always [`tessera_store::StoreError::Unavailable`],
//! never "not found".

mod config;
mod errors;
mod keys;
mod reply;
mod scripts;
mod store;
mod tls;
mod value;

pub use config::{
    ConnectionOptions, DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX,
    DEFAULT_POOL_SIZE, DEFAULT_PORT, DEFAULT_TOUCH_WINDOW, RedisConfig, RedisError, SentinelConfig,
};
pub use store::RedisStore;

/// The session value format this build writes, and the newest it reads
/// (docs/backends/redis.md, "The session value").
pub const VALUE_FORMAT: u8 = value::FORMAT;

/// Test support (feature `testkit`, test-only): the session value in the
/// documented layout, as a store writer can produce it without a store.
#[cfg(feature = "testkit")]
pub mod testkit {
    use tessera_core::Session;

    /// A session's whole value, as the scripts would store it.
    pub fn encode_value(session: &Session) -> Vec<u8> {
        crate::value::encode(session)
    }

    /// [`encode_value`] with the claim `deep` nested `depth` levels.
    pub fn encode_value_nested(session: &Session, depth: usize) -> Vec<u8> {
        crate::value::encode_nested(session, depth)
    }

    /// Decodes a session value as a read does (the bounds scans and the
    /// typed decode; no expiry decision): for benchmarks that take the
    /// read apart layer by layer.
    ///
    /// # Errors
    ///
    /// As a read: [`tessera_store::StoreError::Corrupt`] or
    /// [`tessera_store::StoreError::UnsupportedFormat`].
    pub fn decode_value(value: &[u8]) -> Result<Session, tessera_store::StoreError> {
        crate::value::decode(value)
    }
}
