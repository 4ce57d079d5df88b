//! `cargo xtask fuzz`: every cargo-fuzz target, each for a bounded time.
//!
//! The targets live in `fuzz/` folders next to the crates they exercise,
//! each its own cargo workspace (libFuzzer needs nightly and sanitizers;
//! the stable workspace never builds them). A crash fails the task and
//! leaves the reproducer in that folder's `artifacts/`.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Each fuzz package (relative to the root) and its targets.
const TARGETS: &[(&str, &[&str])] = &[
    (
        "crates/crypto",
        &["sid_verify", "seal_open", "token_verify"],
    ),
    ("crates/store", &["record_decode"]),
];

/// Options of `cargo xtask fuzz`.
pub(crate) struct Options {
    seconds: u64,
    only: Vec<String>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            seconds: 20,
            only: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if arg == "--seconds" {
                let value = args.next().context("--seconds needs a number")?;
                options.seconds = value
                    .parse()
                    .with_context(|| format!("--seconds: `{value}` is not a number"))?;
            } else if arg.starts_with('-') {
                bail!("unknown option `{arg}` (usage: fuzz [--seconds N] [TARGET...])");
            } else {
                options.only.push(arg.clone());
            }
        }
        Ok(options)
    }
}

fn rustup_cargo() -> Command {
    // `+nightly` is understood by rustup's `cargo` proxy, not by the
    // toolchain's own cargo binary that runs xtask.
    let mut cargo = Command::new("cargo");
    cargo.env_remove("RUSTUP_TOOLCHAIN").env_remove("CARGO");
    cargo
}

fn ensure_tools() -> Result<()> {
    if !cmd::succeeds_quietly(rustup_cargo().args(["+nightly", "--version"])) {
        bail!(
            "fuzzing needs a nightly toolchain (`rustup toolchain install nightly`); none is installed"
        );
    }
    if !cmd::succeeds_quietly(rustup_cargo().args(["fuzz", "--version"])) {
        println!("xtask: installing cargo-fuzz");
        cmd::run(rustup_cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

pub(crate) fn run(options: &Options) -> Result<()> {
    ensure_tools()?;
    let root = crate::project_root();
    let mut ran = 0;
    for (dir, targets) in TARGETS {
        for target in *targets {
            if !options.only.is_empty() && !options.only.iter().any(|t| t == target) {
                continue;
            }
            if !root
                .join(dir)
                .join("fuzz/fuzz_targets")
                .join(format!("{target}.rs"))
                .exists()
            {
                bail!("fuzz target {target} is listed but {dir}/fuzz has no such file");
            }
            println!("xtask: fuzzing {target} for {} s", options.seconds);
            cmd::run(
                rustup_cargo()
                    .current_dir(root.join(dir))
                    .args(["+nightly", "fuzz", "run", target, "--"])
                    .arg(format!("-max_total_time={}", options.seconds))
                    .args([
                        "-max_len=65536",
                        "-rss_limit_mb=2048",
                        "-print_final_stats=1",
                    ]),
            )?;
            ran += 1;
        }
    }
    if ran == 0 {
        bail!("no fuzz target matched {:?}", options.only);
    }
    println!("xtask: {ran} fuzz targets ran without a finding");
    Ok(())
}
