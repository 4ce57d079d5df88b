//! [`RedisStore`]: the [`SessionStore`] contract on Redis.

use std::time::Duration;

use async_trait::async_trait;
use fred::clients::{Client, Pool};
use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};
use fred::types::config::ReconnectPolicy;
use fred::types::{Builder, Expiration, Key, Value};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use tessera_core::{
    CoreError, OnQuotaExhaustion, Policy, Session, Subject, Timestamp, TouchDecision, TouchWindow,
    decide_touch,
};
use tessera_crypto::{SessionRef, StorageKey, SubjectTag};
use tessera_store::{
    Created, LegacyAlias, PurgeReport, RevokeReport, SessionStore, StoreError, StoredSession, Touch,
};

use crate::config::{RedisConfig, RedisError};
use crate::errors::{is_unavailable, is_wrong_type, read_error, store_error, unexpected_reply};
use crate::keys::{self, Keys};
use crate::reply::{self, Reply};
use crate::scripts::{Script, Scripts};
use crate::value::{self, Limits};

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
/// one past [`tessera_store::record::MAX_RECORD_BYTES`], so that a value
/// over the cap shows as such without being read whole.
const READ_CAP: usize = tessera_store::record::MAX_RECORD_BYTES;

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
    /// Connects to Redis and loads the scripts.
    ///
    /// Retries for up to `connect_timeout_ms` while Redis does not answer,
    /// then fails with [`RedisError::Unreachable`]. A configuration that
    /// cannot work fails at once naming the setting, and a refusal (a
    /// wrong password, an untrusted certificate) with
    /// [`RedisError::Refused`].
    ///
    /// ```
    /// use tessera_store_redis::{RedisConfig, RedisStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tessera_store_redis::RedisError> {
    /// # // `cargo xtask test` starts a Redis and names it here.
    /// # let url = std::env::var("TESSERA_TEST_REDIS_URL")
    /// #     .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    /// let mut config = RedisConfig::from_url(url);
    /// config.key_prefix = "myapp:sessions:".to_owned();
    /// let store = RedisStore::open(&config).await?;
    /// # drop(store);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RedisError`], as above.
    pub async fn open(config: &RedisConfig) -> Result<Self, RedisError> {
        let fred_config = config.fred_config()?;
        let clustered = fred_config.server.is_clustered();
        let command_timeout = config.command_timeout;
        let connect_timeout = config.connect_timeout;
        let mut builder = Builder::from_config(fred_config);
        builder
            .with_connection_config(|c| {
                c.connection_timeout = connect_timeout;
                c.internal_command_timeout = command_timeout.max(connect_timeout);
                // A script is never sent twice: a create retried after a lost
                // reply would report "already exists" for its own session.
                c.max_command_attempts = 1;
                c.tcp.nodelay = Some(true);
            })
            .with_performance_config(|p| {
                p.default_command_timeout = command_timeout;
            })
            .set_policy(ReconnectPolicy::new_exponential(
                0,
                RECONNECT_MIN_MS,
                RECONNECT_MAX_MS,
                2,
            ));

        let deadline = tokio::time::Instant::now() + connect_timeout;
        let mut last_error = None;
        let pool = loop {
            let pool = builder
                .build_pool(config.pool_size)
                .map_err(|e| RedisError::invalid("pool_size", e.details().to_owned()))?;
            let attempt = tokio::time::timeout_at(deadline, pool.init()).await;
            match attempt {
                Ok(Ok(_connection_task)) => break pool,
                Ok(Err(e)) if is_unavailable(&e) && tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "Redis not reachable yet; retrying");
                    let _ = pool.quit().await;
                    last_error = Some(e);
                    tokio::time::sleep(CONNECT_RETRY_PAUSE).await;
                }
                Ok(Err(e)) => {
                    let _ = pool.quit().await;
                    return Err(RedisError::from_driver("connecting", e));
                }
                Err(_elapsed) => {
                    let _ = pool.quit().await;
                    let what = "connecting (gave up after connect_timeout_ms)";
                    return Err(match last_error {
                        Some(e) => RedisError::from_driver(what, e),
                        None => RedisError::Unreachable {
                            what,
                            source: fred::error::Error::new(
                                fred::error::ErrorKind::Timeout,
                                "no connection within the connect timeout",
                            ),
                        },
                    });
                }
            }
        };
        pool.prefer_connected(true);

        let store = Self {
            pool,
            keys: Keys::new(&config.key_prefix),
            scripts: Scripts::new(),
            clustered,
            command_timeout,
            touch_window: TouchWindow::from_millis(
                u64::try_from(config.touch_window.as_millis()).unwrap_or(u64::MAX),
            ),
        };
        store.load_scripts().await?;
        Ok(store)
    }

    /// Loads every script into the server's script cache (every primary
    /// under Cluster). Not needed for correctness — a `NOSCRIPT` reply is
    /// answered by sending the script — but it keeps the first calls at one
    /// round trip.
    async fn load_scripts(&self) -> Result<(), RedisError> {
        const WHAT: &str = "loading the session scripts";
        let client = self.pool.next_connected();
        for script in self.scripts.all() {
            let loaded = if self.clustered {
                client
                    .script_load_cluster::<Value, _>(script.source().to_owned())
                    .await
            } else {
                client
                    .script_load::<Value, _>(script.source().to_owned())
                    .await
            };
            loaded.map_err(|e| RedisError::from_driver(WHAT, e))?;
        }
        Ok(())
    }

    /// The Redis key of a session's hash, for operators and tests.
    pub fn session_key(&self, id: &SessionRef) -> String {
        self.keys.session(id)
    }

    /// The Redis key of a subject's index, for operators and tests.
    pub fn index_key(&self, subject: &Subject) -> String {
        self.keys.index(subject)
    }

    /// The store's Lua scripts (names, SHA-1s and text), e.g. to replay one
    /// with `redis-benchmark`. For the crate's benchmarks, not the API.
    #[doc(hidden)]
    pub fn scripts(&self) -> &Scripts {
        &self.scripts
    }

    /// A connected client, or — while every connection is down and being
    /// re-established — [`StoreError::Unavailable`] at once, rather than
    /// queueing the command until the timeout.
    fn client(&self, what: &'static str) -> Result<&Client, StoreError> {
        let client = self.pool.next_connected();
        if client.is_connected() {
            Ok(client)
        } else {
            Err(StoreError::unavailable(
                what,
                fred::error::Error::new(
                    fred::error::ErrorKind::IO,
                    "no connection to Redis (reconnecting)",
                ),
            ))
        }
    }

    async fn run(
        &self,
        script: &Script,
        what: &'static str,
        keys: Vec<Key>,
        args: Vec<Value>,
    ) -> Result<Value, StoreError> {
        script
            .run(self.client(what)?, keys, args)
            .await
            .map_err(|e| store_error(what, e))
    }

    /// Streams the keys matching `pattern` (on every primary under
    /// Cluster). Each page must arrive within the command timeout.
    fn scan(
        &self,
        what: &'static str,
        pattern: String,
    ) -> Result<BoxStream<'static, Result<Key, StoreError>>, StoreError> {
        let client = self.client(what)?.clone();
        let keys = if self.clustered {
            client
                .scan_cluster_buffered(pattern, Some(SCAN_PAGE), None)
                .boxed()
        } else {
            client.scan_buffered(pattern, Some(SCAN_PAGE), None).boxed()
        };
        let timeout = self.command_timeout;
        let bounded = futures::stream::unfold(Some(keys), move |state| async move {
            let mut keys = state?;
            match tokio::time::timeout(timeout, keys.next()).await {
                Ok(Some(Ok(key))) => Some((Ok(key), Some(keys))),
                Ok(Some(Err(e))) => Some((Err(store_error(what, e)), None)),
                Ok(None) => None,
                Err(elapsed) => Some((Err(StoreError::unavailable(what, elapsed)), None)),
            }
        });
        Ok(bounded.boxed())
    }

    /// Runs `script` on every session hash of the store (found by `SCAN`,
    /// on every primary of a Cluster), a bounded number at a time, with the
    /// arguments each per-session script takes: `now`, the index key prefix
    /// of the session's tag and its index member. Yields the replies.
    fn on_every_session<'a>(
        &'a self,
        what: &'static str,
        script: &'a Script,
        now: Timestamp,
    ) -> Result<impl futures::Stream<Item = Result<Value, StoreError>> + 'a, StoreError> {
        let now_arg = now.as_millis().to_string();
        Ok(self
            .scan(what, self.keys.session_pattern())?
            .try_filter_map(|k| {
                futures::future::ready(Ok(k.as_str().and_then(|s| self.keys.parse_session(s))))
            })
            .map_ok(move |id| {
                let args = vec![
                    arg(now_arg.clone()),
                    arg(self.keys.index_prefix(id.tag())),
                    arg(keys::member(&id.storage_key())),
                ];
                let keys = vec![key(self.keys.session(&id))];
                self.run(script, what, keys, args)
            })
            .try_buffer_unordered(HOUSEKEEPING_CONCURRENCY))
    }

    /// Writes a due touch: the touch script, which moves `last_used` to
    /// `now` and the key's expiry with it unless the session changed since
    /// `read` was read.
    async fn write_touch(
        &self,
        key_name: String,
        read: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        const WHAT: &str = "recording a session's use";
        let args = vec![
            arg(now.as_millis().to_string()),
            arg(read.version.to_string()),
        ];
        let value = self
            .run(&self.scripts.touch, WHAT, vec![key(key_name)], args)
            .await?;
        let reply = Reply::parse(value, WHAT)?;
        match reply.status() {
            // Gone since the read (a logout, or it expired meanwhile): the
            // read stands; the next one will not find it.
            "ok" | "none" => Ok(()),
            "corrupt" => Err(reply::damaged()),
            "older" => Err(value::older_layout()),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
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

/// The subject's tag must be the one in the session reference: that is
/// what keeps a session and its subject's index in one Cluster slot.
fn check_tag(id: &SessionRef, subject: &Subject) -> Result<(), StoreError> {
    if SubjectTag::of(subject.as_str()) == id.tag() {
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
        const WHAT: &str = "creating a session";
        check_tag(id, &session.subject)?;
        let limits = Limits::of(session);
        let rule = match policy.on_quota_exhaustion {
            OnQuotaExhaustion::DenyLogin => "deny",
            OnQuotaExhaustion::CloseOldSession => "close",
        };
        let keys = vec![
            key(self.keys.session(id)),
            key(self.keys.index(&session.subject)),
        ];
        let args = vec![
            arg(now.as_millis().to_string()),
            arg(policy.quota_per_subject.get().to_string()),
            arg(rule),
            Value::Bytes(value::body(session).into()),
            arg(limits.last_used),
            arg(limits.max_idle),
            arg(limits.hard_expiry),
            arg(session.version.to_string()),
            arg(keys::subject_hash(&session.subject)),
            arg(session.context.as_str()),
            arg(self.keys.session_prefix(id.tag())),
            arg(keys::member(&id.storage_key())),
            arg(self.keys.index_prefix(id.tag())),
            arg(session
                .signer
                .map_or_else(String::new, |g| g.get().to_string())),
            arg(policy
                .signers
                .ids()
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")),
        ];
        let reply = Reply::parse(
            self.run(&self.scripts.create, WHAT, keys, args).await?,
            WHAT,
        )?;
        match reply.status() {
            "ok" => {
                let closed = reply
                    .into_values()
                    .into_iter()
                    .map(|m| Self::session_ref(id.tag(), m, WHAT))
                    .collect::<Result<_, _>>()?;
                Ok(Created { closed })
            }
            "exists" => Err(StoreError::AlreadyExists),
            "quota" => Err(StoreError::QuotaExhausted {
                quota: policy.quota_per_subject.get(),
            }),
            "corrupt" => Err(StoreError::Corrupt {
                reason: "a session of this subject has a damaged value; \
                         the quota cannot be decided"
                    .into(),
                source: None,
            }),
            "older" => Err(value::older_layout()),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }

    /// One `SET` with `PXAT` at the alias's expiry, so Redis forgets it on
    /// its own; in a Cluster the alias lives in whatever slot its key
    /// hashes to, apart from the session (which stays in its subject's slot).
    async fn put_legacy_alias(
        &self,
        legacy: &StorageKey,
        alias: &LegacyAlias,
    ) -> Result<(), StoreError> {
        const WHAT: &str = "writing a legacy SID alias";
        let expire = alias.expires.map(|t| Expiration::PXAT(t.as_millis()));
        self.client(WHAT)?
            .set::<Value, _, _>(
                self.keys.legacy_alias(legacy),
                alias.encode(),
                expire,
                None,
                false,
            )
            .await
            .map(drop)
            .map_err(|e| store_error(WHAT, e))
    }

    async fn legacy_alias(
        &self,
        legacy: &StorageKey,
        now: Timestamp,
    ) -> Result<Option<SessionRef>, StoreError> {
        const WHAT: &str = "reading a legacy SID alias";
        let stored: Option<String> = self
            .client(WHAT)?
            .get(self.keys.legacy_alias(legacy))
            .await
            .map_err(|e| store_error(WHAT, e))?;
        let Some(text) = stored else {
            return Ok(None);
        };
        let alias = LegacyAlias::decode(text.as_bytes())?;
        Ok((!alias.is_expired(now)).then_some(alias.id))
    }

    /// One `GET`; the expiry is decided here with `now`. With
    /// [`Touch::Yes`], once the touch window has passed since the stored
    /// last use, one more round trip writes it (the touch script, which
    /// changes nothing if the session was updated or touched since).
    async fn get_and_touch(
        &self,
        id: &SessionRef,
        now: Timestamp,
        touch: Touch,
    ) -> Result<Option<Session>, StoreError> {
        const WHAT: &str = "reading a session";
        let client = self.client(WHAT)?;
        let key = self.keys.session(id);
        // At most one byte over the cap: a larger value is refused without
        // reading the rest of it. A missing key reads as the empty string,
        // which no session value is.
        let stored: Value = client
            .getrange(&key, 0, READ_CAP)
            .await
            .map_err(|e| read_error(WHAT, e))?;
        if stored.is_null() || stored.as_bytes().is_some_and(<[u8]>::is_empty) {
            return Ok(None);
        }
        let mut session = value::decode(&reply::bytes(stored, WHAT)?)?;
        if session.is_expired(now) {
            return Ok(None);
        }
        if touch == Touch::Skip {
            return Ok(Some(session));
        }
        let decision = decide_touch(now, session.last_used, self.touch_window);
        if decision == TouchDecision::Write {
            self.write_touch(key, &session, now).await?;
        }
        if decision.moves() {
            session.touch(now);
        }
        Ok(Some(session))
    }

    async fn update(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        const WHAT: &str = "updating a session";
        check_tag(id, &session.subject)?;
        let mut next = session.clone();
        next.version = session.version.checked_add(1).ok_or_else(|| {
            StoreError::Invalid(CoreError::Invalid {
                field: "version",
                reason: "is at its maximum".into(),
            })
        })?;
        let limits = Limits::of(&next);
        let keys = vec![
            key(self.keys.session(id)),
            key(self.keys.index(&session.subject)),
        ];
        let args = vec![
            arg(now.as_millis().to_string()),
            arg(session.version.to_string()),
            arg(next.version.to_string()),
            Value::Bytes(value::body(&next).into()),
            arg(limits.last_used),
            arg(limits.max_idle),
            arg(limits.hard_expiry),
            arg(keys::subject_hash(&session.subject)),
            arg(session.context.as_str()),
            arg(keys::member(&id.storage_key())),
        ];
        let reply = Reply::parse(
            self.run(&self.scripts.update, WHAT, keys, args).await?,
            WHAT,
        )?;
        match reply.status() {
            "ok" => {
                let [lu] = one(reply.into_values(), WHAT)?;
                let lu: i64 = reply::text(lu, WHAT)?
                    .parse()
                    .map_err(|_| unexpected_reply(WHAT))?;
                next.last_used = Timestamp::from_millis(lu);
                Ok(next)
            }
            "none" => Err(StoreError::NotFound),
            "expired" => Err(StoreError::Expired),
            "conflict" => {
                let [actual] = one(reply.into_values(), WHAT)?;
                let actual = reply::text(actual, WHAT)?
                    .parse()
                    .map_err(|e| StoreError::corrupt("the session's version is not a number", e))?;
                Err(StoreError::Conflict {
                    expected: session.version,
                    actual,
                })
            }
            "subject" => Err(StoreError::Invalid(CoreError::Invalid {
                field: "sub",
                reason: "the subject of a session cannot change".into(),
            })),
            "context" => Err(StoreError::Invalid(CoreError::Invalid {
                field: "ctx",
                reason: "the context of a session cannot change".into(),
            })),
            "corrupt" => Err(reply::damaged()),
            "older" => Err(value::older_layout()),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }

    async fn delete(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError> {
        const WHAT: &str = "deleting a session";
        let args = vec![
            arg(now.as_millis().to_string()),
            arg(self.keys.index_prefix(id.tag())),
            arg(keys::member(&id.storage_key())),
        ];
        let value = self
            .run(
                &self.scripts.delete,
                WHAT,
                vec![key(self.keys.session(id))],
                args,
            )
            .await?;
        let reply = Reply::parse(value, WHAT)?;
        match reply.status() {
            "ok" => {
                let [stored] = one(reply.into_values(), WHAT)?;
                match value::decode(&reply::bytes(stored, WHAT)?) {
                    Ok(session) => Ok(Some(session)),
                    // The delete happened: a logout must never be blocked by
                    // a damaged record, and nothing else can be returned.
                    Err(e) => {
                        tracing::warn!(error = %e, "deleted a session whose record did not decode");
                        Ok(None)
                    }
                }
            }
            // A session of format 1 is deleted, but cannot be returned.
            "none" | "older" => Ok(None),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }

    async fn list_by_subject(
        &self,
        subject: &Subject,
        context: Option<&tessera_core::Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError> {
        const WHAT: &str = "listing a subject's sessions";
        let tag = SubjectTag::of(subject.as_str());
        let value = self
            .run(
                &self.scripts.list,
                WHAT,
                vec![key(self.keys.index(subject))],
                vec![
                    arg(now.as_millis().to_string()),
                    arg(self.keys.session_prefix(tag)),
                ],
            )
            .await?;
        let Value::Array(values) = value else {
            return Err(unexpected_reply(WHAT));
        };
        if values.len() == 1 && values[0].as_str().as_deref() == Some("older") {
            return Err(value::older_layout());
        }
        if values.len() % 2 != 0 {
            return Err(unexpected_reply(WHAT));
        }
        let mut out = Vec::with_capacity(values.len() / 2);
        let mut values = values.into_iter();
        while let (Some(m), Some(stored)) = (values.next(), values.next()) {
            let id = Self::session_ref(tag, m, WHAT)?;
            // A listing skips values it cannot decode (a logout by subject
            // still removes them); a newer format is refused.
            match value::decode(&reply::bytes(stored, WHAT)?) {
                Ok(session) => out.push(StoredSession { id, session }),
                Err(StoreError::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(tessera_store::listed(out, subject, context, now))
    }

    async fn delete_by_subject(
        &self,
        subject: &Subject,
        context: Option<&tessera_core::Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        const WHAT: &str = "deleting a subject's sessions";
        let tag = SubjectTag::of(subject.as_str());
        let value = self
            .run(
                &self.scripts.delete_subject,
                WHAT,
                vec![key(self.keys.index(subject))],
                vec![
                    arg(now.as_millis().to_string()),
                    arg(self.keys.session_prefix(tag)),
                    arg(context.map_or("", |c| c.as_str())),
                ],
            )
            .await?;
        let reply = Reply::parse(value, WHAT)?;
        match reply.status() {
            "ok" => reply
                .into_values()
                .into_iter()
                .map(|m| Self::session_ref(tag, m, WHAT))
                .collect(),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }

    async fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
        const WHAT: &str = "counting sessions";
        self.scan(WHAT, self.keys.session_pattern())?
            .map_ok(|key| async move {
                let stored: Value = match self.client(WHAT)?.get(key).await {
                    Ok(stored) => stored,
                    // A session of format 1 (a hash) is not counted.
                    Err(e) if is_wrong_type(&e) => return Ok(0),
                    Err(e) => return Err(store_error(WHAT, e)),
                };
                // Damaged values and values of newer formats are not counted.
                let live = reply::bytes(stored, WHAT)
                    .ok()
                    .and_then(|bytes| value::decode(&bytes).ok())
                    .is_some_and(|session| !session.is_expired(now));
                Ok(u64::from(live))
            })
            .try_buffer_unordered(HOUSEKEEPING_CONCURRENCY)
            .try_fold(0, |total, live| async move { Ok(total + live) })
            .await
    }

    /// Every session hash found by `SCAN` (on every primary of a Cluster)
    /// goes through the delete script, which removes its index entry too
    /// and leaves a record of a newer format alone.
    async fn delete_all(&self, now: Timestamp) -> Result<RevokeReport, StoreError> {
        const WHAT: &str = "ending every session";
        self.on_every_session(WHAT, &self.scripts.delete, now)?
            .and_then(|value| async move {
                match Reply::parse(value, WHAT)?.status() {
                    "ok" | "older" => Ok(RevokeReport { ended: 1, left: 0 }),
                    "none" => Ok(RevokeReport::default()),
                    "newer" => Ok(RevokeReport { ended: 0, left: 1 }),
                    _ => Err(unexpected_reply(WHAT)),
                }
            })
            .try_fold(RevokeReport::default(), |total, one| async move {
                Ok(total + one)
            })
            .await
    }

    async fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        const WHAT: &str = "purging sessions";
        let now_arg = now.as_millis().to_string();
        // Expired sessions first, each with its own index entry.
        let sessions = self
            .on_every_session(WHAT, &self.scripts.purge_session, now)?
            .and_then(|reply| async move { counts(&reply, WHAT) })
            .try_fold(PurgeReport::default(), |a, b| async move { Ok(add(a, b)) })
            .await?;
        // Then index entries whose session is gone (Redis expired it, or a
        // crash between writes) or expired since.
        let indexes = self
            .scan(WHAT, self.keys.index_pattern())?
            .try_filter_map(|k| {
                futures::future::ready(Ok(k
                    .as_str()
                    .and_then(|s| Some((s.to_owned(), self.keys.parse_index_tag(s)?)))))
            })
            .map_ok(|(index, tag)| {
                let args = vec![arg(now_arg.clone()), arg(self.keys.session_prefix(tag))];
                async move {
                    let reply = self
                        .run(&self.scripts.purge_index, WHAT, vec![key(index)], args)
                        .await?;
                    counts(&reply, WHAT)
                }
            })
            .try_buffer_unordered(HOUSEKEEPING_CONCURRENCY)
            .try_fold(PurgeReport::default(), |a, b| async move { Ok(add(a, b)) })
            .await?;
        let report = add(sessions, indexes);
        if report != PurgeReport::default() {
            tracing::debug!(
                sessions = report.sessions,
                index_entries = report.index_entries,
                "purged expired sessions and stale index entries"
            );
        }
        Ok(report)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client("pinging Redis")?
            .ping::<Value>(None)
            .await
            .map(drop)
            .map_err(|e| store_error("pinging Redis", e))
    }
}

fn counts(reply: &Value, what: &'static str) -> Result<PurgeReport, StoreError> {
    let Value::Array(values) = reply else {
        return Err(unexpected_reply(what));
    };
    let [sessions, entries] = values.as_slice() else {
        return Err(unexpected_reply(what));
    };
    let count = |v: &Value| {
        reply::integer(v, what).and_then(|n| u64::try_from(n).map_err(|_| unexpected_reply(what)))
    };
    Ok(PurgeReport {
        sessions: count(sessions)?,
        index_entries: count(entries)?,
    })
}

fn add(a: PurgeReport, b: PurgeReport) -> PurgeReport {
    PurgeReport {
        sessions: a.sessions + b.sessions,
        index_entries: a.index_entries + b.index_entries,
    }
}

fn one(values: Vec<Value>, what: &'static str) -> Result<[Value; 1], StoreError> {
    values.try_into().map_err(|_| unexpected_reply(what))
}
