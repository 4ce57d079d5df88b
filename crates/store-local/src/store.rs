//! The local folder store.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tessera_core::{
    Context, Policy, Session, Subject, Timestamp, TouchDecision, TouchWindow, decide_touch,
};
use tessera_crypto::{SessionRef, StorageKey};
use tessera_store::{
    Created, LegacyAlias, PurgeReport, RevokeReport, SessionStore, StoreError, StoredSession,
    Touch, compare_and_set, listed, quota_plan, record,
};

use crate::files::{
    check_folder_is_safe, create_private_dir, io_error, read_optional, remove_optional, sync_dir,
    write_atomic,
};
use crate::layout::{FORMAT, Layout, SubjectKey, TEMP_PREFIX};

/// Temporary files older than this are leftovers of a crash; purge removes them.
const STALE_TEMP_MILLIS: i64 = 10 * 60_000;
use crate::locks::Stripes;
use crate::{LocalConfig, LocalError, index};

/// Sessions in a local folder; see the crate docs for the layout.
///
/// Cheap to clone; clones share the same lock table. Several processes may
/// open the same folder: quota decisions and compare-and-set updates hold
/// the subject's file lock.
#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.inner.layout.root())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    layout: Layout,
    stripes: Stripes,
    touch_window: TouchWindow,
}

impl LocalStore {
    /// Opens (creating if needed) the store folder.
    ///
    /// Creates the folder and its subfolders with mode 0700, refuses a
    /// folder or subfolder that another user owns or may write to, and
    /// refuses a folder written by a newer, incompatible version of the
    /// store.
    ///
    /// ```
    /// use tessera_store_local::{LocalConfig, LocalStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let folder = tempfile::tempdir()?;
    /// let store = LocalStore::open(&LocalConfig::new(folder.path().join("sessions"))).await?;
    /// assert!(store.path().ends_with("sessions"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`LocalError`] naming the folder or file at fault.
    pub async fn open(config: &LocalConfig) -> Result<Self, LocalError> {
        let config = config.clone();
        let path = config.path.clone();
        tokio::task::spawn_blocking(move || Self::open_blocking(&config))
            .await
            .map_err(|e| LocalError::Io {
                what: "opening",
                path,
                source: std::io::Error::other(e),
            })?
    }

    fn open_blocking(config: &LocalConfig) -> Result<Self, LocalError> {
        let layout = Layout::new(&config.path);
        let root = layout.root().to_path_buf();
        if root.exists() {
            check_folder_is_safe(&root)?;
        }
        let create = |dir: &Path| {
            create_private_dir(dir).map_err(|source| LocalError::Io {
                what: "creating",
                path: dir.to_path_buf(),
                source,
            })
        };
        create(&root)?;
        check_folder_is_safe(&root)?;
        let marker = layout.marker();
        let io = |what| {
            let path = marker.clone();
            move |source| LocalError::Io { what, path, source }
        };
        match read_optional(&marker).map_err(io("reading"))? {
            Some(bytes) => check_marker(&marker, &bytes)?,
            None => write_atomic(&marker, format!("{{\"format\":{FORMAT}}}\n").as_bytes())
                .map_err(io("writing"))?,
        }
        for dir in [
            layout.sessions_dir(),
            layout.subjects_dir(),
            layout.locks_dir(),
            layout.legacy_dir(),
        ] {
            create(&dir)?;
            check_folder_is_safe(&dir)?;
        }
        let touch_window = TouchWindow::from_millis(
            u64::try_from(config.touch_window.as_millis()).unwrap_or(u64::MAX),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                layout,
                stripes: Stripes::new(),
                touch_window,
            }),
        })
    }

    /// The folder this store lives in.
    pub fn path(&self) -> &Path {
        self.inner.layout.root()
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::backend("local store task failed", e))?
    }
}

fn check_marker(path: &Path, bytes: &[u8]) -> Result<(), LocalError> {
    #[derive(serde::Deserialize)]
    struct Marker {
        format: u64,
    }
    let marker: Marker = serde_json::from_slice(bytes).map_err(|source| LocalError::BadMarker {
        path: path.to_path_buf(),
        source,
    })?;
    if marker.format > FORMAT {
        return Err(LocalError::NewerFormat {
            path: path.parent().unwrap_or(path).to_path_buf(),
            found: marker.format,
            supported: FORMAT,
        });
    }
    Ok(())
}

impl Inner {
    fn read_session(&self, id: &SessionRef) -> Result<Option<Session>, StoreError> {
        read_optional(&self.layout.session(id))
            .map_err(|e| io_error("reading a session file", e))?
            .map(|bytes| record::decode(&bytes))
            .transpose()
    }

    fn write_session(&self, id: &SessionRef, session: &Session) -> Result<(), StoreError> {
        write_atomic(&self.layout.session(id), &record::encode(session))
            .map_err(|e| io_error("writing a session file", e))
    }

    fn remove_session(&self, id: &SessionRef) -> Result<bool, StoreError> {
        remove_optional(&self.layout.session(id))
            .map_err(|e| io_error("removing a session file", e))
    }

    fn read_index(&self, key: &SubjectKey) -> Result<Vec<SessionRef>, StoreError> {
        match read_optional(&self.layout.index(key))
            .map_err(|e| io_error("reading a subject index", e))?
        {
            Some(bytes) => index::decode(&bytes).map(|(_, refs)| refs),
            None => Ok(Vec::new()),
        }
    }

    fn write_index(
        &self,
        subject: &Subject,
        key: &SubjectKey,
        refs: &[SessionRef],
    ) -> Result<(), StoreError> {
        let path = self.layout.index(key);
        if refs.is_empty() {
            if remove_optional(&path).map_err(|e| io_error("removing a subject index", e))?
                && let Some(dir) = path.parent()
            {
                sync_dir(dir).map_err(|e| io_error("syncing a subject index folder", e))?;
            }
            return Ok(());
        }
        write_atomic(&path, &index::encode(subject, refs))
            .map_err(|e| io_error("writing a subject index", e))
    }

    /// The subject's sessions per its index: `(live, expired or missing)`.
    fn sessions_of(
        &self,
        key: &SubjectKey,
        now: Timestamp,
    ) -> Result<(Vec<StoredSession>, Vec<SessionRef>), StoreError> {
        let mut live = Vec::new();
        let mut dead = Vec::new();
        for id in self.read_index(key)? {
            match self.read_session(&id)? {
                Some(session) if !session.is_expired(now) => {
                    live.push(StoredSession { id, session });
                }
                _ => dead.push(id),
            }
        }
        Ok((live, dead))
    }

    fn create(
        &self,
        id: &SessionRef,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        let key = SubjectKey::of(&session.subject);
        let _lock = self.stripes.lock(&self.layout, key.stripe())?;
        if let Some(existing) = self.read_session(id)? {
            if !existing.is_expired(now) {
                return Err(StoreError::AlreadyExists);
            }
            self.remove_session(id)?;
        }
        let (live, dead) = self.sessions_of(&key, now)?;
        let closed = quota_plan(&live, policy, now)?;
        // Order matters for crash safety: closed and expired files go first,
        // then the index (which already lists the new session), then the new
        // file. A crash at any point leaves only index entries without files,
        // which readers skip and purge removes; never a live session missing
        // from its index, which would escape the quota.
        for gone in closed.iter().chain(&dead) {
            self.remove_session(gone)?;
        }
        let mut refs: Vec<SessionRef> = live
            .iter()
            .map(|s| s.id)
            .filter(|r| !closed.contains(r))
            .collect();
        refs.push(*id);
        self.write_index(&session.subject, &key, &refs)?;
        self.write_session(id, session)?;
        Ok(Created { closed })
    }

    /// Writes a touch under the subject lock, re-reading first so that a
    /// concurrent update is never overwritten with an older body.
    fn persist_touch(
        &self,
        id: &SessionRef,
        subject: &Subject,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let key = SubjectKey::of(subject);
        let _lock = self.stripes.lock(&self.layout, key.stripe())?;
        if let Some(mut fresh) = self.read_session(id)?
            && !fresh.is_expired(now)
            && fresh.last_used < now
        {
            fresh.touch(now);
            self.write_session(id, &fresh)?;
        }
        Ok(())
    }

    fn update(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let subject = self.read_session(id)?.ok_or(StoreError::NotFound)?.subject;
        let key = SubjectKey::of(&subject);
        let _lock = self.stripes.lock(&self.layout, key.stripe())?;
        let stored = self.read_session(id)?.ok_or(StoreError::NotFound)?;
        let next = compare_and_set(&stored, session, now)?;
        self.write_session(id, &next)?;
        Ok(next)
    }

    fn delete(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let session = match self.read_session(id) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(None),
            // Ending a session whose file is damaged removes the file: the
            // caller wants it gone, and there is nothing to return. A file
            // of a newer format is left alone (the error says so): an
            // older server never destroys what it cannot read.
            Err(StoreError::Corrupt { .. }) => {
                self.remove_session(id)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let key = SubjectKey::of(&session.subject);
        let _lock = self.stripes.lock(&self.layout, key.stripe())?;
        self.remove_session(id)?;
        let refs: Vec<SessionRef> = self
            .read_index(&key)?
            .into_iter()
            .filter(|r| r != id)
            .collect();
        self.write_index(&session.subject, &key, &refs)?;
        Ok((!session.is_expired(now)).then_some(session))
    }

    fn list(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError> {
        // A listing skips records it cannot decode (a logout by subject
        // still removes them); a newer format is refused.
        let mut found = Vec::new();
        for id in self.read_index(&SubjectKey::of(subject))? {
            match self.read_session(&id) {
                Ok(Some(session)) => found.push(StoredSession { id, session }),
                Ok(None) | Err(StoreError::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(listed(found, subject, context, now))
    }

    fn delete_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        let key = SubjectKey::of(subject);
        let _lock = self.stripes.lock(&self.layout, key.stripe())?;
        let (live, dead) = self.sessions_of(&key, now)?;
        let mut deleted = Vec::new();
        let mut kept = Vec::new();
        for s in live {
            if context.is_none_or(|c| &s.session.context == c) {
                self.remove_session(&s.id)?;
                deleted.push(s.id);
            } else {
                kept.push(s.id);
            }
        }
        for id in &dead {
            self.remove_session(id)?;
        }
        self.write_index(subject, &key, &kept)?;
        Ok(deleted)
    }

    /// Calls `f` with every session file (skipping temporary files).
    fn each_session_file(
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

    fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut live = 0;
        self.each_session_file(|path, _| {
            let bytes = read_optional(path).map_err(|e| io_error("reading a session file", e))?;
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
    fn remove_stale_temp_files(&self, now: Timestamp) -> Result<(), StoreError> {
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

    fn put_legacy_alias(&self, legacy: &StorageKey, alias: &LegacyAlias) -> Result<(), StoreError> {
        write_atomic(&self.layout.legacy_alias(legacy), &alias.encode())
            .map_err(|e| io_error("writing a legacy SID alias", e))
    }

    fn legacy_alias(
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
    fn purge_legacy_aliases(&self, now: Timestamp) -> Result<(), StoreError> {
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
    fn delete_all(&self, now: Timestamp) -> Result<RevokeReport, StoreError> {
        let mut report = RevokeReport::default();
        self.each_session_file(|path, id| {
            let Some(bytes) =
                read_optional(path).map_err(|e| io_error("reading a session file", e))?
            else {
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

    fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        self.remove_stale_temp_files(now)?;
        self.purge_legacy_aliases(now)?;
        let mut report = PurgeReport::default();
        self.each_session_file(|path, id| {
            let bytes = read_optional(path).map_err(|e| io_error("reading a session file", e))?;
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

#[async_trait]
impl SessionStore for LocalStore {
    async fn create(
        &self,
        id: &SessionRef,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        let (id, session, policy) = (*id, session.clone(), *policy);
        self.run(move |s| s.create(&id, &session, &policy, now))
            .await
    }

    async fn put_legacy_alias(
        &self,
        legacy: &StorageKey,
        alias: &LegacyAlias,
    ) -> Result<(), StoreError> {
        let (legacy, alias) = (*legacy, *alias);
        self.run(move |s| s.put_legacy_alias(&legacy, &alias)).await
    }

    async fn legacy_alias(
        &self,
        legacy: &StorageKey,
        now: Timestamp,
    ) -> Result<Option<SessionRef>, StoreError> {
        let legacy = *legacy;
        self.run(move |s| s.legacy_alias(&legacy, now)).await
    }

    async fn get_and_touch(
        &self,
        id: &SessionRef,
        now: Timestamp,
        touch: Touch,
    ) -> Result<Option<Session>, StoreError> {
        // The hot path reads one small file inline: from the page cache that
        // costs a few microseconds, less than a hop to the blocking pool.
        // Writes (lazy deletion, a due touch) take the hop.
        let id = *id;
        let Some(mut session) = self.inner.read_session(&id)? else {
            return Ok(None);
        };
        if session.is_expired(now) {
            // Lazy deletion; the index entry goes at the next purge or create.
            self.run(move |s| s.remove_session(&id).map(drop)).await?;
            return Ok(None);
        }
        if touch == Touch::Skip {
            return Ok(Some(session));
        }
        let decision = decide_touch(now, session.last_used, self.inner.touch_window);
        if decision == TouchDecision::Write {
            let subject = session.subject.clone();
            self.run(move |s| s.persist_touch(&id, &subject, now))
                .await?;
        }
        if decision.moves() {
            session.touch(now);
        }
        Ok(Some(session))
    }

    async fn update(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let (id, session) = (*id, session.clone());
        self.run(move |s| s.update(&id, &session, now)).await
    }

    async fn delete(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let id = *id;
        self.run(move |s| s.delete(&id, now)).await
    }

    async fn list_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError> {
        let (subject, context) = (subject.clone(), context.cloned());
        self.run(move |s| s.list(&subject, context.as_ref(), now))
            .await
    }

    async fn delete_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        let (subject, context) = (subject.clone(), context.cloned());
        self.run(move |s| s.delete_by_subject(&subject, context.as_ref(), now))
            .await
    }

    async fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.run(move |s| s.count(now)).await
    }

    async fn delete_all(&self, now: Timestamp) -> Result<RevokeReport, StoreError> {
        self.run(move |s| s.delete_all(now)).await
    }

    async fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        self.run(move |s| s.purge(now)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|s| {
            fs::metadata(s.layout.sessions_dir())
                .map(|_| ())
                .map_err(|e| io_error("checking the store folder", e))
        })
        .await
    }
}
