//! Part `server`: the release `tessera` binary on a free port with a
//! temporary configuration, once on the local store and once on Redis, under
//! `wrk`: `GET /sessions` (a touch), `POST /sessions` (a new subject each
//! time) and the same server's trivial `/healthz` as the HTTP baseline,
//! measured back to back in the same run. The server's resident memory is
//! sampled throughout (part `memory` reports it).

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::Bench;
use super::chart::{Chart, Kind, Series};
use super::http::{self, Server};
use super::machine;
use super::report::{Headline, latency, percent, rate, table};
use super::wrk::{Case, Load, Outcome, Wrk};
use crate::cmd;

/// Sessions created before the GET runs (each request picks the next one),
/// in a full run and in a quick one.
const SESSIONS_FOR_GET: [usize; 2] = [1000, 200];
const BACKENDS: [&str; 2] = ["local", "redis"];
const CASES: [Case; 3] = [Case::Healthz, Case::GetSession, Case::PostSession];
/// `GET /sessions` against the same server's `/healthz`, at least, per
/// backend, at 16 and 64 connections.
const GET_TARGETS: [(&str, f64); 2] = [("local", 0.60), ("redis", 0.45)];

/// One wrk run and the server's memory during it.
#[derive(Clone, Debug)]
pub(super) struct Run {
    pub(super) backend: &'static str,
    pub(super) case: Case,
    pub(super) connections: usize,
    pub(super) outcome: Outcome,
    /// Peak VmRSS during the run, KiB.
    pub(super) peak_rss_kib: u64,
    /// The server's CPU time over the run (`/proc/<pid>/stat`), per
    /// request answered.
    pub(super) cpu_us_per_request: f64,
}

/// Memory of one server: after start-up, after the setup sessions, peak.
#[derive(Clone, Debug)]
pub(super) struct Memory {
    pub(super) backend: &'static str,
    pub(super) idle_kib: u64,
    pub(super) peak_kib: u64,
    pub(super) stored_sessions: u64,
}

/// What the part measured, kept for part `memory`.
#[derive(Clone, Debug, Default)]
pub(super) struct Results {
    pub(super) runs: Vec<Run>,
    pub(super) memory: Vec<Memory>,
    pub(super) seconds: u64,
    /// Sessions the GET runs read.
    pub(super) readers: usize,
    /// `wrk -v`'s first line.
    pub(super) load_generator: String,
}

pub(super) fn run(bench: &mut Bench) -> Result<()> {
    let concurrency: &[usize] = if bench.quick { &[16, 64] } else { &[1, 16, 64] };
    let seconds = if bench.quick { 3 } else { 10 };
    let results = measure(bench, concurrency, seconds)?;
    report(bench, &results, concurrency);
    bench.server = Some(results);
    Ok(())
}

/// Builds and starts the server on each backend and runs every case at
/// every concurrency for `seconds`.
pub(super) fn measure(bench: &mut Bench, concurrency: &[usize], seconds: u64) -> Result<Results> {
    bench.cargo_build("tessera", &["-p", "tessera-server", "--bin", "tessera"])?;
    bench.progress("preparing wrk and its scripts");
    let wrk = Wrk::prepare(&bench.out)?;
    let tessera = super::release_bin("tessera");
    let (token, hash) = new_token(&tessera)?;
    let threads = bench.machine.cores.parse().unwrap_or(2);
    let mut results = Results {
        seconds,
        ..Results::default()
    };
    for backend in BACKENDS {
        let dir = bench.out.join(format!("server-{backend}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o700)?;
        let port = http::free_port()?;
        let store = if backend == "local" {
            format!(
                "  type: local\n  path: {}\n",
                dir.join("sessions").display()
            )
        } else {
            bench.redis_command(&["FLUSHALL"])?;
            format!(
                "  type: redis\n  url: {}\n  key_prefix: \"bench-server:\"\n",
                bench.redis_url()?
            )
        };
        let config_file = write_config(&dir, &store, &hash, port)?;
        bench.progress(&format!(
            "starting tessera on the {backend} store (port {port})"
        ));
        let mut serve = Command::new(&tessera);
        serve.arg("--config").arg(&config_file).arg("serve");
        let server = Server::start(&mut serve, port, &dir.join("server.log"))?;
        let idle_kib = machine::rss_kib(server.pid()).unwrap_or(0);

        let readers = SESSIONS_FOR_GET[usize::from(bench.quick)];
        results.readers = readers;
        bench.progress(&format!("creating {readers} sessions to read"));
        let token_file = dir.join("token-and-sids.txt");
        let mut lines = vec![token.clone()];
        for i in 0..readers {
            let body = format!(
                r#"{{"sub":"reader-{i}","data":{{"p":"{}"}}}}"#,
                "x".repeat(192)
            );
            let auth = format!("Bearer {token}");
            let (status, reply) = http::request(
                port,
                "POST",
                "/session-store/rest/v2/sessions",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                &body,
            )?;
            if status != 201 {
                bail!("POST /sessions answered {status}: {reply}");
            }
            lines.push(http::json_string(&reply, "sid").context("no sid in the POST reply")?);
        }
        std::fs::write(&token_file, lines.join("\n") + "\n")?;
        set_mode(&token_file, 0o600)?;

        let mut peak_kib = idle_kib;
        for &connections in concurrency {
            for case in CASES {
                bench.progress(&format!(
                    "wrk {}, {connections} connections, {seconds} s, {backend} store",
                    case.name()
                ));
                let sampler = RssSampler::start(server.pid());
                let cpu_before = machine::cpu_us(server.pid()).unwrap_or(f64::NAN);
                let label = format!("{backend}-{connections}-{}", random_hex(4)?);
                let load = Load {
                    connections,
                    threads,
                    seconds,
                };
                let outcome = wrk.run(port, case, load, &token_file, &label)?;
                let peak = sampler.stop();
                let cpu = machine::cpu_us(server.pid()).unwrap_or(f64::NAN) - cpu_before;
                #[expect(clippy::cast_precision_loss, reason = "seconds of a run")]
                let requests = outcome.requests_per_sec * seconds as f64;
                peak_kib = peak_kib.max(peak);
                if outcome.non_2xx > 0 || outcome.errors > 0 {
                    bench.report.note(format!(
                        "server: {} on the {backend} store at {connections} connections had {} non-2xx responses and {} socket errors",
                        case.name(),
                        outcome.non_2xx,
                        outcome.errors
                    ));
                }
                results.runs.push(Run {
                    backend,
                    case,
                    connections,
                    outcome,
                    peak_rss_kib: peak,
                    cpu_us_per_request: cpu / requests,
                });
            }
        }
        results.memory.push(Memory {
            backend,
            idle_kib,
            peak_kib,
            stored_sessions: stored_sessions(&results.runs, backend, seconds, readers),
        });
        drop(server);
    }
    // Tens of thousands of session files after a full run: removed now, so
    // that the next run does not pay for them before it measures anything.
    bench.progress("removing the servers' data");
    for backend in BACKENDS {
        let _ = std::fs::remove_dir_all(bench.out.join(format!("server-{backend}")));
    }
    results.load_generator = format!("{}, {threads} client threads", wrk.version());
    Ok(results)
}

/// Sessions a server held at the end: the readers plus every POST.
fn stored_sessions(runs: &[Run], backend: &str, seconds: u64, readers: usize) -> u64 {
    let posted: f64 = runs
        .iter()
        .filter(|r| r.backend == backend && r.case == Case::PostSession)
        .map(|r| r.outcome.requests_per_sec * seconds as f64)
        .sum();
    readers as u64 + posted as u64
}

fn report(bench: &mut Bench, results: &Results, concurrency: &[usize]) {
    let find = |backend: &str, case: Case, c: usize| {
        results
            .runs
            .iter()
            .find(|r| r.backend == backend && r.case == case && r.connections == c)
    };
    let mut rows = Vec::new();
    for run in &results.runs {
        let health = find(run.backend, Case::Healthz, run.connections);
        rows.push(vec![
            format!("{} store", run.backend),
            run.case.name().to_owned(),
            run.connections.to_string(),
            rate(run.outcome.requests_per_sec),
            latency(run.outcome.p50_us),
            latency(run.outcome.p99_us),
            health.map_or_else(
                || "n/a".into(),
                |h| percent(run.outcome.requests_per_sec, h.outcome.requests_per_sec),
            ),
            format!("{:.0} µs", run.cpu_us_per_request),
            format!("{:.0} MiB", run.peak_rss_kib as f64 / 1024.0),
        ]);
    }
    let mut body = format!(
        "The release `tessera` binary with a temporary configuration (default policy: quota 5, \
         CLOSE_OLD_SESSION), driven by `wrk` for {} s per case, cases back to back. `GET /sessions` \
         reads one of {} sessions per request with a touch; `POST /sessions` starts \
         a session for a new subject each time (200-byte data payload), so the quota is decided \
         but never denies. The baseline is the same server's `/healthz`, measured in the same run: \
         it costs the HTTP stack and nothing else.\n\n",
        results.seconds, results.readers
    );
    let _ = writeln!(
        body,
        "Load generator: {}, on the same machine as the server.\n",
        results.load_generator
    );
    body.push_str(&table(
        &[
            "server",
            "request",
            "connections",
            "requests/s",
            "p50",
            "p99",
            "vs /healthz",
            "server CPU per request",
            "server RSS (peak)",
        ],
        &rows,
    ));
    body.push_str(
        "\nWhat limits these: on this machine `wrk` and the server share the cores, so the \
         /healthz ceiling is mostly the HTTP stack and the client. On the local store a GET is a \
         page-cache read plus JSON decoding (touches inside the 60 s window are coalesced, so no \
         write); a POST writes two files with fsync, so the disk's fsync rate bounds it. On Redis \
         every request adds one loopback round trip and one Lua script on Redis's single thread.\n",
    );
    bench.report.section("server", "HTTP server (wrk)", body);

    let top = concurrency.iter().copied().max().unwrap_or(64);
    for backend in BACKENDS {
        for &connections in concurrency {
            let Some(health) = find(backend, Case::Healthz, connections) else {
                continue;
            };
            for case in [Case::GetSession, Case::PostSession] {
                let Some(run) = find(backend, case, connections) else {
                    continue;
                };
                // The GET targets hold at 16 and 64 connections; the rest is
                // reported at the top concurrency only.
                let target = (case == Case::GetSession && matches!(connections, 16 | 64))
                    .then(|| GET_TARGETS.iter().find(|t| t.0 == backend))
                    .flatten()
                    .map(|t| t.1);
                if target.is_none() && connections != top {
                    continue;
                }
                let ratio = run.outcome.requests_per_sec / health.outcome.requests_per_sec;
                bench.report.headline(Headline {
                    area: format!("server, {backend} store"),
                    what: format!("{}, {connections} connections", case.name()),
                    value: format!(
                        "{}/s, p99 {}, {:.0} µs CPU",
                        rate(run.outcome.requests_per_sec),
                        latency(run.outcome.p99_us),
                        run.cpu_us_per_request
                    ),
                    baseline: format!(
                        "/healthz {}/s, {:.0} µs CPU",
                        rate(health.outcome.requests_per_sec),
                        health.cpu_us_per_request
                    ),
                    ratio: percent(
                        run.outcome.requests_per_sec,
                        health.outcome.requests_per_sec,
                    ),
                    target: target
                        .map_or_else(|| "none set".to_owned(), |t| format!("≥ {:.0}%", 100.0 * t)),
                    met: target.map(|t| ratio >= t),
                });
            }
        }
    }

    let series: Vec<Series> = BACKENDS
        .iter()
        .flat_map(|backend| CASES.iter().map(move |case| (*backend, *case)))
        .map(|(backend, case)| Series {
            name: if case == Case::Healthz {
                format!("/healthz, {backend} server (baseline)")
            } else {
                format!("{}, {backend}", case.name())
            },
            values: concurrency
                .iter()
                .map(|c| find(backend, case, *c).map(|r| r.outcome.requests_per_sec))
                .collect(),
        })
        .collect();
    bench.report.chart(
        "server",
        Chart {
            file: "throughput-server.svg".to_owned(),
            title: "HTTP server: requests per second against connections".to_owned(),
            kind: Kind::Lines,
            x_label: "wrk connections".to_owned(),
            y_label: "requests per second".to_owned(),
            categories: concurrency.iter().map(ToString::to_string).collect(),
            series,
            baseline: "the same server's /healthz, same run".to_owned(),
        },
    );
    let at_top: Vec<(String, f64, f64)> = results
        .runs
        .iter()
        .filter(|r| r.connections == top)
        .map(|r| {
            (
                format!("{} ({})", r.case.name(), r.backend),
                r.outcome.p50_us,
                r.outcome.p99_us,
            )
        })
        .collect();
    bench.latency_chart(
        "latency-server.svg",
        &format!("HTTP latency at {top} connections"),
        &at_top,
        "/healthz of the same server, same run",
    );
}

/// Polls a process's VmRSS every 100 ms and keeps the peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(machine::rss_kib(pid).unwrap_or(0));
                thread::sleep(Duration::from_millis(100));
            }
            peak.max(machine::rss_kib(pid).unwrap_or(0))
        });
        Self { stop, handle }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0)
    }
}

/// `bytes` random bytes from the OS, as hex.
/// A fresh API token from `tessera token new`, and its SHA-256 hash.
pub(crate) fn new_token(tessera: &Path) -> Result<(String, String)> {
    let token_out = cmd::output(Command::new(tessera).args(["token", "new"]))?;
    let field = |name: &str| {
        token_out
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .with_context(|| format!("`tessera token new` printed no `{name}` line"))
    };
    Ok((field("token:")?, field("sha256:")?))
}

/// Writes `dir/settings.yml` (mode 0600): the `tokenizer` block `store`
/// with a random safe password, the token hash, and a server on `port`
/// with `dir` as its data directory.
pub(crate) fn write_config(dir: &Path, store: &str, hash: &str, port: u16) -> Result<PathBuf> {
    let config = format!(
        "tokenizer:\n{store}  safe_password: \"{}\"\nsessionStore:\n  apiAccessTokenSHA256: {hash}\n\
         server:\n  listen: 127.0.0.1:{port}\n  data_dir: {}\n  log_level: warn\n",
        random_hex(16)?,
        dir.display()
    );
    let config_file = dir.join("settings.yml");
    std::fs::write(&config_file, config)?;
    set_mode(&config_file, 0o600)?;
    Ok(config_file)
}

/// `bytes` random bytes from the OS, in hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

/// Sets the permission bits of `path`.
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot restrict {}", path.display()))
}
