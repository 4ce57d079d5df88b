//! MACs on stored session records.
//!
//! The store is outside the trust boundary: whoever can write Redis keys,
//! DynamoDB items or the store folder, but cannot read the configuration,
//! must not be able to forge a session, change one or move one to another
//! key. Every record therefore carries a MAC under a key derived from the
//! `safe_password`s: the current password's key signs, every configured
//! password's key verifies, and a password removed from the configuration
//! (an emergency rotation) stops verifying what it signed.
//!
//! A MAC is `key id (4 bytes) || HMAC-SHA256(record key, message)[..16]`.
//! The key id is the public 4-byte id of the password's keys (the one
//! sealed credentials carry), so verification picks the right key without
//! trying each. What the message holds (and what it binds the record to)
//! is the caller's choice; `tessera-store` binds it to the session's
//! storage key and subject tag.

use std::fmt;

use ring::hmac;
use subtle::ConstantTimeEq as _;

use crate::CryptoError;

/// Bytes of the HMAC kept in a MAC.
const TAG_LEN: usize = 16;
/// Bytes of the key id in front of it.
const KEY_ID_LEN: usize = 4;
/// The length of every MAC this build makes.
pub const RECORD_MAC_LEN: usize = KEY_ID_LEN + TAG_LEN;

/// The keys that sign and verify stored records: the current one signs,
/// the current and every previous one verify.
///
/// Built by [`MasterKeys::record_keys`](crate::MasterKeys::record_keys).
/// Its `Debug` shows the key ids (public) and nothing of the keys.
#[derive(Clone)]
pub struct RecordKeys {
    current: (u32, hmac::Key),
    previous: Vec<(u32, hmac::Key)>,
}

impl RecordKeys {
    pub(crate) fn new(current: (u32, hmac::Key), previous: Vec<(u32, hmac::Key)>) -> Self {
        Self { current, previous }
    }

    /// The MAC of `message` under the current key.
    pub fn sign(&self, message: &[u8]) -> [u8; RECORD_MAC_LEN] {
        let (id, key) = &self.current;
        let tag = hmac::sign(key, message);
        let mut mac = [0u8; RECORD_MAC_LEN];
        mac[..KEY_ID_LEN].copy_from_slice(&id.to_be_bytes());
        mac[KEY_ID_LEN..].copy_from_slice(&tag.as_ref()[..TAG_LEN]);
        mac
    }

    /// Checks `mac` against `message`, in constant time, under the key its
    /// id names.
    ///
    /// # Errors
    ///
    /// [`CryptoError::BadRecordMac`] when the MAC has the wrong length,
    /// names a key no configured password derives, or does not match.
    pub fn verify(&self, message: &[u8], mac: &[u8]) -> Result<(), CryptoError> {
        let bad = |reason| CryptoError::BadRecordMac { reason };
        if mac.len() != RECORD_MAC_LEN {
            return Err(bad("it is not 20 bytes long"));
        }
        let (id_bytes, tag) = mac.split_at(KEY_ID_LEN);
        let id = u32::from_be_bytes(id_bytes.try_into().map_err(|_| bad("no key id"))?);
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|(k, _)| *k == id)
            .map(|(_, key)| key)
            .ok_or_else(|| bad("its key id names no configured password"))?;
        let expected = hmac::sign(key, message);
        if bool::from(expected.as_ref()[..TAG_LEN].ct_eq(tag)) {
            Ok(())
        } else {
            Err(bad("it does not match the record"))
        }
    }
}

impl fmt::Debug for RecordKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordKeys")
            .field("current_key_id", &format_args!("{:08x}", self.current.0))
            .field("previous", &self.previous.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::SeededRandom;
    use crate::{MasterKeys, RootKey};

    fn root(seed: &[u8]) -> RootKey {
        RootKey::generate(&SeededRandom::new(seed)).unwrap()
    }

    #[test]
    fn current_signs_previous_verify_removed_keys_do_not() {
        let (old, new) = (root(b"old"), root(b"new"));
        let before = MasterKeys::from_root_keys(&old, &[]).record_keys();
        let during = MasterKeys::from_root_keys(&new, std::slice::from_ref(&old)).record_keys();
        let after = MasterKeys::from_root_keys(&new, &[]).record_keys();

        let mac = before.sign(b"record");
        assert!(during.verify(b"record", &mac).is_ok());
        assert!(
            after.verify(b"record", &mac).is_err(),
            "an emergency rotation ends it"
        );
        let fresh = during.sign(b"record");
        assert!(after.verify(b"record", &fresh).is_ok());
        assert!(before.verify(b"record", &fresh).is_err());
    }

    #[test]
    fn any_change_to_message_or_mac_is_refused() {
        let keys = MasterKeys::from_root_keys(&root(b"k"), &[]).record_keys();
        let mac = keys.sign(b"record");
        assert!(keys.verify(b"recorD", &mac).is_err());
        for i in 0..mac.len() {
            let mut bent = mac;
            bent[i] ^= 1;
            assert!(keys.verify(b"record", &bent).is_err(), "byte {i}");
        }
        assert!(keys.verify(b"record", &mac[..19]).is_err());
        assert!(keys.verify(b"record", &[]).is_err());
        assert!(!format!("{keys:?}").contains("Key {"));
    }
}
