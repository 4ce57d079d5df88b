//! The local folder store.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tessera_core::{
    Context, Policy, Session, Subject, Timestamp, TouchDecision, TouchWindow, decide_touch,
};
use tessera_crypto::{SessionRef, StorageKey};
use tessera_store::backend::check_anonymous;
use tessera_store::{
    Created, LegacyAlias, PurgeReport, RevokeReport, SessionStore, StoreError, StoredSession, Touch,
};

use crate::files::{
    check_folder_is_safe, create_private_dir, io_error, read_optional, write_atomic,
};
use crate::layout::{FORMAT, Layout};

/// Temporary files older than this are leftovers of a crash; purge removes them.
const STALE_TEMP_MILLIS: i64 = 10 * 60_000;
use crate::locks::Stripes;
use crate::{LocalConfig, LocalError};

mod housekeeping;
mod records;

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
    /// Paths through [`Inner::root`]'s handle where the system offers one.
    layout: Layout,
    stripes: Stripes,
    touch_window: TouchWindow,
    /// The folder as configured, for messages.
    path: std::path::PathBuf,
    /// The store folder, held open from start-up: every path of `layout`
    /// resolves through it (`/proc/self/fd/N/...`), so a folder swapped in
    /// at the configured path later is never read or written.
    _root: Option<fs::File>,
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
        let (layout, handle) = if let Some((through, handle)) = hold_folder(&root) {
            (Layout::new(&through), Some(handle))
        } else {
            tracing::warn!(
                path = %root.display(),
                "/proc/self/fd is not available: the local store resolves its folder by path, \
                 so a folder swapped in at that path would be used"
            );
            (layout, None)
        };
        Ok(Self {
            inner: Arc::new(Inner {
                layout,
                stripes: Stripes::new(),
                touch_window,
                path: root,
                _root: handle,
            }),
        })
    }

    /// The folder this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
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

/// Opens the store folder (not following a symlink in its last component)
/// and returns the path that reaches it through the open handle, with the
/// handle; `None` where the system has no `/proc/self/fd`.
fn hold_folder(root: &Path) -> Option<(std::path::PathBuf, fs::File)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let handle = fs::OpenOptions::new()
        .read(true)
        .custom_flags(
            (rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::NOFOLLOW)
                .bits()
                .cast_signed(),
        )
        .open(root)
        .ok()?;
    let through =
        Path::new("/proc/self/fd").join(std::os::fd::AsRawFd::as_raw_fd(&handle).to_string());
    through.is_dir().then_some((through, handle))
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

    async fn create_anonymous(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        check_anonymous(session)?;
        let (id, session) = (*id, session.clone());
        self.run(move |s| s.create_anonymous(&id, &session, now))
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
