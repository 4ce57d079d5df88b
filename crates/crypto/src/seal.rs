//! Sealing login credentials at rest with AES-256-GCM, bound to their session.
//!
//! Blob layout (all sizes in bytes):
//!
//! ```text
//! version (1) = 0x01 | key id (4) | nonce (12) | ciphertext (n) | GCM tag (16)
//! ```
//!
//! The associated data binds the blob to one session of one subject:
//!
//! ```text
//! "tessera/credentials/v1\0" | storage key (32) | len(subject) as u32 BE (4) | subject
//! ```
//!
//! so a blob copied into another session's record, or under another subject,
//! does not open. Each seal draws a fresh 96-bit nonce from the injected
//! generator: NIST SP 800-38D bounds random-nonce use at 2^32 seals per key,
//! far more credential writes than a session store makes in one password's
//! lifetime; rotating the password starts a new key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CryptoError;
use crate::hex;
use crate::random::SecureRandom;
use crate::storage_key::StorageKey;

const VERSION: u8 = 0x01;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = aead::NONCE_LEN;
const GCM_TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// The shortest valid blob: the header and the tag of an empty plaintext.
const MIN_BLOB_LEN: usize = HEADER_LEN + GCM_TAG_LEN;
const AAD_LABEL: &[u8] = b"tessera/credentials/v1\0";

/// The 4-byte id of a sealing key, derived from its password and written in
/// clear into every blob so `open` knows which key to use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    pub(crate) const fn from_bytes(bytes: [u8; KEY_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The id as a number (big-endian).
    pub(crate) const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", hex::encode(&self.0))
    }
}

/// One AES-256-GCM key and its id.
#[derive(Clone)]
pub(crate) struct SealKey {
    key: aead::LessSafeKey,
    id: KeyId,
}

impl SealKey {
    pub(crate) fn new(key: aead::LessSafeKey, id: KeyId) -> Self {
        Self { key, id }
    }

    pub(crate) fn id(&self) -> KeyId {
        self.id
    }
}

/// What a sealed blob is bound to: the session's storage key and its subject.
/// Opening must present the same binding that sealing used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealBinding<'a> {
    /// The storage key of the session the credentials belong to.
    pub storage_key: StorageKey,
    /// The subject of that session.
    pub subject: &'a str,
}

impl<'a> SealBinding<'a> {
    /// The binding of the session filed under `storage_key`, of `subject`.
    pub const fn new(storage_key: StorageKey, subject: &'a str) -> Self {
        Self {
            storage_key,
            subject,
        }
    }

    fn associated_data(&self) -> Result<Vec<u8>, CryptoError> {
        let subject = self.subject.as_bytes();
        let subject_len = u32::try_from(subject.len()).map_err(|_| CryptoError::SubjectTooLong)?;
        let mut aad = Vec::with_capacity(AAD_LABEL.len() + 32 + 4 + subject.len());
        aad.extend_from_slice(AAD_LABEL);
        aad.extend_from_slice(self.storage_key.as_bytes());
        aad.extend_from_slice(&subject_len.to_be_bytes());
        aad.extend_from_slice(subject);
        Ok(aad)
    }
}

/// Plaintext login credentials. **Secret.**
///
/// `Debug` shows only the length, and the bytes are wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Credentials(Vec<u8>);

impl Credentials {
    /// Wraps plaintext credentials so they are wiped when dropped.
    pub fn new(plaintext: Vec<u8>) -> Self {
        Self(plaintext)
    }

    /// The plaintext bytes.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials(<redacted, {} bytes>)", self.0.len())
    }
}

/// A sealed credentials blob, as stores keep it. Opaque: not secret, but its
/// `Debug` shows only its length since it is of no use to a reader.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedCredentials(Vec<u8>);

impl SealedCredentials {
    /// A blob as read back from a store. Nothing is checked until
    /// [`Sealer::open`].
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The blob's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The blob's bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The blob as unpadded base64url, for stores that keep text (JSON).
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// A blob from its unpadded base64url text form.
    ///
    /// # Errors
    ///
    /// [`CryptoError::SealedDataMalformed`] if `text` is not canonical
    /// unpadded base64url.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        URL_SAFE_NO_PAD
            .decode(text)
            .map(Self)
            .map_err(|_| CryptoError::SealedDataMalformed {
                reason: "not unpadded base64url",
            })
    }
}

impl fmt::Debug for SealedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedCredentials(<{} bytes>)", self.0.len())
    }
}

/// The AES-256-GCM keys that seal and open credentials: the current key
/// seals, the current and every previous key open.
///
/// Built by [`MasterKeys::sealer`](crate::MasterKeys::sealer). Its `Debug`
/// shows the key ids only.
#[derive(Clone)]
pub struct Sealer {
    current: SealKey,
    previous: Vec<SealKey>,
}

impl Sealer {
    pub(crate) fn new(current: SealKey, previous: Vec<SealKey>) -> Self {
        Self { current, previous }
    }

    /// Seals `plaintext` under the current key, bound to `binding`, with a
    /// fresh 12-byte nonce from `rng`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Random`] if `rng` fails, [`CryptoError::SubjectTooLong`]
    /// for a subject over 4 GiB, [`CryptoError::CredentialsTooLong`] for a
    /// plaintext beyond AES-GCM's limit (64 GiB).
    pub fn seal(
        &self,
        plaintext: &[u8],
        binding: &SealBinding<'_>,
        rng: &dyn SecureRandom,
    ) -> Result<SealedCredentials, CryptoError> {
        let aad = binding.associated_data()?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce)?;

        // The plaintext is encrypted in place inside the blob buffer. The
        // buffer is allocated at its final size so it never reallocates and
        // leaves no plaintext copy behind.
        let mut blob = Vec::with_capacity(HEADER_LEN + plaintext.len() + GCM_TAG_LEN);
        blob.push(VERSION);
        blob.extend_from_slice(&self.current.id.0);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(plaintext);
        let sealed = self.current.key.seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(&aad[..]),
            &mut blob[HEADER_LEN..],
        );
        if let Ok(tag) = sealed {
            blob.extend_from_slice(tag.as_ref());
            Ok(SealedCredentials(blob))
        } else {
            blob.zeroize();
            Err(CryptoError::CredentialsTooLong)
        }
    }

    /// Opens a blob sealed by [`Sealer::seal`] under the current or a
    /// previous key, checking it was bound to `binding`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::SealedDataMalformed`] for a blob too short to be one or
    /// of an unknown version; [`CryptoError::UnknownKeyId`] if no configured
    /// password derives its key id; [`CryptoError::OpenFailed`] if it does
    /// not authenticate — wrong binding, wrong key or tampering alike.
    pub fn open(
        &self,
        sealed: &SealedCredentials,
        binding: &SealBinding<'_>,
    ) -> Result<Credentials, CryptoError> {
        let blob = sealed.as_bytes();
        if blob.len() < MIN_BLOB_LEN {
            return Err(CryptoError::SealedDataMalformed {
                reason: "shorter than a header and a tag",
            });
        }
        if blob[0] != VERSION {
            return Err(CryptoError::SealedDataMalformed {
                reason: "unknown version",
            });
        }
        let (header, ciphertext) = blob.split_at(HEADER_LEN);
        let (key_id, nonce) = header[1..].split_at(KEY_ID_LEN);
        let key_id = KeyId(key_id.try_into().expect("4 bytes split off the header"));
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("12 bytes left in the header");
        let aad = binding.associated_data()?;

        // Two passwords could derive the same 4-byte id (or one password be
        // listed twice), so every key with the id is tried.
        let mut known_id = false;
        for key in std::iter::once(&self.current).chain(&self.previous) {
            if key.id != key_id {
                continue;
            }
            known_id = true;
            // Wiped on every path: on failure ring leaves the buffer's
            // contents unspecified, which may include decrypted bytes.
            let mut buffer = Zeroizing::new(ciphertext.to_vec());
            let opened = key.key.open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(&aad[..]),
                &mut buffer[..],
            );
            if let Ok(plaintext) = opened {
                let len = plaintext.len();
                let mut plaintext = std::mem::take(&mut *buffer);
                plaintext.truncate(len);
                return Ok(Credentials(plaintext));
            }
        }
        if known_id {
            Err(CryptoError::OpenFailed)
        } else {
            Err(CryptoError::UnknownKeyId)
        }
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("current_key_id", &self.current.id)
            .field(
                "previous_key_ids",
                &self.previous.iter().map(|k| k.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::RandomError;
    use crate::testkit::SeededRandom;

    fn key(byte: u8, id: [u8; 4]) -> SealKey {
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &[byte; 32]).unwrap();
        SealKey::new(aead::LessSafeKey::new(unbound), KeyId(id))
    }

    fn binding(subject: &str) -> SealBinding<'_> {
        SealBinding::new(StorageKey::from_bytes([9; 32]), subject)
    }

    struct Failing;
    impl SecureRandom for Failing {
        fn fill(&self, _dest: &mut [u8]) -> Result<(), RandomError> {
            Err(RandomError::new())
        }
    }

    #[test]
    fn blob_layout_is_as_documented() {
        let keys = Sealer::new(key(1, [0xa1, 0xb2, 0xc3, 0xd4]), vec![]);
        let rng = SeededRandom::new(b"layout");
        let sealed = keys.seal(b"hello", &binding("alice"), &rng).unwrap();
        let blob = sealed.as_bytes();
        assert_eq!(blob.len(), 1 + 4 + 12 + 5 + 16);
        assert_eq!(blob[0], 0x01);
        assert_eq!(&blob[1..5], &[0xa1, 0xb2, 0xc3, 0xd4]);
        let mut nonce = [0u8; 12];
        SeededRandom::new(b"layout").fill(&mut nonce).unwrap();
        assert_eq!(&blob[5..17], &nonce);

        // Decrypting by hand with the documented associated data works.
        let mut aad = b"tessera/credentials/v1\0".to_vec();
        aad.extend_from_slice(&[9; 32]);
        aad.extend_from_slice(&5u32.to_be_bytes());
        aad.extend_from_slice(b"alice");
        let mut body = blob[17..].to_vec();
        let plain = key(1, [0; 4])
            .key
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(&aad[..]),
                &mut body,
            )
            .unwrap();
        assert_eq!(plain, b"hello");
    }

    #[test]
    fn framing_errors_are_typed() {
        let keys = Sealer::new(key(1, [1; 4]), vec![]);
        let rng = SeededRandom::new(b"framing");
        let sealed = keys.seal(b"", &binding("a"), &rng).unwrap();
        assert_eq!(sealed.as_bytes().len(), MIN_BLOB_LEN);
        assert_eq!(
            keys.open(&sealed, &binding("a")).unwrap().expose_secret(),
            b""
        );

        let short = SealedCredentials::from_bytes(sealed.as_bytes()[..MIN_BLOB_LEN - 1].to_vec());
        assert!(matches!(
            keys.open(&short, &binding("a")),
            Err(CryptoError::SealedDataMalformed { .. })
        ));
        let mut bytes = sealed.clone().into_bytes();
        bytes[0] = 0x02;
        assert!(matches!(
            keys.open(&SealedCredentials::from_bytes(bytes), &binding("a")),
            Err(CryptoError::SealedDataMalformed { .. })
        ));
        let mut bytes = sealed.into_bytes();
        bytes[1] ^= 1;
        assert_eq!(
            keys.open(&SealedCredentials::from_bytes(bytes), &binding("a"))
                .unwrap_err(),
            CryptoError::UnknownKeyId
        );
    }

    #[test]
    fn keys_sharing_an_id_are_all_tried() {
        let old = Sealer::new(key(1, [7; 4]), vec![]);
        let both = Sealer::new(key(2, [7; 4]), vec![key(1, [7; 4])]);
        let rng = SeededRandom::new(b"ids");
        let sealed = old.seal(b"pw", &binding("a"), &rng).unwrap();
        assert_eq!(
            both.open(&sealed, &binding("a")).unwrap().expose_secret(),
            b"pw"
        );
        let other = Sealer::new(key(3, [7; 4]), vec![]);
        assert_eq!(
            other.open(&sealed, &binding("a")).unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn a_failing_generator_fails_the_seal() {
        let keys = Sealer::new(key(1, [1; 4]), vec![]);
        assert!(matches!(
            keys.seal(b"x", &binding("a"), &Failing),
            Err(CryptoError::Random(_))
        ));
    }

    #[test]
    fn base64_form_round_trips_and_is_strict() {
        let keys = Sealer::new(key(1, [1; 4]), vec![]);
        let sealed = keys
            .seal(b"secret", &binding("a"), &SeededRandom::new(b"b64"))
            .unwrap();
        let text = sealed.to_base64();
        assert_eq!(SealedCredentials::from_base64(&text), Ok(sealed));
        assert!(SealedCredentials::from_base64(&format!("{text}=")).is_err());
        assert!(SealedCredentials::from_base64("a+b/").is_err());
    }

    #[test]
    fn debug_output_hides_contents() {
        let keys = Sealer::new(key(1, [0xab, 0xcd, 0xef, 0x01]), vec![key(2, [2; 4])]);
        let sealed = keys
            .seal(b"hunter2-password", &binding("a"), &SeededRandom::new(b"d"))
            .unwrap();
        let opened = keys.open(&sealed, &binding("a")).unwrap();
        assert_eq!(format!("{opened:?}"), "Credentials(<redacted, 16 bytes>)");
        assert_eq!(format!("{sealed:?}"), "SealedCredentials(<49 bytes>)");
        assert_eq!(
            format!("{keys:?}"),
            "Sealer { current_key_id: KeyId(abcdef01), previous_key_ids: [KeyId(02020202)], .. }"
        );
    }
}
