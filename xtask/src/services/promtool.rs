//! promtool, Prometheus' rule checker, for the test that loads the
//! documented alert rules and evaluates them against the real server's
//! metrics: the one on `PATH`, else Debian's `prometheus` package.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::install;

/// The absolute path of `promtool`, installing Debian's `prometheus`
/// package (which ships it) when it is missing and we may.
pub(crate) fn ensure_installed() -> Result<PathBuf> {
    if let Some(path) = install::find_on_path("promtool") {
        return Ok(path);
    }
    if !(install::is_root() && install::find_on_path("apt-get").is_some()) {
        bail!(
            "promtool is not installed: install Debian's `prometheus` package (or put Prometheus' \
             promtool on PATH) and run again"
        );
    }
    println!(
        "xtask: promtool is not installed; installing Debian's prometheus package with apt-get"
    );
    install::apt_install(&["prometheus"])?;
    install::find_on_path("promtool")
        .context("apt-get installed prometheus, yet promtool is not on PATH")
}
