//! Tessera's cryptography: session IDs, storage keys, key derivation from the
//! `safe_password`, sealing of login credentials and API tokens, all on
//! `ring`.
//!
//! What it does:
//!
//! * mints SIDs (`base64url(key16) "." base64url(tag16)`, 45 characters) and
//!   verifies presented ones — strict shape check first, then the HMAC tag in
//!   constant time — before any store is asked ([`SidKeys`]);
//! * turns a SID into the [`SessionRef`] that stores see instead: a
//!   [`SubjectTag`] for routing and a one-way [`StorageKey`];
//! * derives every key from the operator's passwords once, at start-up
//!   ([`SafePassword`], [`MasterKeys`]);
//! * seals credentials with AES-256-GCM bound to their session ([`Sealer`]);
//! * generates API tokens and checks presented ones against configured
//!   SHA-256 hashes in constant time ([`ApiToken`], [`TokenVerifier`]).
//!
//! What it never does: I/O of any kind (network, files, environment), reading
//! a clock, reading the operating system's random generator (randomness is an
//! injected [`SecureRandom`]), async, or `unsafe`. `clippy.toml` bans the
//! calls that would break this. Secrets ([`Sid`], [`SafePassword`],
//! [`Credentials`], [`ApiToken`], key material) have redacted `Debug`, no
//! `Display`, and are wiped on drop where the crate owns their memory; no
//! error message quotes one.
//!
//! `docs/security.md` at the repository root describes the formats, the
//! key derivation, rotation and the threat model.
//!
//! ```
//! use tessera_crypto::testkit::SeededRandom; // feature `testkit`
//! use tessera_crypto::{MasterKeys, SafePassword, SealBinding, SubjectTag};
//!
//! # fn main() -> Result<(), tessera_crypto::CryptoError> {
//! // Production code passes an adapter over the OS generator instead.
//! let rng = SeededRandom::new(b"doc example");
//! let password = SafePassword::new("k9!Xq2#vLm7@Tz4$wR")?;
//! let keys = MasterKeys::derive(&password, &[]); // slow, once at start-up
//! let sid_keys = keys.sid_keys();
//!
//! let (sid, session) = sid_keys.mint(SubjectTag::of("alice"), &rng)?;
//! assert_eq!(sid.expose_secret().len(), 45);
//! let presented = sid.expose_secret();
//! assert_eq!(sid_keys.verify(presented)?, session);
//!
//! let sealer = keys.sealer();
//! let binding = SealBinding::new(session.storage_key(), "alice");
//! let sealed = sealer.seal(b"upstream password", &binding, &rng)?;
//! assert_eq!(sealer.open(&sealed, &binding)?.expose_secret(), b"upstream password");
//! # Ok(())
//! # }
//! ```

mod api_token;
mod error;
mod hex;
mod keys;
mod random;
mod record_mac;
mod seal;
mod sid;
mod storage_key;
mod subject_tag;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use api_token::{
    API_TOKEN_LEN, ApiToken, MIN_API_TOKEN_CHARS, TokenHash, TokenVerifier, WELL_KNOWN_TOKENS,
};

/// Whether a configured secret is an example's placeholder, such as
/// `<at least 16 random characters>`: text in angle brackets. Such a value
/// pasted from the docs is refused, never used.
pub fn is_placeholder(value: &str) -> bool {
    let value = value.trim();
    value.len() >= 2 && value.starts_with('<') && value.ends_with('>')
}
pub use error::CryptoError;
pub use hex::encode as to_hex;
pub use keys::{
    DeploymentSalt, GENERATED_PASSWORD_CHARS, MAX_SALT_BYTES, MIN_DISTINCT_CHARS,
    MIN_PASSWORD_CHARS, MIN_SALT_CHARS, MasterKeys, PBKDF2_ITERATIONS, PBKDF2_SALT, ROOT_KEY_BYTES,
    RootKey, SafePassword, Salts,
};
pub use random::{RandomError, SecureRandom};
pub use record_mac::{RECORD_MAC_LEN, RecordKeys};
pub use seal::{Credentials, SealBinding, SealedCredentials, Sealer};
pub use sid::{
    LEGACY_SID_MAX_LEN, LEGACY_SID_MIN_LEN, LegacySids, SID_LEN, SessionRef, Sid, SidKeys,
    VerifiedSid, is_legacy_sid,
};
pub use storage_key::StorageKey;
pub use subject_tag::{SubjectHash, SubjectTag};
