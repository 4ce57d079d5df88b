//! Opening a store: the client pool, its reconnection policy, and the
//! scripts loaded on every server.

use super::*;

/// A connection whose last write has waited a whole command timeout with
/// no reply is closed as unresponsive (the commands waiting on it fail as
/// unavailable, and the connection is made again), checked every quarter
/// of it. fred resets that clock on every write and every reply, so under
/// steady traffic to a server that stopped answering it may never trigger:
/// each command is then still bounded by `RedisStore::bounded`.
fn unresponsive(command_timeout: Duration) -> UnresponsiveConfig {
    UnresponsiveConfig {
        max_timeout: Some(command_timeout),
        interval: (command_timeout / 4).max(Duration::from_millis(1)),
    }
}

/// Closes a pool that did not connect. `QUIT` has no timeout of fred's
/// (the pool sets none) and a server that accepts connections but never
/// answers would never answer it: it gets the command timeout.
async fn give_up(pool: &Pool, command_timeout: Duration) {
    let _ = tokio::time::timeout(command_timeout, pool.quit()).await;
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
        let fred_config = config.client_config()?;
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
                c.unresponsive = unresponsive(command_timeout);
            })
            .with_performance_config(|p| {
                // None of fred's: every command of the store is bounded by
                // `RedisStore::bounded` instead. fred's timeout on a pool
                // slowed every command on it, timed or not, by a third
                // (docs/performance.md, "The read, taken apart").
                p.default_command_timeout = Duration::ZERO;
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
                    give_up(&pool, command_timeout).await;
                    last_error = Some(e);
                    tokio::time::sleep(CONNECT_RETRY_PAUSE).await;
                }
                Ok(Err(e)) => {
                    give_up(&pool, command_timeout).await;
                    return Err(RedisError::from_driver("connecting", e));
                }
                Err(_elapsed) => {
                    give_up(&pool, command_timeout).await;
                    let what = "connecting (gave up after connect_timeout_ms)";
                    return Err(match last_error {
                        Some(e) => RedisError::from_driver(what, e),
                        None => RedisError::Unreachable {
                            what,
                            source: Box::new(fred::error::Error::new(
                                fred::error::ErrorKind::Timeout,
                                "no connection within the connect timeout",
                            )),
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
    pub(super) async fn load_scripts(&self) -> Result<(), RedisError> {
        const WHAT: &str = "loading the session scripts";
        let client = self.pool.next_connected();
        for script in self.scripts.all() {
            let loaded = if self.clustered {
                self.bounded_raw(client.script_load_cluster::<Value, _>(script.source().to_owned()))
                    .await
            } else {
                self.bounded_raw(client.script_load::<Value, _>(script.source().to_owned()))
                    .await
            };
            loaded.map_err(|e| RedisError::from_driver(WHAT, e))?;
        }
        Ok(())
    }
}
