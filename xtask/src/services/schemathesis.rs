//! schemathesis, the OpenAPI property-based tester, from a pinned venv.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::install;

/// Pinned so every machine generates from the same strategies; changing the
/// pin rebuilds the venv on the next run.
const REQUIREMENTS: [&str; 1] = ["schemathesis==4.32.5"];

/// The absolute path of the `schemathesis` command, installing it into
/// `target/xtask/schemathesis-venv` first when that venv is missing or stale.
pub(crate) fn ensure_installed(xtask_dir: &Path) -> Result<PathBuf> {
    let venv = std::path::absolute(xtask_dir.join("schemathesis-venv"))?;
    if !install::venv_has(&venv, &REQUIREMENTS) {
        println!(
            "xtask: installing {} into {}",
            REQUIREMENTS.join(" "),
            venv.display()
        );
        install::ensure_venv(&venv, &REQUIREMENTS)?;
    }
    let command = venv.join("bin/schemathesis");
    if !command.is_file() {
        bail!(
            "{} has no bin/schemathesis after installing {}",
            venv.display(),
            REQUIREMENTS.join(" ")
        );
    }
    Ok(command)
}
