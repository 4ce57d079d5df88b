//! Installing what the services need, when it is missing: Debian packages
//! (only as root) and pinned pip packages in venvs under `target/xtask`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Written into a venv once its packages installed, holding the pinned
/// requirements; a venv without it, or with other pins, is built anew.
const MARKER: &str = ".xtask-installed";

/// Whether we run as root (and so may use the system package manager).
pub(crate) fn is_root() -> bool {
    cmd::output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// The absolute path of an executable `name` on `PATH`. Symlinks are kept:
/// Debian's `redis-server` is a link whose name selects what the binary does.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
        .and_then(|path| std::path::absolute(path).ok())
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// `apt-get update` then `apt-get install` of `packages`, non-interactively.
pub(crate) fn apt_install(packages: &[&str]) -> Result<()> {
    let apt = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    cmd::run(&mut apt(&["update", "-q"]))?;
    cmd::run(apt(&["install", "-y", "-q", "--no-install-recommends"]).args(packages))
}

/// Whether `venv` holds exactly `requirements`, installed completely.
pub(crate) fn venv_has(venv: &Path, requirements: &[&str]) -> bool {
    venv.join("bin/python").is_file()
        && fs::read_to_string(venv.join(MARKER)).is_ok_and(|pins| pins == marker_text(requirements))
}

fn marker_text(requirements: &[&str]) -> String {
    requirements.join("\n") + "\n"
}

/// [`ensure_venv`], saying first what is being installed for `purpose`
/// when there is anything to do.
pub(crate) fn ensure_venv_for(purpose: &str, venv: &Path, requirements: &[&str]) -> Result<()> {
    if !venv_has(venv, requirements) {
        println!(
            "xtask: installing {purpose} ({}) into {}",
            requirements.join(" "),
            venv.display()
        );
    }
    ensure_venv(venv, requirements)
}

/// Makes `venv` a virtualenv with `requirements` pip-installed, unless it
/// already is one; a half-built or differently pinned venv is replaced.
pub(crate) fn ensure_venv(venv: &Path, requirements: &[&str]) -> Result<()> {
    if venv_has(venv, requirements) {
        return Ok(());
    }
    if venv.exists() {
        fs::remove_dir_all(venv)
            .with_context(|| format!("cannot remove the stale {}", venv.display()))?;
    }
    let python = python3()?;
    let mut create = Command::new(&python);
    create.args(["-m", "venv"]).arg(venv);
    if cmd::run(&mut create).is_err() {
        // Debian's python3 leaves venv (ensurepip) to a separate package.
        if !(is_root() && find_on_path("apt-get").is_some()) {
            bail!("`python3 -m venv` failed; install Python's venv module (Debian: python3-venv)");
        }
        let _ = fs::remove_dir_all(venv);
        apt_install(&["python3-venv"])?;
        cmd::run(&mut create)?;
    }
    cmd::run(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
            ])
            .args(requirements),
    )?;
    fs::write(venv.join(MARKER), marker_text(requirements))
        .with_context(|| format!("cannot write the marker in {}", venv.display()))
}

fn python3() -> Result<PathBuf> {
    if let Some(python) = find_on_path("python3") {
        return Ok(python);
    }
    if is_root() && find_on_path("apt-get").is_some() {
        println!("xtask: python3 is not installed; installing it with apt-get");
        apt_install(&["python3", "python3-venv"])?;
        return find_on_path("python3").context("apt-get installed python3, yet it is not on PATH");
    }
    bail!(
        "python3 is needed for the DynamoDB emulator and schemathesis (and for Redis when not root), and it is not on PATH"
    )
}
