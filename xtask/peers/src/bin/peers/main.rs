//! Tessera's Redis store beside two peer session stores, on the same Redis,
//! in the same process, at the same concurrency, with records of the same
//! data payload.
//!
//! ```text
//! peers --url redis://127.0.0.1:PORT [--ops N] [--concurrency 1,16,64]
//!       [--systems tessera,tower-sessions,actix-session] [--pool-size 4]
//!       [--memory-sessions N]
//! ```
//!
//! With `tessera` among the systems, the reads of Tessera and
//! tower-sessions are compared by the read bisection ([`bisect`]): rows
//! from tower-sessions' `load` to Tessera's whole service, interleaved
//! over `--rounds` rounds (default 5), each row's median round reported;
//! its tower-sessions `load` and store `get-and-touch` rows are the
//! figures compared. Creates of both alternate the same way, and the
//! create script's `usec_per_call` (`INFO commandstats`, Redis's own time
//! per call) is reported beside them.
//!
//! What each measured operation does per call:
//!
//! * Tessera `get-and-touch`: one GET of the session value, which the
//!   client decodes and checks against the three expiry terms with its
//!   clock; once the 60 s touch window has passed since the stored last
//!   use, one more call (a script) writes the use. Within one run no touch
//!   falls due: this is the read of a session in active use.
//! * Tessera `create`: one EVALSHA; the script reads the subject's index,
//!   applies the quota decision, writes the hash and the index entry and
//!   sets both expiries (a fresh subject each time: the common login).
//! * tower-sessions (`tower-sessions-redis-store`, on fred): `load` is one
//!   GET plus MessagePack decoding; `save` one SET with EXAT; `create` one
//!   SET NX with EXAT (a new random id); `load+save` is what its session
//!   layer does per request under a sliding (on-inactivity) expiry.
//! * actix-session (`RedisSessionStore`, on redis-rs): `load` one GET plus
//!   JSON decoding; `save` (a new session) one SET NX EX;
//!   `load+update_ttl` the sliding-expiry equivalent (GET, then EXPIRE).
//!
//! Neither peer has a subject index, quotas, or more than one expiry term.
//!
//! With `--memory-sessions N`, after the runs, each system in turn starts
//! from an empty Redis (`FLUSHALL`), creates N sessions (for Tessera each
//! of its own subject, so each with its own index key: the worst case;
//! under the default key prefix `tessera:`),
//! and reports `used_memory` after minus before, over N (op `memory`).
//! Results are `BENCH` lines (see the library).

use std::collections::HashMap;
use std::sync::Arc;

mod bisect;

use actix_session::storage::{RedisSessionStore, SessionKey, SessionStore as _};
use tessera_bench_peers::{
    PAYLOAD_BYTES, arg, emit_stats, list_arg, payload_session, payload_text, run_local_warm,
    run_warm,
};
use tessera_core::OnQuotaExhaustion;
use tessera_store::testkit::{policy, session_ref};
use tessera_store::{Clock as _, SessionStore as _, SystemClock};
use tessera_store_redis::{RedisConfig, RedisStore};
use tower_sessions_core::SessionStore as _;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_redis_store::fred::prelude::{Client, ClientLike as _, Config, Pool};
use tower_sessions_redis_store::fred::types::Value;

/// Sessions read round-robin by the read benchmarks.
const READ_SET: usize = 1000;

#[expect(clippy::print_stdout, reason = "a benchmark reports on the terminal")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url: String = arg(&args, "--url", String::new());
    assert!(!url.is_empty(), "--url redis://HOST:PORT is required");
    let ops: usize = arg(&args, "--ops", 50_000);
    let concurrency = list_arg(&args, "--concurrency", &[1, 16, 64]);
    let pool_size: usize = arg(&args, "--pool-size", tessera_store_redis::DEFAULT_POOL_SIZE);
    let systems: String = arg(
        &args,
        "--systems",
        "tessera,tower-sessions,actix-session".to_owned(),
    );
    let rounds: usize = arg(&args, "--rounds", 5);
    println!("data payload {PAYLOAD_BYTES} bytes, {ops} operations per run, pool size {pool_size}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    for system in systems.split(',') {
        match system {
            "tessera" => runtime.block_on(tessera(&url, ops, &concurrency, pool_size, rounds)),
            "tower-sessions" => runtime.block_on(tower(&url, ops, &concurrency, pool_size)),
            "actix-session" => runtime.block_on(actix(&url, ops, &concurrency)),
            other => panic!("unknown system {other}"),
        }
    }
    let memory_sessions: usize = arg(&args, "--memory-sessions", 0);
    if memory_sessions > 0 {
        for system in systems.split(',') {
            runtime.block_on(memory(&url, system, memory_sessions));
        }
    }
}

/// Sessions created at once while filling Redis for the memory figure.
const MEMORY_BATCH: usize = 500;

/// Redis bytes per session of `system`: `used_memory` after creating `n`
/// sessions in an empty Redis minus before, over `n`; Redis is emptied
/// again afterwards.
async fn memory(url: &str, system: &str, n: usize) {
    let raw = Client::new(
        Config::from_url(url).expect("a Redis URL"),
        None,
        None,
        None,
    );
    raw.init().await.expect("connect");
    let () = raw.flushall(false).await.expect("flushall");
    let before = used_memory(&raw).await;
    let batches: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(MEMORY_BATCH)
        .map(<[usize]>::to_vec)
        .collect();
    match system {
        "tessera" => {
            let mut config = RedisConfig::from_url(url.to_owned());
            // The default prefix, as a deployment has it.
            config.key_prefix = tessera_store_redis::DEFAULT_KEY_PREFIX.to_owned();
            let store = RedisStore::open(&config).await.expect("connect");
            let quota = policy(5, OnQuotaExhaustion::DenyLogin);
            let now = SystemClock.now();
            for batch in batches {
                futures::future::join_all(batch.into_iter().map(|i| {
                    let (store, quota) = (&store, &quota);
                    async move {
                        let subject = format!("memory-{i}");
                        store
                            .create(
                                &session_ref(&subject),
                                &payload_session(&subject, now),
                                quota,
                                now,
                            )
                            .await
                            .expect("create");
                    }
                }))
                .await;
            }
        }
        "tower-sessions" => {
            let pool = Pool::new(
                Config::from_url(url).expect("a Redis URL"),
                None,
                None,
                None,
                4,
            )
            .expect("a fred pool");
            pool.init().await.expect("connect");
            let store = tower_sessions_redis_store::RedisStore::new(pool);
            for batch in batches {
                futures::future::join_all(batch.into_iter().map(|i| {
                    let store = &store;
                    async move {
                        let mut record = tower_record(&format!("memory-{i}"));
                        store.create(&mut record).await.expect("create");
                    }
                }))
                .await;
            }
        }
        "actix-session" => {
            let store = RedisSessionStore::new(url).await.expect("connect");
            let ttl = time::Duration::days(3);
            for batch in batches {
                futures::future::join_all(batch.into_iter().map(|i| {
                    let (store, ttl) = (&store, &ttl);
                    async move {
                        store
                            .save(actix_state(&format!("memory-{i}")), ttl)
                            .await
                            .expect("save");
                    }
                }))
                .await;
            }
        }
        other => panic!("unknown system {other}"),
    }
    let after = used_memory(&raw).await;
    let () = raw.flushall(false).await.expect("flushall");
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    let (delta, n_f) = ((after - before) as f64, n as f64);
    let per_session = delta / n_f;
    tessera_bench_peers::emit(&[
        ("system", tessera_bench_peers::Field::Text(system)),
        ("op", tessera_bench_peers::Field::Text("memory")),
        ("sessions", tessera_bench_peers::Field::Number(n_f)),
        (
            "bytes_per_session",
            tessera_bench_peers::Field::Number(per_session),
        ),
    ]);
}

async fn used_memory(raw: &Client) -> i64 {
    let info: String = raw
        .info(Some(
            tower_sessions_redis_store::fred::types::InfoKind::Memory,
        ))
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory")
}

/// Tessera beside tower-sessions, interleaved round after round: the read
/// bisection, then creates of both alternately, with the create script's
/// `usec_per_call`.
async fn tessera(url: &str, ops: usize, concurrency: &[usize], pool_size: usize, rounds: usize) {
    let mut config = RedisConfig::from_url(url.to_owned());
    // The default prefix, as a deployment has it.
    config.key_prefix = tessera_store_redis::DEFAULT_KEY_PREFIX.to_owned();
    config.pool_size = pool_size;
    let store = Arc::new(RedisStore::open(&config).await.expect("connect"));
    let setup = Arc::new(bisect::Setup::new(url, pool_size, Arc::clone(&store)).await);
    // tower-sessions' creates run on the pool and store its reads use.
    let (tower_pool, tower) = (&setup.tower_pool, Arc::clone(&setup.tower));
    let quota = Arc::new(policy(5, OnQuotaExhaustion::CloseOldSession));
    for &c in concurrency {
        bisect::run(&setup, ops, c, rounds).await;

        let config_resetstat = tower_sessions_redis_store::fred::types::CustomCommand::new_static(
            "CONFIG",
            tower_sessions_redis_store::fred::types::ClusterHash::FirstKey,
            false,
        );
        let _: Value = tower_pool
            .custom(config_resetstat, vec!["RESETSTAT"])
            .await
            .expect("CONFIG RESETSTAT");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let (s, quota) = (Arc::clone(&store), Arc::clone(&quota));
            ours.push(
                run_warm(ops, c, move |i| {
                    let (s, quota) = (Arc::clone(&s), Arc::clone(&quota));
                    async move {
                        let subject = format!("login-{c}-{round}-{i}");
                        let now = SystemClock.now();
                        s.create(
                            &session_ref(&subject),
                            &payload_session(&subject, now),
                            &quota,
                            now,
                        )
                        .await
                        .expect("create");
                    }
                })
                .await,
            );
            let s = Arc::clone(&tower);
            theirs.push(
                run_warm(ops, c, move |i| {
                    let s = Arc::clone(&s);
                    async move {
                        let mut record = tower_record(&format!("login-{c}-{round}-{i}"));
                        s.create(&mut record).await.expect("create");
                    }
                })
                .await,
            );
        }
        emit_stats("tessera", "create", READ_SET, c, bisect::median(ours));
        emit_stats(
            "tower-sessions",
            "create",
            READ_SET,
            c,
            bisect::median(theirs),
        );
        let usec = script_usec_per_call(tower_pool).await;
        tessera_bench_peers::emit(&[
            ("system", tessera_bench_peers::Field::Text("tessera")),
            ("op", tessera_bench_peers::Field::Text("create-script")),
            ("concurrency", tessera_bench_peers::Field::Number(c as f64)),
            ("usec_per_call", tessera_bench_peers::Field::Number(usec)),
        ]);
    }
}

/// `usec_per_call` of `EVALSHA` since the last `CONFIG RESETSTAT`: Redis's
/// own time per script call.
async fn script_usec_per_call(pool: &Pool) -> f64 {
    let info: String = pool
        .info(Some(
            tower_sessions_redis_store::fred::types::InfoKind::CommandStats,
        ))
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:"))
        .and_then(|stats| {
            stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("usec_per_call="))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn tower_record(subject: &str) -> Record {
    Record {
        id: Id::default(),
        data: HashMap::from([
            ("sub".to_owned(), serde_json::Value::from(subject)),
            ("p".to_owned(), serde_json::Value::from(payload_text())),
        ]),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::days(3),
    }
}

async fn tower(url: &str, ops: usize, concurrency: &[usize], pool_size: usize) {
    let config = Config::from_url(url).expect("a Redis URL");
    let pool = Pool::new(config, None, None, None, pool_size).expect("a fred pool");
    pool.init().await.expect("connect");
    let store = Arc::new(tower_sessions_redis_store::RedisStore::new(pool));
    let mut ids = Vec::with_capacity(READ_SET);
    for i in 0..READ_SET {
        let mut record = tower_record(&format!("reader-{i}"));
        store.create(&mut record).await.expect("create");
        ids.push(record.id);
    }
    let ids = Arc::new(ids);
    for &c in concurrency {
        let (s, ids2) = (Arc::clone(&store), Arc::clone(&ids));
        let stats = run_warm(ops, c, move |i| {
            let (s, id) = (Arc::clone(&s), ids2[i % READ_SET]);
            async move {
                let mut record = s.load(&id).await.expect("load").expect("present");
                record.expiry_date = time::OffsetDateTime::now_utc() + time::Duration::days(3);
                s.save(&record).await.expect("save");
            }
        })
        .await;
        emit_stats("tower-sessions", "load+save", READ_SET, c, stats);

        let (s, ids2) = (Arc::clone(&store), Arc::clone(&ids));
        let stats = run_warm(ops, c, move |i| {
            let s = Arc::clone(&s);
            let mut record = tower_record(&format!("reader-{}", i % READ_SET));
            record.id = ids2[i % READ_SET];
            async move {
                s.save(&record).await.expect("save");
            }
        })
        .await;
        emit_stats("tower-sessions", "save", READ_SET, c, stats);
    }
}

fn actix_state(subject: &str) -> HashMap<String, String> {
    // actix-session keeps each value JSON-encoded.
    HashMap::from([
        (
            "sub".to_owned(),
            serde_json::Value::from(subject).to_string(),
        ),
        (
            "p".to_owned(),
            serde_json::Value::from(payload_text()).to_string(),
        ),
    ])
}

async fn actix(url: &str, ops: usize, concurrency: &[usize]) {
    // Its futures are not Send: the runs use a LocalSet on this thread.
    let store = std::rc::Rc::new(RedisSessionStore::new(url).await.expect("connect"));
    let ttl = time::Duration::days(3);
    let mut keys: Vec<SessionKey> = Vec::with_capacity(READ_SET);
    for i in 0..READ_SET {
        let key = store
            .save(actix_state(&format!("reader-{i}")), &ttl)
            .await
            .expect("save");
        keys.push(key);
    }
    let keys: std::rc::Rc<Vec<String>> =
        std::rc::Rc::new(keys.into_iter().map(Into::into).collect());
    let key = |keys: &[String], i: usize| -> SessionKey {
        SessionKey::try_from(keys[i % READ_SET].clone()).expect("a session key")
    };
    for &c in concurrency {
        let (s, k) = (std::rc::Rc::clone(&store), std::rc::Rc::clone(&keys));
        let stats = run_local_warm(ops, c, move |i| {
            let (s, id) = (std::rc::Rc::clone(&s), key(&k, i));
            async move {
                s.load(&id).await.expect("load").expect("present");
            }
        })
        .await;
        emit_stats("actix-session", "load", READ_SET, c, stats);

        let (s, k) = (std::rc::Rc::clone(&store), std::rc::Rc::clone(&keys));
        let stats = run_local_warm(ops, c, move |i| {
            let (s, id) = (std::rc::Rc::clone(&s), key(&k, i));
            async move {
                s.load(&id).await.expect("load").expect("present");
                s.update_ttl(&id, &ttl).await.expect("update_ttl");
            }
        })
        .await;
        emit_stats("actix-session", "load+update_ttl", READ_SET, c, stats);

        let s = std::rc::Rc::clone(&store);
        let stats = run_local_warm(ops, c, move |i| {
            let s = std::rc::Rc::clone(&s);
            async move {
                s.save(actix_state(&format!("login-{c}-{i}")), &ttl)
                    .await
                    .expect("save");
            }
        })
        .await;
        emit_stats("actix-session", "save", READ_SET, c, stats);
    }
}
