//! `cargo xtask soak [--seconds N] [--rate R] [BACKEND...]`: load held for
//! a long time. For each backend (local, redis, dynamodb; all by default)
//! it starts `tessera serve` (the debug build the tests use) on a fresh
//! store, runs the server crate's `soak` example against it — a steady mix
//! of logins, lookups, updates and logouts at `R` operations per second —
//! and keeps that example's report: resident memory, open descriptors,
//! p50/p99 and errors per window, and the verdict (no error, bounded
//! growth, the last half's p99 within twice the first half's; on DynamoDB
//! the p99 is reported, not judged: the `moto` emulator copies the whole
//! table for every transaction, so its own latency grows with the number
//! of sessions stored, whatever Tessera does). Reports go to
//! `target/soak/<backend>.txt` and `target/soak/report.md` (or
//! `report-<backends>.md` for some backends only, so that runs on
//! different backends can go side by side); any failed verdict fails the
//! task.
//!
//! The default is 10 minutes per backend in 10 one-minute windows, at 200
//! operations per second on the local store and Redis and 10 on DynamoDB
//! (the `moto` emulator answers one request at a time, 15 to 45 ms each
//! for Tessera's operations here, so at 30 a second it is busy most of the
//! time and the latency measured is its queue's, not Tessera's); `--rate`
//! sets one rate for all. CI runs a short one (`--seconds 40`, windows of
//! 8 s).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bench::http::{self, Server};
use crate::bench::server::{new_token, set_mode, write_config};
use crate::services::Services;
use crate::{cmd, project_root};

const BACKENDS: [&str; 3] = ["local", "redis", "dynamodb"];

/// What to run.
pub(crate) struct Options {
    seconds: u64,
    /// One rate for every backend, else each backend's default.
    rate: Option<u64>,
    backends: Vec<&'static str>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            seconds: 600,
            rate: None,
            backends: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut number = |name: &str| -> Result<u64> {
                let value = it.next().map_or("", String::as_str);
                value.parse().ok().filter(|n| *n > 0).with_context(|| {
                    format!("`{name}` needs a positive whole number, got `{value}`")
                })
            };
            match arg.as_str() {
                "--seconds" => options.seconds = number("--seconds")?,
                "--rate" => options.rate = Some(number("--rate")?),
                other => match BACKENDS.iter().find(|b| **b == other) {
                    Some(b) => options.backends.push(b),
                    None => bail!(
                        "`soak` takes `--seconds N`, `--rate R` and backends ({}), got `{other}`",
                        BACKENDS.join(", ")
                    ),
                },
            }
        }
        if options.backends.is_empty() {
            options.backends = BACKENDS.to_vec();
        }
        Ok(options)
    }

    /// Operations per second on `backend`.
    fn rate(&self, backend: &str) -> u64 {
        self.rate
            .unwrap_or(if backend == "dynamodb" { 10 } else { 200 })
    }

    /// One-minute windows, or at least 5 windows in a short run.
    fn windows(&self) -> u64 {
        (self.seconds / 60).max(5)
    }
}

pub(crate) fn run(options: &Options) -> Result<()> {
    let root = project_root();
    cmd::run(cmd::cargo().current_dir(&root).args([
        "build",
        "-p",
        "tessera-server",
        "--bin",
        "tessera",
        "--example",
        "soak",
    ]))?;
    let target = crate::target_dir();
    let tessera = target.join("debug/tessera");
    let load = target.join("debug/examples/soak");
    let out = target.join("soak");
    std::fs::create_dir_all(&out)?;
    // One report per set of backends, so runs on different backends can
    // go side by side.
    let report_file = if options.backends.len() == BACKENDS.len() {
        out.join("report.md")
    } else {
        out.join(format!("report-{}.md", options.backends.join("-")))
    };

    let services = Services::start()?;
    let env = |name: &str| {
        services
            .env()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .with_context(|| format!("the services set no {name}"))
    };
    let mut report = format!(
        "# Soak\n\n{} s per backend, {} windows; `tessera serve` debug build.\n",
        options.seconds,
        options.windows()
    );
    let mut failed = Vec::new();
    for backend in &options.backends {
        let dir = out.join(backend);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o700)?;
        let store = store_block(backend, &dir, &env)?;
        let (token, hash) = new_token(&tessera)?;
        let port = http::free_port()?;
        let config = write_config(&dir, &store, &hash, port)?;
        if *backend == "dynamodb" {
            cmd::run(
                Command::new(&tessera)
                    .arg("--config")
                    .arg(&config)
                    .args(["dynamodb", "create-table"]),
            )?;
        }
        let rate = options.rate(backend);
        println!(
            "soak: {backend}: {} s at {rate} operations/s",
            options.seconds
        );
        let mut serve = Command::new(&tessera);
        serve.arg("--config").arg(&config).arg("serve");
        let server = Server::start(&mut serve, port, &dir.join("server.log"))?;
        let output = Command::new(&load)
            .args(["--url", &format!("http://127.0.0.1:{port}")])
            .args(["--token", &token])
            .args(["--pid", &server.pid().to_string()])
            .args(["--seconds", &options.seconds.to_string()])
            .args(["--windows", &options.windows().to_string()])
            .args(["--rate", &rate.to_string()])
            .args([
                "--p99",
                if *backend == "dynamodb" {
                    "report"
                } else {
                    "judge"
                },
            ])
            .output()
            .with_context(|| format!("cannot run {}", load.display()))?;
        drop(server);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        print!("{text}");
        std::fs::write(dir.with_extension("txt"), &text)?;
        let _ = write!(
            report,
            "\n## {backend} ({rate} operations/s)\n\n```text\n{text}```\n"
        );
        if !output.status.success() {
            failed.push(*backend);
        }
    }
    write_report(&report_file, &report)?;
    drop(services);
    if !failed.is_empty() {
        bail!("soak failed on {} (see target/soak/)", failed.join(", "));
    }
    println!("soak: ok; report in {}", report_file.display());
    Ok(())
}

/// The `tokenizer:` block of a fresh store on `backend`, in `dir` (local)
/// or on the services `env` names.
fn store_block(backend: &str, dir: &Path, env: &dyn Fn(&str) -> Result<String>) -> Result<String> {
    Ok(match backend {
        "local" => format!(
            "  type: local\n  path: {}\n",
            dir.join("sessions").display()
        ),
        "redis" => format!(
            "  type: redis\n  url: {}\n  key_prefix: \"soak:\"\n",
            env("TESSERA_TEST_REDIS_URL")?
        ),
        _ => format!(
            "  type: dynamodb\n  table: tessera-soak\n  aws_region_name: us-east-1\n  \
             aws_access_key: testing\n  aws_secret_key: testing\n  endpoint_url: {}\n",
            env("TESSERA_TEST_DYNAMODB_ENDPOINT")?
        ),
    })
}

fn write_report(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
