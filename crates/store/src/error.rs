//! The errors of the crate, in two layers: [`StoreError`], what a backend
//! may return from a [`SessionStore`](crate::SessionStore) method, and
//! [`SessionsError`], what the [`Sessions`](crate::Sessions) service adds on
//! top (a SID that does not verify, a session of another context,
//! credentials that do not seal or open) around a store error.

use std::error::Error as StdError;

use tessera_core::CoreError;
use tessera_crypto::CryptoError;

/// A boxed driver error kept as the source of a store error.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything a store can fail with: the one error of every
/// [`SessionStore`](crate::SessionStore) method.
///
/// The variants keep "the session is gone" (`NotFound`, `Expired`) apart from
/// "the backend could not answer" (`Unavailable`, `Backend`, `Corrupt`): an
/// outage must never read as a logout. No variant carries a SID, a key or a
/// credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No live session under this key.
    #[error("session not found")]
    NotFound,

    /// The session exists but has expired (it will be removed).
    #[error("session expired")]
    Expired,

    /// Create found a session already stored under the same key.
    #[error("a session with this key already exists")]
    AlreadyExists,

    /// An update carried a stale version: someone else updated first.
    #[error(
        "version conflict: the update expected version {expected}, the stored version is {actual}"
    )]
    Conflict {
        /// The version the caller read.
        expected: u64,
        /// The version in the store.
        actual: u64,
    },

    /// The subject is at its quota and the policy is `DENY_LOGIN`.
    #[error("session quota of {quota} per subject is exhausted")]
    QuotaExhausted {
        /// The quota in force.
        quota: usize,
    },

    /// A value in the request breaks the model's rules.
    #[error(transparent)]
    Invalid(#[from] CoreError),

    /// The session is larger than the backend can store.
    #[error("session is {size} bytes, the backend's limit is {limit} bytes")]
    TooLarge {
        /// The encoded size.
        size: usize,
        /// The backend's limit.
        limit: usize,
    },

    /// A stored record could not be decoded. The record is kept as is.
    #[error("stored session record is corrupt: {reason}")]
    Corrupt {
        /// What was wrong with it.
        reason: String,
        /// The decoder's error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// A stored record was written by a newer version of Tessera.
    #[error(
        "stored record has format version {found}; this version of Tessera reads up to {supported}"
    )]
    UnsupportedFormat {
        /// The record's format version.
        found: u64,
        /// The newest version this build reads.
        supported: u64,
    },

    /// The backend did not answer (down, unreachable, timed out, throttled).
    /// Retrying later may succeed.
    #[error("session backend unavailable: {what}")]
    Unavailable {
        /// What was being done.
        what: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// The backend answered with an error that retrying will not fix
    /// (permission denied, disk full, a misconfigured table).
    #[error("session backend error: {what}")]
    Backend {
        /// What was being done.
        what: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// A corrupt-record error with its decoder error.
    pub fn corrupt(reason: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Corrupt {
            reason: reason.into(),
            source: Some(source.into()),
        }
    }

    /// An unavailable-backend error.
    pub fn unavailable(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: source.into(),
        }
    }

    /// A backend error that retrying will not fix.
    pub fn backend(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            what: what.into(),
            source: source.into(),
        }
    }

    /// Whether the error means the backend could not be reached, so the
    /// caller should answer "try again later" rather than "logged out".
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Everything the [`Sessions`](crate::Sessions) service can fail with: its
/// own refusals, and the store's errors underneath.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionsError {
    /// A SID failed to parse or verify (checked before any store access).
    #[error("invalid SID")]
    InvalidSid(#[source] CryptoError),

    /// The SID is valid but belongs to another context than the one asked.
    #[error("the session belongs to another context")]
    WrongContext,

    /// Credentials could not be sealed, or stored ones could not be opened
    /// (a password removed from the configuration, or damage).
    #[error("credentials could not be sealed or opened")]
    Credentials(#[source] CryptoError),

    /// What the store answered.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CoreError> for SessionsError {
    fn from(e: CoreError) -> Self {
        Self::Store(StoreError::Invalid(e))
    }
}

impl SessionsError {
    /// Whether the error means the backend could not be reached, so the
    /// caller should answer "try again later" rather than "logged out".
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_unavailable())
    }
}
