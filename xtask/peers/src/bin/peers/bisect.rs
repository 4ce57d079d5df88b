//! The read, taken apart. Row by row, from exactly what tower-sessions'
//! `load` does to Tessera's whole `Sessions::get`, each row adding one
//! layer to the one before. The rows run interleaved, round after round, so
//! that every row sees the same machine; each row's figure is its median
//! round. The first row that loses throughput is where the time goes.

use std::sync::Arc;

use tessera_bench_peers::{Field, Stats, emit, emit_stats, payload_text, run_warm};
use tessera_core::{Policy, Quota, SessionParams, Subject, Timestamp, TouchWindow, decide_touch};
use tessera_crypto::{MasterKeys, SafePassword, SessionRef};
use tessera_store::backend::record::MAX_RECORD_BYTES;
use tessera_store::{
    Clock as _, SessionStore, Sessions, SessionsConfig, SystemClock, SystemRandom, Touch,
};
use tessera_store_redis::RedisStore;
use tessera_store_redis::testkit::decode_value;
use tower_sessions_core::SessionStore as _;
use tower_sessions_core::session::Id;
use tower_sessions_redis_store::fred::prelude::{ClientLike, KeysInterface as _, Pool};
use tower_sessions_redis_store::fred::types::Builder;
use tower_sessions_redis_store::fred::types::Value;
use tower_sessions_redis_store::fred::types::config::ReconnectPolicy;

/// The rows, in order: a name, and what the row adds to the one before.
pub const ROWS: [(&str, &str); 20] = [
    (
        "tower-load",
        "tower-sessions `load`: GET, then a MessagePack decode of its record (its pool, fred's defaults)",
    ),
    (
        "get",
        "a fred GET of Tessera's value on a pool like tower-sessions' (fred's defaults), the key built beforehand, nothing decoded",
    ),
    (
        "fred-timeout",
        "`get` on a pool with fred's command timeout (`default_command_timeout` 2 s), as the store had it before: not a layer of the store any more",
    ),
    (
        "attempts",
        "`get`, + one attempt per command (`max_command_attempts = 1`)",
    ),
    ("nodelay", "+ TCP_NODELAY"),
    (
        "reconnect",
        "+ the reconnect policy (exponential, 50 ms to 1 s, forever)",
    ),
    (
        "unresponsive",
        "+ the unresponsive-connection check (2 s, every 0.5 s)",
    ),
    ("prefer-connected", "+ `prefer_connected(true)`"),
    (
        "pool-config",
        "the store's own pool, as `RedisStore::open` configures it (all of the above)",
    ),
    (
        "connected",
        "+ the store's check that a connection is up (commands still go through the pool)",
    ),
    (
        "next-connected",
        "`pool-config`, but each command on a client picked ahead (`next_connected()`), as the store did before: not a layer of the store any more",
    ),
    (
        "timeout",
        "+ the store's own bound: a `tokio::time::timeout` of 2 s around the boxed command",
    ),
    ("key", "+ building the key from the session reference"),
    (
        "getrange",
        "+ `GETRANGE 0 cap` instead of `GET` (the read bounded by the record size cap)",
    ),
    (
        "decode",
        "+ the bounds scans and the typed decode of the value",
    ),
    (
        "decide",
        "+ the clock read, the expiry and the touch decision",
    ),
    (
        "store",
        "`RedisStore::get_and_touch` through `dyn SessionStore` (its own code, the async-trait box)",
    ),
    ("mac", "+ the record MAC check (`Sessions::check_record`)"),
    ("sid", "+ the SID verification (`Sessions::resolve`)"),
    (
        "service",
        "`Sessions::get`: the whole service, as the server calls it",
    ),
];

/// The rows on pools the driver builds, in [`ROWS`] order: `fred-timeout`
/// alone, then the store's settings one more at a time.
const LAYERED: [&str; 6] = [
    "fred-timeout",
    "attempts",
    "nodelay",
    "reconnect",
    "unresponsive",
    "prefer-connected",
];

/// Sessions read round-robin.
const READS: usize = 1000;

/// What the rows read: the same sessions through every layer.
pub struct Setup {
    /// tower-sessions' pool (fred's defaults) and its store on it.
    pub tower_pool: Pool,
    /// The pools of the [`LAYERED`] rows.
    layered: Vec<Pool>,
    pub tower: Arc<tower_sessions_redis_store::RedisStore<Pool>>,
    tower_ids: Vec<Id>,
    store: Arc<RedisStore>,
    dyn_store: Arc<dyn SessionStore>,
    sessions: Arc<Sessions>,
    ids: Vec<SessionRef>,
    keys: Vec<String>,
    sids: Vec<String>,
}

impl Setup {
    /// Creates [`READS`] sessions in each system, Tessera's through the
    /// service (signed, with SIDs), each of its own subject.
    pub async fn new(url: &str, pool_size: usize, store: Arc<RedisStore>) -> Self {
        let config =
            tower_sessions_redis_store::fred::prelude::Config::from_url(url).expect("a Redis URL");
        let tower_pool = Pool::new(config, None, None, None, pool_size).expect("a fred pool");
        tower_pool.init().await.expect("connect");
        let tower = Arc::new(tower_sessions_redis_store::RedisStore::new(
            tower_pool.clone(),
        ));
        let mut layered = Vec::new();
        for row in LAYERED {
            let pool = layered_pool(url, pool_size, row);
            pool.init().await.expect("connect");
            if row == "prefer-connected" {
                pool.prefer_connected(true);
            }
            layered.push(pool);
        }
        let mut tower_ids = Vec::with_capacity(READS);
        for i in 0..READS {
            let mut record = super::tower_record(&format!("bisect-{i}"));
            tower.create(&mut record).await.expect("create");
            tower_ids.push(record.id);
        }

        let keys = MasterKeys::derive(
            &SafePassword::new("bench-Pw7!kQ2#zX9@-bisect").expect("a safe password"),
            &[],
        );
        let policy = Policy {
            quota_per_subject: Quota::new("quota", 5).expect("a quota"),
            ..Policy::default()
        };
        let dyn_store: Arc<dyn SessionStore> = Arc::clone(&store) as Arc<dyn SessionStore>;
        let sessions = Arc::new(Sessions::new(
            Arc::clone(&dyn_store),
            SessionsConfig {
                policy,
                ..SessionsConfig::default()
            },
            &keys,
            Arc::new(SystemClock),
            Arc::new(SystemRandom::new()),
        ));
        let (mut ids, mut key_names, mut sids) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..READS {
            let mut params =
                SessionParams::new(Subject::new(format!("bisect-{i}")).expect("a subject"));
            params.data.insert("p".into(), payload_text().into());
            let new = sessions.create(params, None).await.expect("create");
            key_names.push(store.session_key(&new.id));
            ids.push(new.id);
            sids.push(new.sid.expose_secret().to_owned());
        }
        Self {
            tower_pool,
            layered,
            tower,
            tower_ids,
            store,
            dyn_store,
            sessions,
            ids,
            keys: key_names,
            sids,
        }
    }

    /// One operation of row `row` on session `i`.
    async fn op(&self, row: &str, i: usize) {
        let i = i % READS;
        let window = TouchWindow::from_millis(60_000);
        match row {
            "tower-load" => {
                self.tower
                    .load(&self.tower_ids[i])
                    .await
                    .expect("load")
                    .expect("present");
            }
            "get" => {
                present(self.tower_pool.get(&self.keys[i]).await.expect("GET"));
            }
            "fred-timeout" | "attempts" | "nodelay" | "reconnect" | "unresponsive"
            | "prefer-connected" => {
                let n = LAYERED
                    .iter()
                    .position(|r| *r == row)
                    .expect("a layered row");
                present(self.layered[n].get(&self.keys[i]).await.expect("GET"));
            }
            "pool-config" => {
                present(
                    self.store
                        .fred_pool()
                        .get(&self.keys[i])
                        .await
                        .expect("GET"),
                );
            }
            "next-connected" => {
                let client = self.store.fred_pool().next_connected();
                assert!(client.is_connected(), "connected");
                present(client.get(&self.keys[i]).await.expect("GET"));
            }
            "connected" => {
                let pool = self.store.fred_pool();
                assert!(pool.clients().iter().any(ClientLike::is_connected));
                present(pool.get(&self.keys[i]).await.expect("GET"));
            }
            "timeout" => {
                let pool = self.store.fred_pool();
                assert!(pool.clients().iter().any(ClientLike::is_connected));
                bounded(pool.get(&self.keys[i])).await;
            }
            "key" | "getrange" | "decode" | "decide" => {
                let pool = self.store.fred_pool();
                assert!(pool.clients().iter().any(ClientLike::is_connected));
                let key = self.store.session_key(&self.ids[i]);
                let bytes = if row == "key" {
                    bounded(pool.get(&key)).await
                } else {
                    bounded(pool.getrange(&key, 0, MAX_RECORD_BYTES)).await
                };
                if row == "key" || row == "getrange" {
                    return;
                }
                let session = decode_value(&bytes).expect("a session value");
                if row == "decide" {
                    let now: Timestamp = SystemClock.now();
                    assert!(!session.is_expired(now), "alive");
                    std::hint::black_box(decide_touch(now, session.last_used, window));
                }
            }
            "store" | "mac" => {
                let now = SystemClock.now();
                let found = self
                    .dyn_store
                    .get_and_touch(&self.ids[i], now, Touch::Yes)
                    .await
                    .expect("get-and-touch")
                    .expect("alive");
                if row == "mac" {
                    self.sessions
                        .check_record(&self.ids[i], found, now)
                        .expect("a signed record");
                }
            }
            "sid" => {
                let id = self.sessions.resolve(&self.sids[i]).await.expect("a SID");
                let now = SystemClock.now();
                let found = self
                    .dyn_store
                    .get_and_touch(&id, now, Touch::Yes)
                    .await
                    .expect("get-and-touch")
                    .expect("alive");
                self.sessions
                    .check_record(&id, found, now)
                    .expect("a signed record");
            }
            "service" => {
                self.sessions
                    .get(&self.sids[i], None, Touch::Yes)
                    .await
                    .expect("get");
            }
            other => panic!("unknown row {other}"),
        }
    }
}

/// The pool of the [`LAYERED`] row `row`: `fred-timeout` is fred's
/// defaults and its command timeout; the others have the store's settings
/// up to and including the row's, each as `RedisStore::open` sets it
/// (`prefer_connected` is set on the pool after `init`).
fn layered_pool(url: &str, pool_size: usize, row: &str) -> Pool {
    let config =
        tower_sessions_redis_store::fred::prelude::Config::from_url(url).expect("a Redis URL");
    let mut builder = Builder::from_config(config);
    if row == "fred-timeout" {
        builder.with_performance_config(|p| p.default_command_timeout = TIMEOUT);
        return builder.build_pool(pool_size).expect("a fred pool");
    }
    let depth = LAYERED
        .iter()
        .position(|r| *r == row)
        .expect("a layered row");
    builder.with_connection_config(|c| c.max_command_attempts = 1);
    if depth >= 2 {
        builder.with_connection_config(|c| c.tcp.nodelay = Some(true));
    }
    if depth >= 3 {
        builder.set_policy(ReconnectPolicy::new_exponential(0, 50, 1_000, 2));
    }
    if depth >= 4 {
        builder.with_connection_config(|c| {
            c.unresponsive.max_timeout = Some(TIMEOUT);
            c.unresponsive.interval = TIMEOUT / 4;
        });
    }
    builder.build_pool(pool_size).expect("a fred pool")
}

/// The store's command timeout (its default).
const TIMEOUT: std::time::Duration = tessera_store_redis::DEFAULT_COMMAND_TIMEOUT;

/// `command` bounded as the store bounds every command (boxed, under a
/// `tokio::time::timeout`), and its reply's bytes.
async fn bounded(
    command: impl std::future::Future<
        Output = Result<Value, tower_sessions_redis_store::fred::error::Error>,
    >,
) -> Vec<u8> {
    present(
        tokio::time::timeout(TIMEOUT, Box::pin(command))
            .await
            .expect("in time")
            .expect("a reply"),
    )
}

/// The bytes of a value that must be there.
fn present(value: Value) -> Vec<u8> {
    let bytes = value.as_bytes().expect("a session value").to_vec();
    assert!(!bytes.is_empty(), "the session is there");
    bytes
}

/// The round of median throughput.
pub fn median(mut runs: Vec<Stats>) -> Stats {
    runs.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    runs[runs.len() / 2]
}

/// Runs every row `rounds` times, interleaved, at concurrency `c`, and
/// emits each row's median round (system `bisect`), and the first and
/// ninth rows again as tower-sessions' `load` and Tessera's
/// `get-and-touch`, the figures the report compares.
pub async fn run(setup: &Arc<Setup>, ops: usize, c: usize, rounds: usize) {
    let mut runs: Vec<Vec<Stats>> = vec![Vec::new(); ROWS.len()];
    for _ in 0..rounds {
        for (n, (row, _)) in ROWS.iter().enumerate() {
            let setup = Arc::clone(setup);
            let stats = run_warm(ops, c, move |i| {
                let setup = Arc::clone(&setup);
                async move { setup.op(row, i).await }
            })
            .await;
            runs[n].push(stats);
        }
    }
    for ((row, what), runs) in ROWS.iter().zip(runs) {
        let stats = median(runs);
        #[expect(clippy::cast_precision_loss, reason = "counts as JSON numbers")]
        emit(&[
            ("system", Field::Text("bisect")),
            ("op", Field::Text(row)),
            ("what", Field::Text(what)),
            ("rounds", Field::Number(rounds as f64)),
            ("concurrency", Field::Number(c as f64)),
            ("ops", Field::Number(stats.ops as f64)),
            ("ops_per_sec", Field::Number(stats.ops_per_sec)),
            ("p50_us", Field::Number(stats.p50_us)),
            ("p99_us", Field::Number(stats.p99_us)),
        ]);
        match *row {
            "tower-load" => emit_stats("tower-sessions", "load", READS, c, stats),
            "store" => emit_stats("tessera", "get-and-touch", READS, c, stats),
            _ => {}
        }
    }
}
