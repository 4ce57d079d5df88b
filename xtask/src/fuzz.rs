//! `cargo xtask fuzz`: the cargo-fuzz targets, each for a bounded time.
//!
//! The targets live in `fuzz/` folders next to the crates they exercise,
//! each its own cargo workspace (libFuzzer needs nightly and sanitizers;
//! the stable workspace never builds them). A crash fails the task and
//! leaves the reproducer in that folder's `artifacts/`.
//!
//! The server's targets build all of `tessera-server`, the AWS SDK and fred
//! included, with the address sanitizer: on a clean checkout that build
//! alone takes longer than everything else CI does. So they run when asked
//! for — `--all`, or by name — and not by default (`.ci/run` runs the
//! default set). Their build is cached in `crates/server/fuzz/target`, so
//! later runs on the same machine start at once.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Each fuzz package (relative to the root), its targets, and whether it
/// runs by default (`false`: only with `--all` or when named).
const TARGETS: &[(&str, &[&str], bool)] = &[
    (
        "crates/crypto",
        &["sid_verify", "seal_open", "token_verify"],
        true,
    ),
    ("crates/store", &["record_decode"], true),
    ("crates/server", &["config_parse", "api_json"], false),
];

/// Options of `cargo xtask fuzz`.
pub(crate) struct Options {
    seconds: u64,
    all: bool,
    only: Vec<String>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            seconds: 20,
            all: false,
            only: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if arg == "--seconds" {
                let value = args.next().context("--seconds needs a number")?;
                options.seconds = value
                    .parse()
                    .with_context(|| format!("--seconds: `{value}` is not a number"))?;
            } else if arg == "--all" {
                options.all = true;
            } else if arg.starts_with('-') {
                bail!("unknown option `{arg}` (usage: fuzz [--seconds N] [--all] [TARGET...])");
            } else {
                options.only.push(arg.clone());
            }
        }
        Ok(options)
    }
}

impl Options {
    /// Whether `target` runs: named ones always; without names, the
    /// default set, or every target with `--all`.
    fn selects(&self, target: &str, by_default: bool) -> bool {
        if self.only.is_empty() {
            by_default || self.all
        } else {
            self.only.iter().any(|t| t == target)
        }
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
    for (dir, targets, by_default) in TARGETS {
        for target in *targets {
            if !options.selects(target, *by_default) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        Options::parse(&args.iter().map(|&a| a.to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn the_server_targets_run_only_with_all_or_by_name() {
        let default = parse(&["--seconds", "15"]);
        assert_eq!(default.seconds, 15);
        assert!(default.selects("sid_verify", true));
        assert!(!default.selects("api_json", false));
        assert!(parse(&["--all"]).selects("api_json", false));
        let named = parse(&["api_json"]);
        assert!(named.selects("api_json", false));
        assert!(!named.selects("sid_verify", true));
    }

    #[test]
    fn every_listed_target_has_its_source() {
        let root = crate::project_root();
        for (dir, targets, _) in TARGETS {
            for target in *targets {
                let path = root
                    .join(dir)
                    .join("fuzz/fuzz_targets")
                    .join(format!("{target}.rs"));
                assert!(path.exists(), "{} is missing", path.display());
            }
        }
    }
}
