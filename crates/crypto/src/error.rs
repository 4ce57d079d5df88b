//! The crate's one error type.
//!
//! No variant carries a SID, a token, a password, a credential or key bytes,
//! and no message quotes the input it rejects: these errors end up in logs and
//! HTTP responses. Reasons are fixed strings that say what was wrong with the
//! shape of the input, never what the input was.

use crate::random::RandomError;

/// Everything that can go wrong in `tessera-crypto`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The presented string does not have the shape of a SID (length,
    /// alphabet, separator or canonical encoding). Checked before any HMAC.
    #[error("malformed SID: {reason}")]
    MalformedSid {
        /// What was wrong with the shape, never the SID itself.
        reason: &'static str,
    },

    /// The SID is well formed but its HMAC tag matches none of the SID keys:
    /// a forged SID, or one signed with a key that has been retired.
    #[error("SID tag does not verify")]
    BadSidTag,

    /// The SID has the legacy untagged shape and legacy SIDs are not accepted.
    #[error("legacy SID without a tag is not accepted")]
    LegacySidRejected,

    /// The safe password does not meet the password rule.
    #[error("safe password refused: {reason}")]
    WeakPassword {
        /// Which part of the rule it breaks, never the password itself.
        reason: &'static str,
    },

    /// A deployment salt is out of bounds.
    #[error("deployment salt refused: {reason}")]
    InvalidSalt {
        /// Which bound it breaks.
        reason: &'static str,
    },

    /// A root key is not 32 bytes in hex, or is plainly not random.
    #[error("root key refused: {reason}")]
    InvalidRootKey {
        /// What is wrong with it (never the key itself).
        reason: &'static str,
    },

    /// The sealed blob is too short or has an unknown version, so it was not
    /// produced by this crate (or was truncated).
    #[error("sealed credentials are malformed: {reason}")]
    SealedDataMalformed {
        /// What was wrong with the blob's framing.
        reason: &'static str,
    },

    /// The sealed blob failed authentication. One variant covers a wrong key,
    /// a blob bound to another session or subject, and tampering, so that the
    /// caller cannot tell an attacker which of these it was.
    #[error("sealed credentials could not be opened")]
    OpenFailed,

    /// The sealed blob names a key id that none of the configured passwords
    /// derives: it was sealed under a password that has since been removed.
    #[error("sealed credentials use a key id that no configured password derives")]
    UnknownKeyId,

    /// The subject is too long to be bound into a sealed blob (over 4 GiB).
    #[error("subject is too long to bind into sealed credentials")]
    SubjectTooLong,

    /// The credentials are too long for one AES-GCM message (over 64 GiB).
    #[error("credentials are too long to seal")]
    CredentialsTooLong,

    /// An API token hash is not exactly 64 hexadecimal characters.
    #[error("malformed API token hash: {reason}")]
    MalformedTokenHash {
        /// What was wrong with the hash's text form.
        reason: &'static str,
    },

    /// A storage key is not exactly 64 lowercase hexadecimal characters.
    #[error("malformed storage key: {reason}")]
    MalformedStorageKey {
        /// What was wrong with the storage key's text form.
        reason: &'static str,
    },

    /// A subject tag is not exactly 4 lowercase hexadecimal characters.
    #[error("malformed subject tag: {reason}")]
    MalformedSubjectTag {
        /// What was wrong with the tag's text form.
        reason: &'static str,
    },

    /// A session reference is not `<4 hex>-<64 hex>` in lowercase.
    #[error("malformed session reference: {reason}")]
    MalformedSessionRef {
        /// What was wrong with the reference's text form.
        reason: &'static str,
    },

    /// A stored record's MAC is missing its key id, was made by a key no
    /// configured password derives, or does not match the record: the
    /// record was changed, moved or made by someone without the keys.
    #[error("record MAC does not verify: {reason}")]
    BadRecordMac {
        /// Which check failed (never the record or the key).
        reason: &'static str,
    },

    /// The injected random generator failed.
    #[error("random generator failed")]
    Random(#[from] RandomError),
}
