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

/// Why [`read_record`] refused a file.
#[derive(Debug)]
pub(crate) enum RecordReadError {
    /// The file system failed.
    Io(io::Error),
    /// The file is not one the store wrote: a symlink, not a regular file,
    /// owned by another user, or open to group or others.
    Unsafe(String),
}

/// Reads a session file as untrusted input: without following a symlink,
/// only a regular file owned by the effective user with no group or other
/// permission bits (what the store writes, 0600), and no more than the
/// record cap plus one byte. `Ok(None)` if it does not exist.
pub(crate) fn read_record(path: &Path) -> Result<Option<Vec<u8>>, RecordReadError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(RecordReadError::Unsafe("is a symbolic link".into()));
        }
        Err(e) => return Err(RecordReadError::Io(e)),
    };
    let meta = file.metadata().map_err(RecordReadError::Io)?;
    if !meta.is_file() {
        return Err(RecordReadError::Unsafe("is not a regular file".into()));
    }
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(RecordReadError::Unsafe(format!(
            "is owned by uid {}, not by the store's user (uid {euid})",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(RecordReadError::Unsafe(format!(
            "has mode {mode:04o}; the store writes 0600"
        )));
    }
    let cap = tessera_store::backend::record::MAX_RECORD_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    file.take(cap)
        .read_to_end(&mut bytes)
        .map_err(RecordReadError::Io)?;
    Ok(Some(bytes))
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
