//! The load of `cargo xtask soak`: a steady, mixed load on a running
//! `tessera serve` — logins, lookups (with a touch), updates and logouts —
//! for a fixed time, with the server's resident memory, open descriptors,
//! latency and errors sampled in equal windows, and a verdict.
//!
//! ```text
//! cargo run -p tessera-server --example soak -- \
//!     --url http://127.0.0.1:8080 --token TOKEN --pid PID \
//!     [--seconds 600] [--windows 10] [--rate 200] [--workers 16] [--p99 judge|report]
//! ```
//!
//! Each worker owns a few slots, each holding at most one session of a
//! subject of its own, so the number of live sessions stays bounded and the
//! quota never closes a session behind the load's back: every answer is
//! known in advance, and any other is an error. The verdict (exit code 1
//! when it fails) is:
//!
//! * no error at all;
//! * resident memory at the end within 16 MiB plus 10% of what it was at
//!   the end of the first window (the warm-up);
//! * open descriptors at the end within 16 of the first window's;
//! * p99 latency late in the run within twice that of the first window:
//!   the median of the window p99s of the second half against the first
//!   window's p99 (with 5 ms as the least first-window p99 the comparison
//!   uses). A steady slowdown fails it; one stalled window (a disk flush
//!   on a shared machine) does not.

#![expect(clippy::print_stdout, reason = "the report is the output")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// Sessions each worker keeps at most.
const SLOTS: usize = 8;
/// Resident memory may grow by this much plus [`RSS_GROWTH_PERCENT`].
const RSS_GROWTH_KIB: u64 = 16 * 1024;
const RSS_GROWTH_PERCENT: u64 = 10;
/// Descriptors may grow by this many (pooled backend connections).
const FD_GROWTH: u64 = 16;
/// The least first-window p99 the latency comparison uses.
const P99_FLOOR: Duration = Duration::from_millis(5);

struct Args {
    url: String,
    token: String,
    pid: u32,
    seconds: u64,
    windows: u64,
    rate: u64,
    workers: u64,
    /// Whether the p99 verdict counts; `--p99 report` prints it only, for
    /// a backend whose own latency grows with the data it holds.
    judge_p99: bool,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut args = Self {
            url: String::new(),
            token: String::new(),
            pid: 0,
            seconds: 600,
            windows: 10,
            rate: 200,
            workers: 16,
            judge_p99: true,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            let number = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
            match flag.as_str() {
                "--url" => args.url.clone_from(&value),
                "--token" => args.token.clone_from(&value),
                "--pid" => args.pid = u32::try_from(number()?).map_err(|e| e.to_string())?,
                "--seconds" => args.seconds = number()?,
                "--windows" => args.windows = number()?.max(2),
                "--rate" => args.rate = number()?.max(1),
                "--workers" => args.workers = number()?.max(1),
                "--p99" => {
                    args.judge_p99 = match value.as_str() {
                        "judge" => true,
                        "report" => false,
                        _ => return Err(format!("--p99 takes `judge` or `report`, got {value}")),
                    };
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if args.url.is_empty() || args.token.is_empty() || args.pid == 0 {
            return Err("--url, --token and --pid are required".into());
        }
        Ok(args)
    }
}

/// What one window saw.
#[derive(Default)]
struct Window {
    latencies: Vec<Duration>,
    errors: u64,
    /// The first few distinct error descriptions.
    examples: Vec<String>,
}

impl Window {
    fn record(&mut self, took: Duration, error: Option<String>) {
        self.latencies.push(took);
        if let Some(e) = error {
            self.errors += 1;
            if self.examples.len() < 3 && !self.examples.contains(&e) {
                self.examples.push(e);
            }
        }
    }
}

/// A window's figures, once closed.
struct Sample {
    window: Duration,
    ops: usize,
    errors: u64,
    p50: Duration,
    p99: Duration,
    rss_kib: u64,
    fds: u64,
    examples: Vec<String>,
    /// Every latency of the window, sorted.
    latencies: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// A small deterministic generator (xorshift64*), so a run's mix is
/// repeatable without a dependency.
struct Mix(u64);

impl Mix {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

struct Worker {
    id: u64,
    client: Client,
    base: String,
    bearer: String,
    slots: [Option<String>; SLOTS],
    mix: Mix,
    counter: u64,
}

impl Worker {
    /// One operation of the mix: about 50% lookups, 20% updates, 15%
    /// logouts and 15% logins (a login whenever the chosen slot is empty).
    async fn step(&mut self) -> Result<(), String> {
        let slot = usize::try_from(self.mix.next(SLOTS as u64)).unwrap_or(0);
        let roll = self.mix.next(100);
        self.counter += 1;
        let Some(sid) = self.slots[slot].clone() else {
            return self.login(slot).await;
        };
        match roll {
            0..50 => self.call(Method::GET, &sid, None, StatusCode::OK).await,
            50..70 => {
                let body = json!({"data": {"n": self.counter}});
                self.call(Method::PUT, &sid, Some(body), StatusCode::OK)
                    .await
            }
            70..85 => {
                self.slots[slot] = None;
                self.call(Method::DELETE, &sid, None, StatusCode::OK).await
            }
            _ => {
                // Log out and in again: a new session for the slot's subject.
                self.slots[slot] = None;
                self.call(Method::DELETE, &sid, None, StatusCode::OK)
                    .await?;
                self.login(slot).await
            }
        }
    }

    async fn login(&mut self, slot: usize) -> Result<(), String> {
        let body = json!({"sub": format!("soak-{}-{slot}", self.id), "data": {"n": 0}});
        let response = self
            .client
            .post(format!("{}/sessions", self.base))
            .header("Authorization", &self.bearer)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("POST: {e}"))?;
        if response.status() != StatusCode::CREATED {
            return Err(format!("POST: {}", response.status()));
        }
        let answer: Value = response.json().await.map_err(|e| format!("POST: {e}"))?;
        let sid = answer["sid"].as_str().ok_or("POST: no sid")?;
        self.slots[slot] = Some(sid.to_owned());
        Ok(())
    }

    async fn call(
        &self,
        method: Method,
        sid: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Result<(), String> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}/sessions", self.base))
            .header("Authorization", &self.bearer)
            .header("SID", sid);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{method}: {e}"))?;
        let status = response.status();
        // Read the body so that the connection is reused.
        let _ = response.bytes().await;
        if status == expected {
            Ok(())
        } else {
            Err(format!("{method}: {status}"))
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            println!("soak: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let window_length =
        Duration::from_secs(args.seconds) / u32::try_from(args.windows).unwrap_or(1);
    let current = Arc::new(Mutex::new(Window::default()));
    let client = Client::new();
    let base = format!("{}/session-store/rest/v2", args.url.trim_end_matches('/'));
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let period = Duration::from_secs(args.workers) / u32::try_from(args.rate).unwrap_or(1);

    let mut tasks = Vec::new();
    for id in 0..args.workers {
        let mut worker = Worker {
            id,
            client: client.clone(),
            base: base.clone(),
            bearer: format!("Bearer {}", args.token),
            slots: Default::default(),
            mix: Mix(0x9E37_79B9_7F4A_7C15 ^ (id + 1)),
            counter: 0,
        };
        let current = Arc::clone(&current);
        // Each worker starts its own share of a period later, so that the
        // requests arrive evenly instead of in bursts of `workers` at once
        // (a burst queues at a backend that serves one request at a time,
        // and the latency measured would be the burst's, not a request's).
        let offset =
            period / u32::try_from(args.workers).unwrap_or(1) * u32::try_from(id).unwrap_or(0);
        tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < end {
                ticks.tick().await;
                let started = Instant::now();
                let outcome = worker.step().await;
                let took = started.elapsed();
                current
                    .lock()
                    .expect("no panics while recording")
                    .record(took, outcome.err());
            }
        }));
    }

    let mut samples = Vec::new();
    for n in 1..=args.windows {
        tokio::time::sleep(window_length).await;
        let mut window = std::mem::take(&mut *current.lock().expect("no panics while recording"));
        window.latencies.sort_unstable();
        let sample = Sample {
            window: window_length,
            ops: window.latencies.len(),
            errors: window.errors,
            p50: percentile(&window.latencies, 50),
            p99: percentile(&window.latencies, 99),
            rss_kib: rss_kib(args.pid),
            fds: open_fds(args.pid),
            examples: window.examples,
            latencies: window.latencies,
        };
        println!(
            "window {n}/{}: {} ops, {} errors, p50 {:.2} ms, p99 {:.2} ms, rss {} KiB, {} fds{}",
            args.windows,
            sample.ops,
            sample.errors,
            sample.p50.as_secs_f64() * 1e3,
            sample.p99.as_secs_f64() * 1e3,
            sample.rss_kib,
            sample.fds,
            if sample.examples.is_empty() {
                String::new()
            } else {
                format!(" ({})", sample.examples.join("; "))
            }
        );
        samples.push(sample);
    }
    for task in tasks {
        let _ = task.await;
    }
    verdict(&samples, args.judge_p99)
}

fn verdict(samples: &[Sample], judge_p99: bool) -> std::process::ExitCode {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return std::process::ExitCode::FAILURE;
    };
    let errors: u64 = samples.iter().map(|s| s.errors).sum();
    let ops: usize = samples.iter().map(|s| s.ops).sum();
    let rss_bound = first.rss_kib + RSS_GROWTH_KIB + first.rss_kib * RSS_GROWTH_PERCENT / 100;
    let fd_bound = first.fds + FD_GROWTH;
    // The p99 of the first half of the windows against the last half's,
    // each over all of its latencies: one window of a short run holds too
    // few requests for its p99 to be more than its slowest one.
    let half = (samples.len() / 2).max(1);
    let early_p99 = pooled_p99(&samples[..half]);
    let late_p99 = pooled_p99(&samples[samples.len() - half..]);
    let p99_bound = early_p99.max(P99_FLOOR) * 2;
    let elapsed = samples[0].window * u32::try_from(samples.len()).unwrap_or(u32::MAX);
    let checks = [
        (
            errors == 0,
            format!("errors: {errors} of {ops} operations (bound 0)"),
        ),
        (
            last.rss_kib <= rss_bound,
            format!(
                "rss: {} KiB at the end, {} KiB after the first window (bound {rss_bound} KiB)",
                last.rss_kib, first.rss_kib
            ),
        ),
        (
            last.fds <= fd_bound,
            format!(
                "fds: {} at the end, {} after the first window (bound {fd_bound})",
                last.fds, first.fds
            ),
        ),
        (
            late_p99 <= p99_bound || !judge_p99,
            format!(
                "{}p99: {:.2} ms over the last {half} windows, {:.2} ms over the first {half} \
                 (bound {:.2} ms)",
                if judge_p99 {
                    ""
                } else {
                    "(reported, not judged) "
                },
                late_p99.as_secs_f64() * 1e3,
                early_p99.as_secs_f64() * 1e3,
                p99_bound.as_secs_f64() * 1e3
            ),
        ),
    ];
    println!(
        "rate: {:.0} operations/s held on average",
        f64::from(u32::try_from(ops).unwrap_or(u32::MAX)) / elapsed.as_secs_f64()
    );
    let mut passed = true;
    for (ok, line) in checks {
        println!("{} {line}", if ok { "pass" } else { "FAIL" });
        passed &= ok;
    }
    if passed {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// The p99 of the latencies of several windows together.
fn pooled_p99(windows: &[Sample]) -> Duration {
    let mut all: Vec<Duration> = windows
        .iter()
        .flat_map(|w| w.latencies.iter().copied())
        .collect();
    all.sort_unstable();
    percentile(&all, 99)
}
