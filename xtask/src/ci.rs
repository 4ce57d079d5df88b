//! `cargo xtask ci`: every check CI makes, in order, stopping at the first
//! failure and naming it. `.ci/run` runs nothing else, so this list is the
//! one definition of CI.

use anyhow::{Context, Result};

use crate::{chaos, cmd, dist, fuzz, no_io, project_root, soak};

type Step = fn() -> Result<()>;

/// Rounds of the quota attack in CI (the full 50 run with `cargo xtask
/// chaos`, by hand).
const CI_QUOTA_ROUNDS: &str = "6";

const STEPS: [(&str, Step); 11] = [
    ("fmt", fmt),
    ("deny", deny),
    ("clippy", clippy),
    ("no-io", no_io::check),
    ("test", test_everything),
    ("chaos", chaos_shortly),
    ("soak", soak_briefly),
    ("fuzz", fuzz_briefly),
    ("doc", doc),
    ("package", package),
    ("dist", || dist::run(&["--quick".to_owned()])),
];

/// Runs [`STEPS`] from the workspace root; with `--from STEP`, that step
/// and the ones after it (to finish a run that stopped there).
pub(crate) fn run(args: &[String]) -> Result<()> {
    let first = match args {
        [] => 0,
        [flag, step] if flag == "--from" => STEPS
            .iter()
            .position(|(name, _)| name == step)
            .with_context(|| format!("no ci step `{step}`"))?,
        _ => anyhow::bail!("usage: ci [--from STEP]"),
    };
    std::env::set_current_dir(project_root())?;
    for (index, (name, step)) in STEPS.iter().enumerate().skip(first) {
        println!("xtask ci: [{}/{}] {name}", index + 1, STEPS.len());
        let started = std::time::Instant::now();
        let outcome = step().with_context(|| format!("ci step `{name}` failed"));
        println!(
            "xtask ci: {name} took {} s; {}",
            started.elapsed().as_secs(),
            disk_left()
        );
        outcome?;
    }
    println!("xtask ci: all {} steps passed", STEPS.len());
    Ok(())
}

/// Free space on the disk that holds `target/`, as `df` reports it: CI
/// builds the workspace several ways, and a full disk is the likeliest
/// failure that is not the project's.
fn disk_left() -> String {
    let report = cmd::output(std::process::Command::new("df").args(["-Pk", "."]));
    let free_kib = report.ok().and_then(|text| {
        let line = text.lines().nth(1)?.to_owned();
        line.split_whitespace().nth(3)?.parse::<u64>().ok()
    });
    free_kib.map_or_else(
        || "free disk space unknown".to_owned(),
        |kib| {
            let tenths = kib * 10 / (1024 * 1024);
            format!("{}.{} GiB free on this disk", tenths / 10, tenths % 10)
        },
    )
}

fn fmt() -> Result<()> {
    cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))
}

fn clippy() -> Result<()> {
    cmd::run(cmd::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))
}

/// The README's test command, `cargo xtask test`, as its own process:
/// it installs and starts every service the tests need.
fn test_everything() -> Result<()> {
    cmd::run(cmd::cargo().args(["xtask", "test"]))
}

/// The reliability tests, with fewer quota-attack rounds than by hand.
fn chaos_shortly() -> Result<()> {
    chaos::run(&chaos::Options::parse(&[
        "--rounds".to_owned(),
        CI_QUOTA_ROUNDS.to_owned(),
    ])?)
}

/// The crypto and store fuzz targets, 15 s each. The server's targets
/// build the whole server with the address sanitizer (about 15 CPU-minutes
/// from a clean checkout); run them with `cargo xtask fuzz --all`.
fn fuzz_briefly() -> Result<()> {
    fuzz::run(&fuzz::Options::parse(&[
        "--seconds".to_owned(),
        "15".to_owned(),
    ])?)
}

/// The soak in its short form: 40 s per backend (the full run is 10
/// minutes each, by hand).
fn soak_briefly() -> Result<()> {
    soak::run(&soak::Options::parse(&[
        "--seconds".to_owned(),
        "40".to_owned(),
    ])?)
}

fn doc() -> Result<()> {
    cmd::run(
        cmd::cargo()
            .args(["doc", "--workspace", "--all-features", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

/// Every publishable crate packaged and built from its package, in
/// dependency order, as `cargo publish` would upload it (nothing is
/// uploaded).
fn package() -> Result<()> {
    forget_unpacked_workspace_crates()?;
    // A target folder of its own: builds of registry crates are reused by
    // name and version alone, whatever their source now says.
    let target = project_root().join("target").join("package-check");
    if target.is_dir() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("removing {}", target.display()))?;
    }
    // No line tables: nothing of these builds is ever debugged or run, and
    // the packages are the only thing checked.
    cmd::run(
        cmd::cargo()
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_PROFILE_DEV_DEBUG", "false")
            .args([
                "publish",
                "--workspace",
                "--exclude",
                "xtask",
                "--dry-run",
                "--allow-dirty",
                "--locked",
            ]),
    )
}

/// Removes what an earlier dry run unpacked of the workspace's own crates.
///
/// The dry run verifies each crate against its dependencies as packaged,
/// unpacked under `$CARGO_HOME/registry/src/<index>/<name>-<version>`; a
/// later run finds that folder and reuses it as long as the version is
/// the same, so it would build against the source of the earlier run and
/// fail (or pass) for the wrong reason. Only folders named after the
/// workspace's crates at their current versions are removed.
fn forget_unpacked_workspace_crates() -> Result<()> {
    let metadata: serde_json::Value = serde_json::from_str(&cmd::output(cmd::cargo().args([
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
    ]))?)
    .context("`cargo metadata` printed something else than JSON")?;
    let names: Vec<String> = metadata["packages"]
        .as_array()
        .context("`cargo metadata` lists no packages")?
        .iter()
        .filter_map(|p| {
            Some(format!(
                "{}-{}",
                p["name"].as_str()?,
                p["version"].as_str()?
            ))
        })
        .collect();
    let home = std::env::var_os("CARGO_HOME").map_or_else(
        || std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
        std::path::PathBuf::from,
    );
    // Registry crates are never rebuilt for a change of source, so the
    // builds of an earlier dry run go too.
    let builds = project_root().join("target").join("package");
    if builds.is_dir() {
        std::fs::remove_dir_all(&builds)
            .with_context(|| format!("removing {}", builds.display()))?;
    }
    for kind in ["src", "cache"] {
        let Ok(indexes) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for index in indexes.flatten() {
            for name in &names {
                let unpacked = index.path().join(name);
                if unpacked.is_dir() {
                    std::fs::remove_dir_all(&unpacked)
                        .with_context(|| format!("removing {}", unpacked.display()))?;
                }
                let archive = index.path().join(format!("{name}.crate"));
                if archive.is_file() {
                    std::fs::remove_file(&archive)
                        .with_context(|| format!("removing {}", archive.display()))?;
                }
            }
        }
    }
    Ok(())
}

/// The dependency policy (deny.toml). cargo-deny is installed when
/// missing. The advisories database cannot be fetched everywhere, so only
/// the offline checks run.
fn deny() -> Result<()> {
    if !cmd::succeeds_quietly(cmd::cargo().args(["deny", "--version"])) {
        cmd::run(cmd::cargo().args(["install", "cargo-deny", "--locked"]))?;
    }
    cmd::run(cmd::cargo().args(["deny", "check", "bans", "licenses", "sources"]))
}
