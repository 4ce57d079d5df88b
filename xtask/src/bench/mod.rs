//! `cargo xtask bench [PART...] [--quick]`: every benchmark of the workspace
//! in one run, each throughput beside a baseline measured in the same run on
//! the same machine, written up as `target/bench/report.md` with SVG charts.
//!
//! Parts, in the order they run: `core` (criterion: policy and crypto, with
//! ring's bare HMAC as the SID baseline), `local` (the folder store beside
//! raw `std::fs` loops), `redis` (the Redis store beside `redis-benchmark`),
//! `dynamodb` (requests per operation against the emulator), `server` (the
//! `tessera` binary under `wrk`, beside its own `/healthz`), `peers`
//! (tower-sessions and actix-session on the same Redis), `scale` (10k to 1M
//! stored sessions) and `memory` (server RSS under load, Redis bytes per
//! session). No part named means all of them.
//!
//! The services come from [`crate::services`]: a fresh Redis (never the one
//! a test run uses) and the DynamoDB emulator, started only when a part needs
//! them and stopped by PID at the end. Benchmarks build in release mode.
//! Absolute numbers on a shared machine are noise; the ratios to the
//! same-run baselines are the point, and the report says how loaded the
//! machine was at the start and end of each part.

// Measurements are counts and durations turned into rates and ratios; a
// part's `run` is one linear script (measure, then write its section, its
// headlines and its charts), clearer whole than cut into pieces.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines
)]

mod chart;
mod criterion;
mod dynamodb;
pub(crate) mod http;
mod json;
mod local;
mod machine;
mod memory;
mod peers;
mod redis;
mod report;
mod scale;
pub(crate) mod server;
mod wrk;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use self::chart::{Chart, Kind, Series};
use self::machine::Machine;
use self::report::Report;
use crate::cmd;
use crate::services::Services;

/// The parts, in the order a full run takes them.
const PARTS: [&str; 8] = [
    "core", "local", "redis", "dynamodb", "server", "peers", "scale", "memory",
];

/// Options of `cargo xtask bench`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    parts: Vec<&'static str>,
    quick: bool,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut quick = false;
        let mut named = Vec::new();
        for arg in args {
            if arg == "--quick" {
                quick = true;
            } else if let Some(part) = PARTS.iter().find(|part| **part == arg) {
                named.push(*part);
            } else {
                bail!(
                    "unknown argument `{arg}` (usage: bench [--quick] [PART...], parts: {})",
                    PARTS.join(" ")
                );
            }
        }
        // Always in the canonical order: later parts reuse earlier results.
        let parts = PARTS
            .into_iter()
            .filter(|part| named.is_empty() || named.contains(part))
            .collect();
        Ok(Self { parts, quick })
    }
}

/// Everything a part needs: the mode, where to write, the machine, the
/// services (started on first use) and the report being written.
pub(crate) struct Bench {
    quick: bool,
    root: PathBuf,
    out: PathBuf,
    machine: Machine,
    services: Option<Services>,
    report: Report,
    step: usize,
    part: &'static str,
    /// What part `server` measured, for part `memory`.
    server: Option<server::Results>,
    /// Redis bytes per session from bench_redis, and over how many.
    redis_bytes_per_session: Option<(f64, usize)>,
    /// Redis bytes per session from part `scale`: (sessions, bytes).
    redis_scale_bytes: Vec<(f64, f64)>,
    /// Time spent in `cargo build`, which a warm tree does not pay.
    build_seconds: f64,
}

impl Bench {
    /// Prints one progress line.
    fn progress(&mut self, what: &str) {
        self.step += 1;
        println!("bench [{:>2}] {}: {what}", self.step, self.part);
    }

    /// The services, started on first use.
    fn services(&mut self) -> Result<&mut Services> {
        if self.services.is_none() {
            self.progress("starting Redis and the DynamoDB emulator");
            self.services = Some(Services::start()?);
        }
        Ok(self.services.as_mut().expect("just started"))
    }

    /// A service variable (`TESSERA_TEST_REDIS_URL`, ...) of the running services.
    fn service_env(&mut self, key: &str) -> Result<String> {
        let services = self.services()?;
        services
            .env()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .with_context(|| format!("the services set no {key}"))
    }

    /// The standalone Redis's URL.
    fn redis_url(&mut self) -> Result<String> {
        self.service_env("TESSERA_TEST_REDIS_URL")
    }

    /// `redis-cli`, from the same installation as the server.
    fn redis_cli(&mut self) -> Result<PathBuf> {
        Ok(self.service_env("TESSERA_TEST_REDIS_CLI_BIN")?.into())
    }

    /// Runs `redis-cli` against the bench Redis and returns its output.
    fn redis_command(&mut self, args: &[&str]) -> Result<String> {
        let cli = self.redis_cli()?;
        let url = self.redis_url()?;
        cmd::output(
            std::process::Command::new(cli)
                .args(["-u", &url])
                .args(args),
        )
    }

    /// Builds with `cargo build --release` and the given arguments, quietly
    /// unless it fails.
    fn cargo_build(&mut self, what: &str, args: &[&str]) -> Result<()> {
        self.progress(&format!("building {what} (release)"));
        let mut build = cmd::cargo();
        build
            .current_dir(&self.root)
            .args(["build", "--release", "--quiet"])
            .args(args);
        let started = Instant::now();
        let result = cmd::run(&mut build);
        self.build_seconds += started.elapsed().as_secs_f64();
        result
    }

    /// Adds a chart of p50 and p99 latency per operation (log scale);
    /// `ops` holds (operation, p50 µs, p99 µs).
    fn latency_chart(
        &mut self,
        file: &str,
        title: &str,
        ops: &[(String, f64, f64)],
        baseline: &str,
    ) {
        let chart = Chart {
            file: file.to_owned(),
            title: title.to_owned(),
            kind: Kind::LogBars,
            x_label: "operation".to_owned(),
            y_label: "latency, µs (log scale)".to_owned(),
            categories: ops.iter().map(|(op, _, _)| op.clone()).collect(),
            series: vec![
                Series {
                    name: "p50".to_owned(),
                    values: ops.iter().map(|(_, p50, _)| Some(*p50)).collect(),
                },
                Series {
                    name: "p99".to_owned(),
                    values: ops.iter().map(|(_, _, p99)| Some(*p99)).collect(),
                },
            ],
            baseline: baseline.to_owned(),
        };
        self.report.chart(self.part, chart);
    }
}

/// A release binary (or example) of the main workspace.
fn release_bin(relative: &str) -> PathBuf {
    crate::target_dir().join("release").join(relative)
}

/// Holds an exclusive lock on `out` for as long as the returned file lives.
/// Two runs at once would remove each other's stores (the parts clear
/// their folders before and after they measure) and load the machine under
/// each other's numbers, so a second run is refused.
fn lock_out_dir(out: &Path) -> Result<std::fs::File> {
    let path = out.join(".lock");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `cargo xtask bench` is running on {} (it holds {}); wait for it to finish",
            out.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Runs the parts `options` names and writes the report.
pub(crate) fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let root = crate::project_root();
    let out = crate::target_dir().join("bench");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let _only_run = lock_out_dir(&out)?;
    let machine = Machine::read(&root);
    println!(
        "bench: {} mode, parts: {}; {}; commit {}",
        if options.quick { "quick" } else { "full" },
        options.parts.join(" "),
        machine.describe(),
        machine.commit
    );
    let mut bench = Bench {
        quick: options.quick,
        root,
        out,
        report: Report::new(machine.clone(), options.quick, &options.parts),
        machine,
        services: None,
        step: 0,
        part: "setup",
        server: None,
        redis_bytes_per_session: None,
        redis_scale_bytes: Vec::new(),
        build_seconds: 0.0,
    };
    let mut failures = Vec::new();
    for part in &options.parts {
        bench.part = part;
        let load_start = machine::load_average();
        let part_started = Instant::now();
        bench.progress(&format!("start (load average {load_start:.2})"));
        let result = match *part {
            "core" => criterion::run(&mut bench),
            "local" => local::run(&mut bench),
            "redis" => redis::run(&mut bench),
            "dynamodb" => dynamodb::run(&mut bench),
            "server" => server::run(&mut bench),
            "peers" => peers::run(&mut bench),
            "scale" => scale::run(&mut bench),
            "memory" => memory::run(&mut bench),
            other => unreachable!("unknown part {other}"),
        };
        let load_end = machine::load_average();
        let seconds = part_started.elapsed().as_secs_f64();
        bench.progress(&format!(
            "done in {seconds:.0} s (load average {load_end:.2})"
        ));
        if let Err(err) = &result {
            eprintln!("bench: part {part} failed: {err:#}");
            failures.push(format!("{part}: {err:#}"));
        }
        bench
            .report
            .part_finished(part, load_start, load_end, seconds, result.err());
    }
    bench.part = "report";
    let total = started.elapsed().as_secs_f64();
    let path = bench.report.write(&bench.out, total, bench.build_seconds)?;
    // Stop the services before the last line, so nothing outlives the run.
    drop(bench.services.take());
    println!(
        "bench: finished in {total:.0} s ({:.0} s of it building); report: {}",
        bench.build_seconds,
        path.display()
    );
    if !failures.is_empty() {
        bail!(
            "{} part(s) failed (the report says which):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_second_run_on_the_same_folder_is_refused_until_the_first_ends() {
        let out = std::env::temp_dir().join(format!("xtask-bench-lock-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let first = lock_out_dir(&out).expect("the first run locks");
        let second = lock_out_dir(&out).expect_err("a second run is refused");
        assert!(
            second.to_string().contains("another `cargo xtask bench`"),
            "{second:#}"
        );
        drop(first);
        drop(lock_out_dir(&out).expect("free again once the first ends"));
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn no_part_means_all_in_order_and_named_parts_keep_that_order() -> Result<()> {
        let all = Options::parse(&args(&["--quick"]))?;
        assert_eq!(all.parts, PARTS.to_vec());
        assert!(all.quick);
        let some = Options::parse(&args(&["memory", "redis"]))?;
        assert_eq!(some.parts, vec!["redis", "memory"]);
        assert!(!some.quick);
        assert!(Options::parse(&args(&["--fast"])).is_err());
        assert!(Options::parse(&args(&["disk"])).is_err());
        Ok(())
    }
}
