//! The key under which stores keep a session, derived one-way from its SID.

use std::fmt;
use std::str::FromStr;

use ring::digest;

use crate::error::CryptoError;
use crate::hex::{self, Case};

const STORAGE_KEY_LABEL: &[u8] = b"tessera/storage-key/v1\0";
/// A different label for legacy SIDs: neither label is a prefix of the
/// other, so no legacy SID can hash to a Tessera SID's storage key.
const LEGACY_STORAGE_KEY_LABEL: &[u8] = b"tessera/legacy-sid/v1\0";
/// The label of an import marker's key: a third domain, so no marker key
/// is a session's storage key.
const IMPORT_MARKER_LABEL: &[u8] = b"tessera/import-marker/v1\0";

/// The 32-byte key a store files a session under:
/// `SHA-256("tessera/storage-key/v1\0" || key16)`, where `key16` is the
/// 16-byte key part of the session's SID.
///
/// Stores never see a SID, only this. The hash is one-way, so a dump of a
/// store's keys yields no SID that a browser could present; that is why the
/// storage key is **not secret** and its `Debug` shows it in full.
///
/// Its text form ([`Display`](fmt::Display), [`StorageKey::to_hex`]) is 64
/// lowercase hexadecimal characters; [`FromStr`] accepts exactly that form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey([u8; 32]);

impl StorageKey {
    /// Derives the storage key from the 16 key bytes of a SID.
    ///
    /// [`SidKeys::mint`](crate::SidKeys::mint) and
    /// [`SidKeys::verify`](crate::SidKeys::verify) already return the storage
    /// key inside a [`SessionRef`](crate::SessionRef); this is public for
    /// tools that migrate sessions whose SID key bytes they hold.
    pub fn from_sid_key_bytes(key16: &[u8; 16]) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(STORAGE_KEY_LABEL);
        ctx.update(key16);
        let mut out = [0; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }

    /// Derives the storage key of a legacy SID (an identifier issued by a
    /// system Tessera replaces): `SHA-256("tessera/legacy-sid/v1\0" || sid)`
    /// over the whole SID text. Only an import files a session under it.
    pub fn from_legacy_sid(sid: &str) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(LEGACY_STORAGE_KEY_LABEL);
        ctx.update(sid.as_bytes());
        let mut out = [0; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }

    /// The key of the marker an import leaves for the session under this
    /// key: `SHA-256("tessera/import-marker/v1\0" || key)`. A store keeps
    /// the marker among its legacy aliases; it records that the session was
    /// imported, so that a later import of the same SID can tell a session
    /// that ended since from one never imported.
    #[must_use]
    pub fn import_marker(&self) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(IMPORT_MARKER_LABEL);
        ctx.update(&self.0);
        let mut out = [0; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }

    /// A storage key from its 32 bytes, e.g. as read back from a store.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as 64 lowercase hexadecimal characters.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageKey({})", self.to_hex())
    }
}

impl FromStr for StorageKey {
    type Err = CryptoError;

    /// Parses exactly 64 lowercase hexadecimal characters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::decode::<32>(s, Case::LowerOnly)
            .map(Self)
            .map_err(|e| CryptoError::MalformedStorageKey {
                reason: e.reason(Case::LowerOnly),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_documented_derivation() {
        let key16 = [7u8; 16];
        let mut input = b"tessera/storage-key/v1\0".to_vec();
        input.extend_from_slice(&key16);
        let d = digest::digest(&digest::SHA256, &input);
        assert_eq!(
            StorageKey::from_sid_key_bytes(&key16).as_bytes()[..],
            d.as_ref()[..]
        );
    }

    #[test]
    fn legacy_keys_use_their_own_label() {
        let sid = "0f8fad5bd9cb469fa16570867728950e";
        let mut input = b"tessera/legacy-sid/v1\0".to_vec();
        input.extend_from_slice(sid.as_bytes());
        let d = digest::digest(&digest::SHA256, &input);
        assert_eq!(
            StorageKey::from_legacy_sid(sid).as_bytes()[..],
            d.as_ref()[..]
        );
        // Sixteen bytes hashed under each label give different keys.
        let sixteen = "0123456789abcdef";
        let mut key16 = [0u8; 16];
        key16.copy_from_slice(sixteen.as_bytes());
        assert_ne!(
            StorageKey::from_legacy_sid(sixteen),
            StorageKey::from_sid_key_bytes(&key16)
        );
    }

    #[test]
    fn text_form_round_trips_and_is_strict() {
        let key = StorageKey::from_sid_key_bytes(&[1; 16]);
        let text = key.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text, key.to_hex());
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
        assert_eq!(text.parse::<StorageKey>(), Ok(key));
        assert_eq!(format!("{key:?}"), format!("StorageKey({text})"));

        let upper = text.to_ascii_uppercase();
        let short = &text[..63];
        let long = format!("{text}0");
        let spaced = format!(" {}", &text[1..]);
        for bad in [upper.as_str(), short, long.as_str(), spaced.as_str(), ""] {
            assert!(
                matches!(
                    bad.parse::<StorageKey>(),
                    Err(CryptoError::MalformedStorageKey { .. })
                ),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn an_import_marker_is_neither_its_session_key_nor_a_legacy_key() {
        let key = StorageKey::from_sid_key_bytes(&[7; 16]);
        let marker = key.import_marker();
        assert_ne!(marker, key);
        assert_eq!(marker, key.import_marker(), "the same key every time");
        assert_ne!(marker, StorageKey::from_legacy_sid(&key.to_hex()));
        assert_ne!(marker.import_marker(), marker);
    }
}
