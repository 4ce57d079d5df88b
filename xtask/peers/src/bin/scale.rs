//! Create and get-and-touch on one Tessera store holding 10k, 100k or 1M
//! sessions: how the cost of an operation grows with the number stored.
//!
//! ```text
//! scale --backend local --path DIR           [--sessions 10000,100000,1000000]
//! scale --backend redis --url redis://HOST:PORT
//! scale --backend dynamodb --endpoint http://HOST:PORT
//!       [--ops N] [--concurrency C] [--populate-concurrency P]
//!       [--max-populate-seconds S]
//! ```
//!
//! Sizes are reached in increasing order: the store is populated up to each
//! size (one subject per session, a 200-byte data payload, many concurrent
//! creates), then get-and-touch of random stored sessions and creates of new
//! subjects are measured. Times are logical: every session is created at the
//! same instant and read 10 s later, so each size sees the same state (for
//! the local store: touches inside its coalescing window). For Redis the
//! `used_memory` delta over the populated sessions is reported too. With
//! `--max-populate-seconds`, a size whose population the previous size's
//! rate predicts to take longer is skipped (and reported as skipped). Creates
//! are measured after the reads, at most `size / 5` of them, so the store
//! grows by at most a fifth while measured.
//! Results are `BENCH` lines (see the library).

use std::sync::Arc;
use std::time::Instant;

use tessera_bench_peers::{
    Field, arg, emit, emit_stats, list_arg, payload_session, run, wall_clock,
};
use tessera_core::{OnQuotaExhaustion, Policy, Timestamp};
use tessera_store::testkit::{policy, session_ref};
use tessera_store::{SessionRef, SessionStore, StoreError, Touch};
use tessera_store_dynamodb::{DynamoDbConfig, DynamoDbStore, create_table};
use tessera_store_local::{LocalConfig, LocalStore};
use tessera_store_redis::{RedisConfig, RedisStore};

#[expect(clippy::print_stdout, reason = "a benchmark reports on the terminal")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend: String = arg(&args, "--backend", String::new());
    let sizes = list_arg(&args, "--sessions", &[10_000, 100_000, 1_000_000]);
    let ops: usize = arg(&args, "--ops", 20_000);
    let concurrency: usize = arg(&args, "--concurrency", 16);
    let populate_concurrency: usize = arg(&args, "--populate-concurrency", 256);
    let max_populate_seconds: f64 = arg(&args, "--max-populate-seconds", f64::INFINITY);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(1024)
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let store = open(&backend, &args).await;
        let t0 = wall_clock();
        let mut bench = Scale {
            backend: backend.clone(),
            store,
            ids: Vec::new(),
            quota: Arc::new(policy(5, OnQuotaExhaustion::CloseOldSession)),
            t0,
            redis_url: arg(&args, "--url", String::new()),
            redis_cli: arg(&args, "--redis-cli", "redis-cli".to_owned()),
        };
        let mut last_rate = f64::INFINITY;
        for size in sizes {
            let added = size.saturating_sub(bench.ids.len());
            // Stop rather than overrun the caller's time budget: the rate
            // of the previous size predicts this one's population time.
            let predicted = as_f64(added) / last_rate;
            if predicted > max_populate_seconds {
                println!(
                    "{backend}: skipping {size} sessions: populating would take about {predicted:.0} s (limit {max_populate_seconds:.0} s)"
                );
                emit(&[
                    ("system", Field::Text("tessera")),
                    ("backend", Field::Text(&backend)),
                    ("op", Field::Text("skipped")),
                    ("sessions", Field::Number(as_f64(size))),
                    ("predicted_seconds", Field::Number(predicted)),
                ]);
                break;
            }
            let started = Instant::now();
            let before = bench.used_memory().await;
            bench.populate(size, populate_concurrency).await;
            let seconds = started.elapsed().as_secs_f64();
            last_rate = as_f64(added) / seconds;
            println!(
                "{backend}: populated {added} sessions to {size} in {seconds:.1} s ({:.0}/s)",
                as_f64(added) / seconds
            );
            let mut fields = vec![
                ("system", Field::Text("tessera")),
                ("backend", Field::Text(&backend)),
                ("op", Field::Text("populate")),
                ("sessions", Field::Number(as_f64(size))),
                ("added", Field::Number(as_f64(added))),
                ("seconds", Field::Number(seconds)),
            ];
            if let (Some(before), Some(after)) = (before, bench.used_memory().await) {
                fields.push((
                    "bytes_per_session",
                    Field::Number((after - before) / as_f64(added.max(1))),
                ));
            }
            emit(&fields);
            bench.measure(size, ops, concurrency).await;
        }
    });
}

#[expect(clippy::cast_precision_loss, reason = "counts as JSON numbers")]
fn as_f64(n: usize) -> f64 {
    n as f64
}

async fn open(backend: &str, args: &[String]) -> Arc<dyn SessionStore> {
    match backend {
        "local" => {
            let path: String = arg(args, "--path", String::new());
            assert!(!path.is_empty(), "--path DIR is required for local");
            Arc::new(
                LocalStore::open(&LocalConfig::new(path))
                    .await
                    .expect("open the local store"),
            )
        }
        "redis" => {
            let url: String = arg(args, "--url", String::new());
            let mut config = RedisConfig::from_url(url);
            config.key_prefix = "scale:".to_owned();
            config.pool_size = arg(args, "--pool-size", tessera_store_redis::DEFAULT_POOL_SIZE);
            Arc::new(RedisStore::open(&config).await.expect("connect to Redis"))
        }
        "dynamodb" => {
            let endpoint: String = arg(args, "--endpoint", String::new());
            let table = format!("tessera-scale-{}", std::process::id());
            let mut config = DynamoDbConfig::new(&table);
            config.endpoint_url = Some(endpoint);
            config.aws_region_name = Some("us-east-1".into());
            config.aws_access_key = Some("bench".into());
            config.aws_secret_key = Some("bench".into());
            // The emulator applies one request at a time and may fall far
            // behind under load; a retry would only count twice.
            config.attempt_timeout = std::time::Duration::from_secs(60);
            create_table(&config).await.expect("create the table");
            Arc::new(DynamoDbStore::open(&config).await.expect("open the table"))
        }
        other => panic!("--backend must be local, redis or dynamodb, not {other:?}"),
    }
}

struct Scale {
    backend: String,
    store: Arc<dyn SessionStore>,
    ids: Vec<SessionRef>,
    quota: Arc<Policy>,
    t0: Timestamp,
    redis_url: String,
    redis_cli: String,
}

impl Scale {
    /// Creates sessions `ids.len()..size`, `concurrency` at a time.
    async fn populate(&mut self, size: usize, concurrency: usize) {
        let start = self.ids.len();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(start));
        let tasks: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                let (store, quota, next) = (
                    Arc::clone(&self.store),
                    Arc::clone(&self.quota),
                    Arc::clone(&next),
                );
                let t0 = self.t0;
                tokio::spawn(async move {
                    let mut made = Vec::new();
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if n >= size {
                            break made;
                        }
                        let subject = format!("user-{n}");
                        let id = session_ref(&subject);
                        match store
                            .create(&id, &payload_session(&subject, t0), &quota, t0)
                            .await
                        {
                            // A retried request whose first attempt landed
                            // (the emulator can be slow enough to time out).
                            Ok(_) | Err(StoreError::AlreadyExists) => made.push((n, id)),
                            Err(err) => panic!("populate: {err:?}"),
                        }
                    }
                })
            })
            .collect();
        let mut made = Vec::with_capacity(size - start);
        for task in tasks {
            made.extend(task.await.expect("a populating task panicked"));
        }
        made.sort_unstable_by_key(|(n, _)| *n);
        self.ids.extend(made.into_iter().map(|(_, id)| id));
    }

    async fn measure(&self, size: usize, ops: usize, concurrency: usize) {
        let later = self.t0.plus_millis(10_000);
        let ids: Arc<Vec<SessionRef>> = Arc::new(self.ids.clone());
        let store = Arc::clone(&self.store);
        let stats = run(ops, concurrency, move |i| {
            let store = Arc::clone(&store);
            // A fixed stride over the stored sessions: reads spread over all
            // of them, not a hot few.
            let id = ids[i.wrapping_mul(7_919) % ids.len()];
            async move {
                store
                    .get_and_touch(&id, later, Touch::Yes)
                    .await
                    .expect("get-and-touch")
                    .expect("the session is alive");
            }
        })
        .await;
        emit_stats(&self.backend, "get-and-touch", size, concurrency, stats);

        // Creates add sessions: at most a fifth of the size, so the size
        // measured stays the size reported.
        let (store, quota) = (Arc::clone(&self.store), Arc::clone(&self.quota));
        let stats = run(ops.min(size / 5).max(1), concurrency, move |i| {
            let (store, quota) = (Arc::clone(&store), Arc::clone(&quota));
            async move {
                let subject = format!("login-{size}-{i}");
                store
                    .create(
                        &session_ref(&subject),
                        &payload_session(&subject, later),
                        &quota,
                        later,
                    )
                    .await
                    .expect("create");
            }
        })
        .await;
        emit_stats(&self.backend, "create", size, concurrency, stats);
    }

    /// Redis `used_memory`, when the backend is Redis.
    async fn used_memory(&self) -> Option<f64> {
        if self.backend != "redis" {
            return None;
        }
        let (host, port) = host_port(&self.redis_url);
        let out = tokio::process::Command::new(&self.redis_cli)
            .args(["-h", &host, "-p", &port, "INFO", "memory"])
            .output()
            .await
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|n| n.trim().parse().ok())
    }
}

fn host_port(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.to_owned()),
        None => (authority.to_owned(), "6379".to_owned()),
    }
}
