//! [`RedisStore`]: the [`SessionStore`] contract on Redis.

use std::time::Duration;

use async_trait::async_trait;
use fred::clients::{Client, Pool};
use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};
use fred::types::config::{ReconnectPolicy, UnresponsiveConfig};
use fred::types::{Builder, Expiration, Key, Value};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use tessera_core::{
    CoreError, OnQuotaExhaustion, Policy, Session, Subject, Timestamp, TouchDecision, TouchWindow,
    decide_touch,
};
use tessera_crypto::{SessionRef, StorageKey, SubjectTag};
use tessera_store::backend::check_anonymous;
use tessera_store::{
    Created, LegacyAlias, PurgeReport, RevokeReport, SessionStore, StoreError, StoredSession, Touch,
};

use crate::config::{RedisConfig, RedisError};
use crate::errors::{is_unavailable, is_wrong_type, read_error, store_error, unexpected_reply};
use crate::keys::{self, Keys};
use crate::reply::{self, Reply};
use crate::scripts::{Script, Scripts};
use crate::value::{self, Limits};

mod connect;
mod housekeeping;
mod sessions;
mod subjects;

/// Pause between connection attempts in [`RedisStore::open`].
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Reconnection back-off after a lost connection: from 50 ms, doubling, up
/// to 1 s, forever. Commands meanwhile fail fast as unavailable.
const RECONNECT_MIN_MS: u32 = 50;
const RECONNECT_MAX_MS: u32 = 1_000;
/// Keys per `SCAN` page, and scripts in flight, for `count` and `purge`.
const SCAN_PAGE: u32 = 500;
const HOUSEKEEPING_CONCURRENCY: usize = 32;
/// The last byte offset a session read asks for (`GETRANGE 0 READ_CAP`):
/// one past [`tessera_store::backend::record::MAX_RECORD_BYTES`], so that a value
/// over the cap shows as such without being read whole.
const READ_CAP: usize = tessera_store::backend::record::MAX_RECORD_BYTES;

/// Sessions in Redis (standalone, Sentinel or Cluster).
///
/// A session is one compact value (docs/backends/redis.md). A read is one
/// plain `GETRANGE` (a `GET` bounded by the record size cap), decided with the caller's `now`; a touch is written (one
/// more round trip, a conditional script) only once the touch window has
/// passed since the stored last use. Every other operation is one Lua
/// script, one round trip (delete, list and delete by subject included);
/// `count` and `purge` scan the store's own keys (on every Cluster
/// primary). Every decision uses the `now` the caller passes, never Redis'
/// clock. While Redis is unreachable every
/// operation fails within the command timeout with
/// [`StoreError::Unavailable`], and the store reconnects by itself.
///
/// Created with [`RedisStore::open`]. Cloning is cheap and shares the
/// connections.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    keys: Keys,
    scripts: Scripts,
    clustered: bool,
    command_timeout: Duration,
    touch_window: TouchWindow,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("pool_size", &self.pool.size())
            .field("clustered", &self.clustered)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The Redis key of a session's hash, for operators and tests.
    pub fn session_key(&self, id: &SessionRef) -> String {
        self.keys.session(id)
    }

    /// The Redis key of a subject's index, for operators and tests.
    pub fn index_key(&self, subject: &Subject) -> String {
        self.keys.index(subject)
    }

    /// The store's own fred pool, configured as [`RedisStore::open`] does
    /// (feature `unstable-driver`, outside this crate's semver promise):
    /// for benchmarks that measure the driver under the store.
    #[cfg(feature = "unstable-driver")]
    pub fn fred_pool(&self) -> &Pool {
        &self.pool
    }

    /// The pool, while one of its connections is up; while every one is
    /// down and being re-established, [`StoreError::Unavailable`] at once,
    /// rather than queueing the command until the timeout. Commands go
    /// through the pool itself, which picks a connected client for each:
    /// picking one ahead of each command spread the commands evenly over
    /// the connections, so each connection wrote them one at a time, and
    /// cost a third of the read throughput (docs/performance.md, "The read,
    /// taken apart").
    fn client(&self, what: &'static str) -> Result<&Pool, StoreError> {
        if self.pool.clients().iter().any(ClientLike::is_connected) {
            Ok(&self.pool)
        } else {
            Err(disconnected(what))
        }
    }

    /// One connected client, for what must stay on one connection (a
    /// `SCAN` cursor).
    fn one_client(&self, what: &'static str) -> Result<&Client, StoreError> {
        let client = self.pool.next_connected();
        if client.is_connected() {
            Ok(client)
        } else {
            Err(disconnected(what))
        }
    }

    /// `command`, given up on as unavailable after the command timeout.
    /// Every command of the store goes through here. A command given up on
    /// may still run (one already sent, or one fred sends once a lost
    /// connection is back), as after any timeout: the caller learns
    /// nothing either way.
    async fn bounded<T>(
        &self,
        what: &'static str,
        command: impl Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, StoreError> {
        self.bounded_raw(command)
            .await
            .map_err(|e| store_error(what, e))
    }

    /// [`RedisStore::bounded`] with the driver's error, for callers that
    /// map it themselves.
    async fn bounded_raw<T>(
        &self,
        command: impl Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, fred::error::Error> {
        // Boxed: fred's futures are about 20 kB, and every future awaiting
        // one would otherwise be as large (and be moved whole).
        tokio::time::timeout(self.command_timeout, Box::pin(command))
            .await
            .unwrap_or_else(|_elapsed| {
                Err(fred::error::Error::new(
                    fred::error::ErrorKind::Timeout,
                    "no answer within the command timeout",
                ))
            })
    }

    async fn run(
        &self,
        script: &Script,
        what: &'static str,
        keys: Vec<Key>,
        args: Vec<Value>,
    ) -> Result<Value, StoreError> {
        self.bounded(what, script.run(self.client(what)?, keys, args))
            .await
    }

    fn session_ref(
        tag: SubjectTag,
        member: Value,
        what: &'static str,
    ) -> Result<SessionRef, StoreError> {
        let member = reply::text(member, what)?;
        let key: StorageKey = keys::parse_member(&member).ok_or_else(|| StoreError::Corrupt {
            reason: "a subject index entry is not a storage key".into(),
            source: None,
        })?;
        Ok(SessionRef::new(tag, key))
    }
}

/// The error while no connection is up.
fn disconnected(what: &'static str) -> StoreError {
    StoreError::unavailable(
        what,
        fred::error::Error::new(
            fred::error::ErrorKind::IO,
            "no connection to Redis (reconnecting)",
        ),
    )
}

/// The subject's tag must be the one in the session reference: that is
/// what keeps a session and its subject's index in one Cluster slot.
fn check_tag(id: &SessionRef, subject: &Subject) -> Result<(), StoreError> {
    // A pre-login session's tag is random: it has no subject to carry.
    if subject.is_anonymous() || SubjectTag::of(subject.as_str()) == id.tag() {
        Ok(())
    } else {
        Err(StoreError::Invalid(CoreError::Invalid {
            field: "sub",
            reason: "the session reference does not carry this subject's tag \
                     (the subject cannot change, and new SIDs carry their subject's tag)"
                .into(),
        }))
    }
}

fn arg(text: impl Into<String>) -> Value {
    Value::from(text.into())
}

fn key(text: String) -> Key {
    Key::from(text)
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(
        &self,
        id: &SessionRef,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        self.create_with_quota(id, session, policy, now).await
    }

    async fn create_anonymous(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.create_unindexed(id, session, now).await
    }

    async fn put_legacy_alias(
        &self,
        legacy: &StorageKey,
        alias: &LegacyAlias,
    ) -> Result<(), StoreError> {
        self.put_alias(legacy, alias).await
    }

    async fn legacy_alias(
        &self,
        legacy: &StorageKey,
        now: Timestamp,
    ) -> Result<Option<SessionRef>, StoreError> {
        self.read_alias(legacy, now).await
    }

    async fn get_and_touch(
        &self,
        id: &SessionRef,
        now: Timestamp,
        touch: Touch,
    ) -> Result<Option<Session>, StoreError> {
        self.read_and_touch(id, now, touch).await
    }

    async fn update(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        self.update_versioned(id, session, now).await
    }

    async fn delete(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.delete_one(id, now).await
    }

    async fn list_by_subject(
        &self,
        subject: &Subject,
        context: Option<&tessera_core::Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError> {
        self.list_subject(subject, context, now).await
    }

    async fn delete_by_subject(
        &self,
        subject: &Subject,
        context: Option<&tessera_core::Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        self.delete_subject(subject, context, now).await
    }

    async fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.count_live(now).await
    }

    async fn delete_all(&self, now: Timestamp) -> Result<RevokeReport, StoreError> {
        self.delete_everything(now).await
    }

    async fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        self.purge_all(now).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.ping_backend().await
    }
}
