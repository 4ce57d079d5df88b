//! `cargo xtask ci`: every check CI makes, in order, stopping at the first
//! failure and naming it.

use anyhow::{Context, Result};

use crate::{cmd, no_io, project_root, soak, test};

type Step = fn() -> Result<()>;

const STEPS: [(&str, Step); 7] = [
    ("fmt", fmt),
    ("clippy", clippy),
    ("no-io", no_io::check),
    ("test", test_everything),
    ("soak", soak_briefly),
    ("doc", doc),
    ("deny", deny),
];

/// Runs [`STEPS`] from the workspace root.
pub(crate) fn run() -> Result<()> {
    std::env::set_current_dir(project_root())?;
    for (index, (name, step)) in STEPS.iter().enumerate() {
        println!("xtask ci: [{}/{}] {name}", index + 1, STEPS.len());
        step().with_context(|| format!("ci step `{name}` failed"))?;
    }
    println!("xtask ci: all {} steps passed", STEPS.len());
    Ok(())
}

fn fmt() -> Result<()> {
    cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))
}

fn clippy() -> Result<()> {
    cmd::run(cmd::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
}

/// The same code path as `cargo xtask test`.
fn test_everything() -> Result<()> {
    test::run(&test::Options::default())
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
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

/// The advisories database cannot be fetched everywhere, so only the
/// offline checks run.
fn deny() -> Result<()> {
    if !cmd::succeeds_quietly(cmd::cargo().args(["deny", "--version"])) {
        println!("skipped: cargo-deny not installed");
        return Ok(());
    }
    cmd::run(cmd::cargo().args(["deny", "check", "bans", "licenses", "sources"]))
}
