//! The SQL tool whose tokenizer store Tessera imports from: `querycommander`
//! in a pinned venv, so tests can write that store with the tool's own code
//! (`crates/server/tests/fixtures/tokenizer_records.py`).

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::install;

/// Pinned so every machine writes the same records. The tool imports
/// `ldap3` at login and its Redis and DynamoDB tokenizers need `redis` and
/// `boto3`, none of which it declares. `cryptography` is pinned because the
/// tool's credential cipher (CFB8) is deprecated there and due to move.
const REQUIREMENTS: [&str; 5] = [
    "querycommander==1.0.1",
    "cryptography==50.0.2",
    "redis==8.1.0",
    "boto3==1.44.8",
    "ldap3==2.9.1",
];

/// The venv's python, installing the tool into `target/xtask/querycommander-venv`
/// first when that venv is missing or stale.
pub(crate) fn ensure_installed(xtask_dir: &Path) -> Result<PathBuf> {
    let venv = std::path::absolute(xtask_dir.join("querycommander-venv"))?;
    install::ensure_venv_for(
        "the SQL tool whose tokenizer store is imported",
        &venv,
        &REQUIREMENTS,
    )?;
    Ok(venv.join("bin/python"))
}
