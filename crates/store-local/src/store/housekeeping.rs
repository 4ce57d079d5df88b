//! The local store's walks over the whole folder: count, purge (expired
//! sessions, stale index entries, leftover temporary files, expired legacy
//! aliases), revoke-all, and the legacy SID aliases.

use std::fs;
use std::path::Path;

use tessera_core::Timestamp;
use tessera_crypto::{SessionRef, StorageKey};
use tessera_store::backend::record;
use tessera_store::{LegacyAlias, PurgeReport, RevokeReport, StoreError};

use super::{Inner, STALE_TEMP_MILLIS};
use crate::files::{
    RecordReadError, io_error, read_optional, read_record, remove_optional, write_atomic,
};

/// A session file's bytes for a walk over the store, read as
/// [`read_record`] reads them. A file the store did not write (a symlink,
/// another owner, open permissions) reads as empty: damage, which every
/// walk already passes by or removes.
fn session_bytes(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match read_record(path) {
        Ok(found) => Ok(found),
        Err(RecordReadError::Unsafe(_)) => Ok(Some(Vec::new())),
        Err(RecordReadError::Io(e)) => Err(io_error("reading a session file", e)),
    }
}
use crate::index;
use crate::layout::{SubjectKey, TEMP_PREFIX};

impl Inner {
    /// Calls `f` with every session file (skipping temporary files).
    pub(crate) fn each_session_file(
        &self,
        mut f: impl FnMut(&Path, Option<SessionRef>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for shard in read_dir(&self.layout.sessions_dir())? {
            for file in read_dir(&shard)? {
                let name = file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                if name.starts_with('.') {
                    continue;
                }
                f(&file, name.parse().ok())?;
            }
        }
        Ok(())
    }

    pub(crate) fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut live = 0;
        self.each_session_file(|path, _| {
            let bytes = session_bytes(path)?;
            if bytes
                .and_then(|b| record::decode(&b).ok())
                .is_some_and(|session| !session.is_expired(now))
            {
                live += 1;
            }
            Ok(())
        })?;
        Ok(live)
    }

    /// Removes temporary files left behind by a crash mid-write.
    pub(crate) fn remove_stale_temp_files(&self, now: Timestamp) -> Result<(), StoreError> {
        for top in [self.layout.sessions_dir(), self.layout.subjects_dir()] {
            for shard in read_dir(&top)? {
                for file in read_dir(&shard)? {
                    let is_temp = file
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(TEMP_PREFIX));
                    let modified_ms = fs::metadata(&file)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .and_then(|d| i64::try_from(d.as_millis()).ok());
                    if is_temp
                        && modified_ms.is_some_and(|m| now.as_millis() - m > STALE_TEMP_MILLIS)
                    {
                        remove_optional(&file)
                            .map_err(|e| io_error("removing a stale temporary file", e))?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn put_legacy_alias(
        &self,
        legacy: &StorageKey,
        alias: &LegacyAlias,
    ) -> Result<(), StoreError> {
        write_atomic(&self.layout.legacy_alias(legacy), &alias.encode())
            .map_err(|e| io_error("writing a legacy SID alias", e))
    }

    pub(crate) fn legacy_alias(
        &self,
        legacy: &StorageKey,
        now: Timestamp,
    ) -> Result<Option<SessionRef>, StoreError> {
        let Some(bytes) = read_optional(&self.layout.legacy_alias(legacy))
            .map_err(|e| io_error("reading a legacy SID alias", e))?
        else {
            return Ok(None);
        };
        let alias = LegacyAlias::decode(&bytes)?;
        Ok((!alias.is_expired(now)).then_some(alias.id))
    }

    /// Removes the legacy SID aliases past their expiry (damaged ones are
    /// left for an operator, like damaged session files).
    pub(crate) fn purge_legacy_aliases(&self, now: Timestamp) -> Result<(), StoreError> {
        for shard in read_dir(&self.layout.legacy_dir())? {
            for file in read_dir(&shard)? {
                if file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_none_or(|n| n.starts_with('.'))
                {
                    continue;
                }
                let bytes =
                    read_optional(&file).map_err(|e| io_error("reading a legacy SID alias", e))?;
                if bytes.is_some_and(|b| LegacyAlias::decode(&b).is_ok_and(|a| a.is_expired(now))) {
                    remove_optional(&file)
                        .map_err(|e| io_error("removing a legacy SID alias", e))?;
                }
            }
        }
        Ok(())
    }

    /// Removes every session file but those of a newer format, shard by
    /// shard, then lets [`Inner::purge`] drop the index entries left
    /// without a file.
    pub(crate) fn delete_all(&self, now: Timestamp) -> Result<RevokeReport, StoreError> {
        let mut report = RevokeReport::default();
        self.each_session_file(|path, id| {
            let Some(bytes) = session_bytes(path)? else {
                return Ok(());
            };
            let live = match record::decode(&bytes) {
                Err(StoreError::UnsupportedFormat { .. }) => {
                    report.left += 1;
                    return Ok(());
                }
                Ok(session) => !session.is_expired(now),
                Err(_) => false,
            };
            if id.is_some()
                && remove_optional(path).map_err(|e| io_error("removing a session file", e))?
                && live
            {
                report.ended += 1;
            }
            Ok(())
        })?;
        self.purge(now)?;
        Ok(report)
    }

    pub(crate) fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        self.remove_stale_temp_files(now)?;
        self.purge_legacy_aliases(now)?;
        let mut report = PurgeReport::default();
        self.each_session_file(|path, id| {
            let bytes = session_bytes(path)?;
            // Damaged records are left for an operator; see the docs.
            let Some(session) = bytes.and_then(|b| record::decode(&b).ok()) else {
                return Ok(());
            };
            if session.is_expired(now)
                && id.is_some()
                && remove_optional(path).map_err(|e| io_error("removing a session file", e))?
            {
                report.sessions += 1;
            }
            Ok(())
        })?;
        for shard in read_dir(&self.layout.subjects_dir())? {
            for file in read_dir(&shard)? {
                if file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
                {
                    continue;
                }
                let Some(bytes) =
                    read_optional(&file).map_err(|e| io_error("reading a subject index", e))?
                else {
                    continue;
                };
                let Ok((subject, _)) = index::decode(&bytes) else {
                    continue;
                };
                let key = SubjectKey::of(&subject);
                let _lock = self.stripes.lock(&self.layout, key.stripe())?;
                let (live, dead) = match self.sessions_of(&key, now) {
                    Ok(found) => found,
                    // A damaged record, or one of a newer format, leaves its
                    // subject's index as it is; the other subjects go on.
                    Err(StoreError::Corrupt { .. } | StoreError::UnsupportedFormat { .. }) => {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if dead.is_empty() {
                    continue;
                }
                for id in &dead {
                    if self.remove_session(id)? {
                        report.sessions += 1;
                    }
                }
                let refs: Vec<SessionRef> = live.iter().map(|s| s.id).collect();
                self.write_index(&subject, &key, &refs)?;
                report.index_entries += dead.len() as u64;
            }
        }
        Ok(report)
    }
}

/// The entries of a directory; empty if it does not exist.
fn read_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&format!("listing {}", dir.display()), e)),
    };
    entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| io_error(&format!("listing {}", dir.display()), e))
}
