//! Throughput, latency, round trips and memory of the Redis store, beside
//! `redis-benchmark` baselines measured in the same run.
//!
//! ```text
//! cargo run --release -p tessera-store-redis --example bench_redis -- \
//!     --url redis://127.0.0.1:PORT [--ops 100000] [--concurrency 1,16,64] \
//!     [--memory-sessions 100000] [--pool-size 4] [--redis-benchmark PATH]
//! ```
//!
//! Against one Redis server, at each concurrency (tasks sharing one store):
//!
//! * Tessera get-and-touch (one session, the real clock as `now`) and
//!   create (1000 subjects at a quota of 5 under CLOSE_OLD_SESSION, so past
//!   warm-up every create also closes one session): ops/s, p50, p99, and
//!   round trips per operation from `INFO commandstats` (`GETRANGE` and
//!   `GET` calls for get-and-touch: its bounded read, and the `GET` inside
//!   each due touch's script; EVALSHA + EVAL calls for create);
//! * with `--redis-benchmark`: `redis-benchmark` running a plain `GET` of a
//!   value as large as the session value (the machine's limit), and the
//!   very call get-and-touch sends, a `GET` of the session's key, with the
//!   same request count and number of connections as concurrency;
//! * Redis memory per session: the `used_memory` delta over
//!   `--memory-sessions` sessions (one subject each, a 200-byte data
//!   payload).
//!
//! Prints the command line get-and-touch sends so anyone can replay it
//! with `redis-benchmark`, then a markdown report.
//! Everything it writes lives under a fresh key prefix and is deleted at
//! the end. Never point it at a production server.
// Printing is the job; statistics convert counts to and from f64 on purpose.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::too_many_lines,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    missing_docs
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use fred::clients::Client;
use fred::interfaces::{ClientLike as _, KeysInterface as _};
use fred::types::{Builder, InfoKind};
use ring::rand::SecureRandom as _;
use serde_json::Value as Json;
use tessera_core::{OnQuotaExhaustion, Subject, Timestamp};
use tessera_store::testkit::{policy, pre_login_ref, pre_login_session, session, session_ref};
use tessera_store::{Clock as _, SessionStore, SystemClock, Touch};
use tessera_store_redis::{RedisConfig, RedisStore};

const PAYLOAD_BYTES: usize = 200;
const CREATE_SUBJECTS: usize = 1000;

struct Args {
    url: String,
    ops: usize,
    concurrency: Vec<usize>,
    memory_sessions: usize,
    pool_size: usize,
    redis_benchmark: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        url: String::new(),
        ops: 100_000,
        concurrency: vec![1, 16, 64],
        memory_sessions: 100_000,
        pool_size: tessera_store_redis::DEFAULT_POOL_SIZE,
        redis_benchmark: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--url" => args.url = value(),
            "--ops" => args.ops = value().parse().unwrap_or_else(|_| usage("--ops")),
            "--concurrency" => {
                args.concurrency = value()
                    .split(',')
                    .map(|c| c.trim().parse().unwrap_or_else(|_| usage("--concurrency")))
                    .collect();
            }
            "--memory-sessions" => {
                args.memory_sessions = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--memory-sessions"));
            }
            "--pool-size" => {
                args.pool_size = value().parse().unwrap_or_else(|_| usage("--pool-size"));
            }
            "--redis-benchmark" => args.redis_benchmark = Some(value().into()),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.url.is_empty() {
        usage("--url is required");
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "bench_redis: {problem}\nusage: bench_redis --url redis://HOST:PORT [--ops N] \
         [--concurrency 1,16,64] [--memory-sessions N] [--pool-size N] [--redis-benchmark PATH]"
    );
    std::process::exit(2)
}

#[derive(Clone, Copy)]
struct Stats {
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Stats {
    fn cell(self) -> String {
        format!(
            "{:.0} ({:.3} / {:.3})",
            self.ops_per_sec, self.p50_ms, self.p99_ms
        )
    }
}

fn summarise(mut micros: Vec<u64>, elapsed: f64) -> Stats {
    micros.sort_unstable();
    let pick = |q: f64| micros[((micros.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    Stats {
        ops_per_sec: micros.len() as f64 / elapsed,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
    }
}

/// Runs `ops` operations from `concurrency` tasks; `op(i)` is operation i.
async fn run<F, Fut>(ops: usize, concurrency: usize, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut micros = Vec::with_capacity(ops / concurrency + 1);
                let mut i = t;
                while i < ops {
                    let began = Instant::now();
                    op(i).await;
                    micros.push(began.elapsed().as_micros() as u64);
                    i += concurrency;
                }
                micros
            })
        })
        .collect();
    let mut all = Vec::with_capacity(ops);
    for task in tasks {
        all.extend(task.await.expect("benchmark task"));
    }
    summarise(all, start.elapsed().as_secs_f64())
}

async fn command_calls(raw: &Client) -> HashMap<String, u64> {
    let info: String = raw.info(Some(InfoKind::CommandStats)).await.expect("info");
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// Reads: a get-and-touch's own `GETRANGE` (the read bounded by the
/// record size cap), plus the `GET` inside each touch script (so with the
/// scripts, its round trips).
async fn get_calls(raw: &Client) -> u64 {
    let calls = command_calls(raw).await;
    calls.get("get").copied().unwrap_or(0) + calls.get("getrange").copied().unwrap_or(0)
}

async fn script_calls(raw: &Client) -> u64 {
    let calls = command_calls(raw).await;
    calls.get("evalsha").copied().unwrap_or(0) + calls.get("eval").copied().unwrap_or(0)
}

async fn used_memory(raw: &Client) -> i64 {
    let info: String = raw.info(Some(InfoKind::Memory)).await.expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory")
}

/// `redis-benchmark --csv` for one command; returns its stats.
fn redis_benchmark(
    bin: &PathBuf,
    host: &str,
    port: u16,
    ops: usize,
    clients: usize,
    cmd: &[String],
) -> Stats {
    let out = Command::new(bin)
        .args(["-h", host, "-p", &port.to_string()])
        .args(["-n", &ops.to_string(), "-c", &clients.to_string(), "--csv"])
        .args(cmd)
        .output()
        .expect("redis-benchmark runs");
    assert!(
        out.status.success(),
        "redis-benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().filter(|l| l.starts_with('"'));
    let header: Vec<String> = csv_fields(lines.next().expect("csv header"));
    let row: Vec<String> = csv_fields(lines.next().expect("csv row"));
    let field = |name: &str| -> f64 {
        header
            .iter()
            .position(|h| h == name)
            .and_then(|i| row.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    Stats {
        ops_per_sec: field("rps"),
        p50_ms: field("p50_latency_ms"),
        p99_ms: field("p99_latency_ms"),
    }
}

fn csv_fields(line: &str) -> Vec<String> {
    line.split("\",\"")
        .map(|f| f.trim_matches('"').to_owned())
        .collect()
}

fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().expect("port")),
        None => (authority.to_owned(), 6379),
    }
}

fn now() -> Timestamp {
    SystemClock.now()
}

fn payload_session(subject: &str, now: Timestamp) -> tessera_core::Session {
    let mut s = session(subject, "web", now, 20_160, 10_080, 4_320);
    s.data.clear();
    s.data
        .insert("p".into(), Json::from("x".repeat(PAYLOAD_BYTES - 8)));
    s
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let mut bytes = [0u8; 6];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("random");
    let prefix = format!(
        "bench-{:012x}:",
        u64::from_be_bytes([
            0, 0, bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]
        ])
    );
    let mut config = RedisConfig::from_url(args.url.clone());
    config.key_prefix = prefix.clone();
    config.pool_size = args.pool_size;
    let store = Arc::new(RedisStore::open(&config).await.expect("connect"));
    let raw = Builder::from_config(config.fred_config().expect("config"))
        .build()
        .expect("client");
    raw.init().await.expect("raw connect");
    let (host, port) = host_port(&args.url);

    // The session get-and-touch reads, and its replay command line.
    let start = now();
    let id = session_ref("bench-reader");
    let reader = payload_session("bench-reader", start);
    store
        .create(
            &id,
            &reader,
            &policy(5, OnQuotaExhaustion::DenyLogin),
            start,
        )
        .await
        .expect("create the benchmark session");
    let key = store.session_key(&id);
    let stored: Vec<u8> = raw.get(&key).await.expect("read the session value");
    let record_bytes = stored.len();
    // What a read sends: the value, bounded by the record size cap.
    let evalsha: Vec<String> = vec![
        "GETRANGE".into(),
        key.clone(),
        "0".into(),
        tessera_store::backend::record::MAX_RECORD_BYTES.to_string(),
    ];
    let get_key = format!("{prefix}get-probe");
    let () = raw
        .set(&get_key, "x".repeat(record_bytes), None, None, false)
        .await
        .expect("set the GET probe");
    println!(
        "replay: redis-benchmark -h {host} -p {port} -n {} -c <C> {}",
        args.ops,
        evalsha.join(" ")
    );
    println!("session value: {record_bytes} bytes (data payload {PAYLOAD_BYTES} bytes)\n");

    let mut rows = Vec::new();
    let mut touch_rtt = 0.0;
    let mut create_rtt = 0.0;
    for &c in &args.concurrency {
        let baselines = args.redis_benchmark.as_ref().map(|bin| {
            let get = redis_benchmark(
                bin,
                &host,
                port,
                args.ops,
                c,
                &["GET".into(), get_key.clone()],
            );
            let script = redis_benchmark(bin, &host, port, args.ops, c, &evalsha);
            (get, script)
        });

        let before = get_calls(&raw).await;
        let s = Arc::clone(&store);
        let touch = run(args.ops, c, move |_| {
            let s = Arc::clone(&s);
            async move {
                s.get_and_touch(&id, now(), Touch::Yes)
                    .await
                    .expect("get-and-touch")
                    .expect("the session is alive");
            }
        })
        .await;
        touch_rtt = (get_calls(&raw).await - before) as f64 / args.ops as f64;

        let subjects: Arc<Vec<Subject>> = Arc::new(
            (0..CREATE_SUBJECTS)
                .map(|i| Subject::new(format!("bench-{c}-{i}")).expect("subject"))
                .collect(),
        );
        let before = script_calls(&raw).await;
        let s = Arc::clone(&store);
        let create = run(args.ops, c, move |i| {
            let s = Arc::clone(&s);
            let subject = subjects[i % CREATE_SUBJECTS].as_str().to_owned();
            async move {
                let t = now();
                let new = payload_session(&subject, t);
                s.create(
                    &session_ref(&subject),
                    &new,
                    &policy(5, OnQuotaExhaustion::CloseOldSession),
                    t,
                )
                .await
                .expect("create");
            }
        })
        .await;
        create_rtt = (script_calls(&raw).await - before) as f64 / args.ops as f64;

        // Pre-login creates: no quota and no index, one key each.
        let s = Arc::clone(&store);
        let pre_ids: Arc<std::sync::Mutex<Vec<tessera_crypto::SessionRef>>> = Arc::default();
        let made = Arc::clone(&pre_ids);
        let pre_login = run(args.ops, c, move |_| {
            let s = Arc::clone(&s);
            let made = Arc::clone(&made);
            async move {
                let t = now();
                let id = pre_login_ref();
                s.create_anonymous(&id, &payload_pre_login(t), t)
                    .await
                    .expect("create a pre-login session");
                made.lock().expect("ids").push(id);
            }
        })
        .await;
        let pre_ids = std::mem::take(&mut *pre_ids.lock().expect("ids"));
        for chunk in pre_ids.chunks(1000) {
            futures::future::join_all(chunk.iter().map(|id| store.delete(id, now()))).await;
        }
        for i in 0..CREATE_SUBJECTS {
            let subject = Subject::new(format!("bench-{c}-{i}")).expect("subject");
            store
                .delete_by_subject(&subject, None, now())
                .await
                .expect("clean up");
        }
        rows.push((c, baselines, touch, create, pre_login));
    }

    // Memory per session.
    let mut ids = Vec::with_capacity(args.memory_sessions);
    let mem_before = used_memory(&raw).await;
    let t = now();
    let s = Arc::clone(&store);
    let made: Vec<_> = (0..args.memory_sessions).collect();
    for chunk in made.chunks(1000) {
        let batch = futures::future::join_all(chunk.iter().map(|i| {
            let s = Arc::clone(&s);
            async move {
                let subject = format!("mem-{i}");
                let id = session_ref(&subject);
                s.create(
                    &id,
                    &payload_session(&subject, t),
                    &policy(5, OnQuotaExhaustion::DenyLogin),
                    t,
                )
                .await
                .expect("create");
                id
            }
        }))
        .await;
        ids.extend(batch);
    }
    let mem_after = used_memory(&raw).await;
    let per_session = (mem_after - mem_before) as f64 / args.memory_sessions.max(1) as f64;
    for chunk in ids.chunks(1000) {
        futures::future::join_all(chunk.iter().map(|id| store.delete(id, now()))).await;
    }
    let mem_before = used_memory(&raw).await;
    let mut pre_ids = Vec::with_capacity(args.memory_sessions);
    for chunk in made.chunks(1000) {
        let batch = futures::future::join_all(chunk.iter().map(|_| {
            let s = Arc::clone(&s);
            async move {
                let id = pre_login_ref();
                s.create_anonymous(&id, &payload_pre_login(t), t)
                    .await
                    .expect("create a pre-login session");
                id
            }
        }))
        .await;
        pre_ids.extend(batch);
    }
    let pre_login_per_session =
        (used_memory(&raw).await - mem_before) as f64 / args.memory_sessions.max(1) as f64;
    for chunk in pre_ids.chunks(1000) {
        futures::future::join_all(chunk.iter().map(|id| store.delete(id, now()))).await;
    }
    store.delete(&id, now()).await.expect("clean up");
    let _: i64 = raw.del(&get_key).await.expect("clean up");

    println!(
        "| concurrency | redis-benchmark GET ops/s (p50 / p99 ms) | redis-benchmark, the same GET | Tessera get-and-touch | vs same call | vs GET | Tessera create | Tessera pre-login create |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (c, baselines, touch, create, pre_login) in &rows {
        let (get, script, vs_script, vs_get) = match baselines {
            Some((get, script)) => (
                get.cell(),
                script.cell(),
                format!("{:.0}%", 100.0 * touch.ops_per_sec / script.ops_per_sec),
                format!("{:.0}%", 100.0 * touch.ops_per_sec / get.ops_per_sec),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {c} | {get} | {script} | {} | {vs_script} | {vs_get} | {} | {} |",
            touch.cell(),
            create.cell(),
            pre_login.cell()
        );
    }
    println!();
    println!(
        "round trips per operation (INFO commandstats, GETRANGE + GET / ops; EVALSHA + EVAL / ops): get-and-touch {touch_rtt:.2}, create {create_rtt:.2}"
    );
    println!(
        "memory: {per_session:.0} bytes per session over {} sessions (data payload {PAYLOAD_BYTES} B, value {record_bytes} B, {:.2}x the payload)",
        args.memory_sessions,
        per_session / PAYLOAD_BYTES as f64
    );
    println!(
        "memory: {pre_login_per_session:.0} bytes per pre-login session over {} sessions (data payload {PAYLOAD_BYTES} B)",
        args.memory_sessions
    );
    let _ = raw.quit().await;
}

/// A pre-login session at `t` holding the same payload as the others.
fn payload_pre_login(t: Timestamp) -> tessera_core::Session {
    pre_login_session(t, payload_session("pre-login", t).data)
}
