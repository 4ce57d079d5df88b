//! Where each file of the store lives.
//!
//! ```text
//! <path>/tessera-local.json                      format marker {"format":1}
//! <path>/sessions/<ss>/<tag>-<storage key>       one session record
//! <path>/subjects/<hh>/<sha256(subject) hex>     the subject's index
//! <path>/locks/<hh>                              256 lock stripes
//! <path>/legacy/<ll>/<legacy storage key>        alias of an imported legacy SID
//! ```
//!
//! `<ss>` is the first two hex digits of the storage key (uniform spread);
//! `<hh>` the first two of the subject hash, which also picks the lock
//! stripe, so one stripe guards every file of a subject.

use std::path::{Path, PathBuf};

use ring::digest;
use tessera_core::Subject;
use tessera_crypto::{SessionRef, StorageKey};

/// The marker file's name.
pub(crate) const MARKER: &str = "tessera-local.json";
/// The store layout version this build writes and reads.
pub(crate) const FORMAT: u64 = 1;
pub(crate) const SESSIONS: &str = "sessions";
pub(crate) const SUBJECTS: &str = "subjects";
pub(crate) const LOCKS: &str = "locks";
pub(crate) const LEGACY: &str = "legacy";
/// Prefix of temporary files; readers skip names starting with a dot.
pub(crate) const TEMP_PREFIX: &str = ".tmp";

/// Paths of one store folder.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

/// A subject's hash, naming its index file and its lock stripe.
#[derive(Debug, Clone)]
pub(crate) struct SubjectKey {
    hex: String,
    stripe: u8,
}

impl SubjectKey {
    pub(crate) fn of(subject: &Subject) -> Self {
        let d = digest::digest(&digest::SHA256, subject.as_str().as_bytes());
        let bytes = d.as_ref();
        Self {
            hex: tessera_crypto::to_hex(bytes),
            stripe: bytes[0],
        }
    }

    pub(crate) fn stripe(&self) -> u8 {
        self.stripe
    }
}

impl Layout {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn marker(&self) -> PathBuf {
        self.root.join(MARKER)
    }

    pub(crate) fn sessions_dir(&self) -> PathBuf {
        self.root.join(SESSIONS)
    }

    pub(crate) fn subjects_dir(&self) -> PathBuf {
        self.root.join(SUBJECTS)
    }

    pub(crate) fn locks_dir(&self) -> PathBuf {
        self.root.join(LOCKS)
    }

    pub(crate) fn session(&self, id: &SessionRef) -> PathBuf {
        let key = id.storage_key().to_hex();
        self.sessions_dir().join(&key[..2]).join(id.to_string())
    }

    pub(crate) fn index(&self, subject: &SubjectKey) -> PathBuf {
        self.subjects_dir()
            .join(&subject.hex[..2])
            .join(&subject.hex)
    }

    pub(crate) fn legacy_dir(&self) -> PathBuf {
        self.root.join(LEGACY)
    }

    pub(crate) fn legacy_alias(&self, key: &StorageKey) -> PathBuf {
        let hex = key.to_hex();
        self.legacy_dir().join(&hex[..2]).join(hex)
    }

    pub(crate) fn lock(&self, stripe: u8) -> PathBuf {
        self.locks_dir().join(format!("{stripe:02x}"))
    }
}
