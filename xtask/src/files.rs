//! Finding and reading the workspace's source files for the source checks.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Every `.rs` file under `dir`, sorted, skipping `target` and hidden folders.
pub(crate) fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    collect(dir, ".rs", &mut found)?;
    found.sort();
    Ok(found)
}

/// Every `.md` file under `dir`, sorted, skipping `target` and hidden folders.
#[cfg(test)]
pub(crate) fn markdown_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    collect(dir, ".md", &mut found)?;
    found.sort();
    Ok(found)
}

fn collect(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if name != "target" && !name.starts_with('.') {
                collect(&path, extension, found)?;
            }
        } else if name.ends_with(extension) {
            found.push(path);
        }
    }
    Ok(())
}

/// The folders `crates/*`, sorted, each holding one package.
#[cfg(test)]
pub(crate) fn crate_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let crates = root.join("crates");
    let mut dirs = Vec::new();
    for entry in
        fs::read_dir(&crates).with_context(|| format!("cannot list {}", crates.display()))?
    {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Reads a file as UTF-8, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `path` relative to `root` for messages, or as given when it is elsewhere.
pub(crate) fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
