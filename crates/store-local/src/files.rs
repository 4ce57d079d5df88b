//! File primitives: crash-safe writes, reads that tell "absent" from
//! "failed", and the folder's permission checks.

use std::fs::{self, DirBuilder, File};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tessera_store::StoreError;

use crate::LocalError;
use crate::layout::TEMP_PREFIX;

/// Creates `dir` (and missing parents) with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    match DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Refuses a folder that someone other than the current user could tamper
/// with: it must be a directory, owned by the effective user, and writable
/// by nobody else (no group or other write bit, sticky or not).
///
/// The server's embedded data directory follows the same rule.
pub(crate) fn check_folder_is_safe(dir: &Path) -> Result<(), LocalError> {
    // Through symlinks: what matters is the folder the files land in.
    let meta = fs::metadata(dir).map_err(|source| LocalError::Io {
        what: "reading",
        path: dir.to_path_buf(),
        source,
    })?;
    let refuse = |reason: String| {
        Err(LocalError::UnsafeFolder {
            path: dir.to_path_buf(),
            reason,
        })
    };
    if !meta.is_dir() {
        return refuse("it is not a directory".to_owned());
    }
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != euid {
        return refuse(format!(
            "it is owned by uid {}, not by the current user (uid {euid})",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return refuse(format!("it is world-writable (mode {mode:04o})"));
    }
    if mode & 0o020 != 0 {
        return refuse(format!("it is group-writable (mode {mode:04o})"));
    }
    Ok(())
}

/// Reads a whole file; `Ok(None)` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes a file; `Ok(false)` if it was already gone.
pub(crate) fn remove_optional(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `bytes` so that a crash at any point leaves either
/// the old content or the new, never a mix: write a temporary file (mode
/// 0600) in the same directory, `fsync` it, rename it over `path`, then
/// `fsync` the directory so the rename itself is durable.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::from(ErrorKind::InvalidInput))?;
    let mut tmp = match tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
    {
        Ok(tmp) => tmp,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            create_private_dir(dir)?;
            tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .tempfile_in(dir)?
        }
        Err(e) => return Err(e),
    };
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Makes a directory's entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Maps an I/O failure to the store's error, saying what was being done.
///
/// A full disk is reported as unavailable (retrying after space is freed
/// succeeds, and nothing stored was lost); anything else — permissions, a
/// file where a directory should be — needs an operator.
pub(crate) fn io_error(what: &str, e: io::Error) -> StoreError {
    match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            StoreError::unavailable(format!("disk full while {what}"), e)
        }
        ErrorKind::PermissionDenied => {
            StoreError::backend(format!("permission denied while {what}"), e)
        }
        _ => StoreError::backend(format!("I/O error while {what}"), e),
    }
}
