//! What the `peers` and `scale` benchmark drivers share: running an
//! operation from N concurrent tasks, summarising latencies, and printing one
//! result per line in the form `cargo xtask bench` parses.
//!
//! Every result is a line starting with `BENCH ` followed by a flat JSON
//! object of strings and numbers; everything else a driver prints is for
//! people and ignored by xtask.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value as Json;
use tessera_core::{Session, Timestamp};
use tessera_store::testkit::session;

/// Bytes of free-form session data in every record the drivers write, the
/// same for Tessera and for the peers.
pub const PAYLOAD_BYTES: usize = 200;

/// Throughput and latency of one measured run.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub ops: usize,
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// Runs operations `0..ops` from `concurrency` tasks (task `t` runs
/// `t, t + concurrency, ...`), timing each one.
pub async fn run<F, Fut>(ops: usize, concurrency: usize, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let concurrency = concurrency.max(1);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut micros = Vec::with_capacity(ops / concurrency + 1);
                let mut i = task;
                while i < ops {
                    let began = Instant::now();
                    op(i).await;
                    micros.push(began.elapsed().as_secs_f64() * 1e6);
                    i += concurrency;
                }
                micros
            })
        })
        .collect();
    let mut all = Vec::with_capacity(ops);
    for task in tasks {
        all.extend(task.await.expect("a benchmark task panicked"));
    }
    summarise(all, started.elapsed().as_secs_f64())
}

/// [`run`] after a warm-up of a tenth as many operations (connections
/// opened, scripts loaded, caches warm), which is not counted.
pub async fn run_warm<F, Fut>(ops: usize, concurrency: usize, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    run(ops / 10, concurrency, op.clone()).await;
    run(ops, concurrency, op).await
}

/// [`run_local`] after an uncounted warm-up, as [`run_warm`].
pub async fn run_local_warm<F, Fut>(ops: usize, concurrency: usize, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Clone + 'static,
    Fut: Future<Output = ()>,
{
    run_local(ops / 10, concurrency, op.clone()).await;
    run_local(ops, concurrency, op).await
}

/// Like [`run`] for operations that are not `Send` (one peer's futures are
/// not): the tasks run on a `LocalSet` of the current thread.
pub async fn run_local<F, Fut>(ops: usize, concurrency: usize, op: F) -> Stats
where
    F: Fn(usize) -> Fut + 'static,
    Fut: Future<Output = ()>,
{
    let op = std::rc::Rc::new(op);
    let concurrency = concurrency.max(1);
    let local = tokio::task::LocalSet::new();
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let op = std::rc::Rc::clone(&op);
            local.spawn_local(async move {
                let mut micros = Vec::with_capacity(ops / concurrency + 1);
                let mut i = task;
                while i < ops {
                    let began = Instant::now();
                    op(i).await;
                    micros.push(began.elapsed().as_secs_f64() * 1e6);
                    i += concurrency;
                }
                micros
            })
        })
        .collect();
    let all = local
        .run_until(async move {
            let mut all = Vec::with_capacity(ops);
            for task in tasks {
                all.extend(task.await.expect("a benchmark task panicked"));
            }
            all
        })
        .await;
    summarise(all, started.elapsed().as_secs_f64())
}

#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "counts to rates, and a quantile to an index"
)]
fn summarise(mut micros: Vec<f64>, elapsed: f64) -> Stats {
    micros.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        micros
            .get(((micros.len().saturating_sub(1)) as f64 * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Stats {
        ops: micros.len(),
        ops_per_sec: micros.len() as f64 / elapsed,
        p50_us: pick(0.50),
        p99_us: pick(0.99),
    }
}

/// A field of a result line.
pub enum Field<'a> {
    Text(&'a str),
    Number(f64),
}

/// Prints one result line: `BENCH {"key": value, ...}`.
pub fn emit(fields: &[(&str, Field<'_>)]) {
    let mut line = String::from("BENCH {");
    for (n, (key, value)) in fields.iter().enumerate() {
        if n > 0 {
            line.push_str(", ");
        }
        let value = match value {
            Field::Text(text) => Json::from(*text).to_string(),
            Field::Number(x) if x.is_finite() => format!("{x}"),
            Field::Number(_) => "null".to_owned(),
        };
        let _ = write!(line, "{}: {value}", Json::from(*key));
    }
    line.push('}');
    println!("{line}");
}

/// Prints the result of one measured run of `op` on `system`.
#[expect(clippy::cast_precision_loss, reason = "counts as JSON numbers")]
pub fn emit_stats(system: &str, op: &str, sessions: usize, concurrency: usize, stats: Stats) {
    emit(&[
        ("system", Field::Text(system)),
        ("op", Field::Text(op)),
        ("sessions", Field::Number(sessions as f64)),
        ("concurrency", Field::Number(concurrency as f64)),
        ("ops", Field::Number(stats.ops as f64)),
        ("ops_per_sec", Field::Number(stats.ops_per_sec)),
        ("p50_us", Field::Number(stats.p50_us)),
        ("p99_us", Field::Number(stats.p99_us)),
    ]);
}

/// A Tessera session of `subject` started at `now` (14 days hard, 7 days
/// since authentication, 3 days idle) carrying [`PAYLOAD_BYTES`] of data.
pub fn payload_session(subject: &str, now: Timestamp) -> Session {
    let mut s = session(subject, "web", now, 20_160, 10_080, 4_320);
    s.data.clear();
    s.data.insert("p".into(), Json::from(payload_text()));
    s
}

/// The data payload: a JSON string that, with its key and quotes, is
/// [`PAYLOAD_BYTES`] long in a JSON object.
pub fn payload_text() -> String {
    // `{"p":"…"}` adds 8 bytes around the text.
    "x".repeat(PAYLOAD_BYTES - 8)
}

/// The value of `--flag` in `args`, parsed, or `default`.
pub fn arg<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> T {
    match args.iter().position(|a| a == flag) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} needs a valid value")),
        None => default,
    }
}

/// A comma-separated list after `--flag`, or `default`.
pub fn list_arg(args: &[String], flag: &str, default: &[usize]) -> Vec<usize> {
    let text: String = arg(args, flag, String::new());
    if text.is_empty() {
        return default.to_vec();
    }
    text.split(',')
        .map(|n| {
            n.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{flag}: bad number {n}"))
        })
        .collect()
}

/// Seconds since the epoch as a [`Timestamp`], read once per run: the
/// drivers then pass logical times so that every size sees the same state
/// (for example, the local store's touch window).
pub fn wall_clock() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    Timestamp::from_secs(i64::try_from(secs).expect("seconds fit"))
}
