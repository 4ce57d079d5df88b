//! What is derived from a subject: the 2-byte routing tag, and the
//! one-way hash that names a subject's index in a store.

use std::fmt;
use std::str::FromStr;

use ring::digest;

use crate::error::CryptoError;
use crate::hex::{self, Case};

const SUBJECT_TAG_LABEL: &[u8] = b"tessera/subject-tag/v1\0";
const SUBJECT_HASH_LABEL: &[u8] = b"tessera/subject-hash/v1\0";

/// The name of a subject's index in a store, so that a key listing (a
/// DynamoDB export, CloudWatch key metrics) does not show who has sessions:
/// `SHA-256("tessera/subject-hash/v1\0" || subject)`.
///
/// One-way but not secret: whoever guesses a subject can compute its hash
/// and find its index. The index's content and the session records still
/// hold the subject.
///
/// ```
/// use tessera_crypto::SubjectHash;
///
/// let hash = SubjectHash::of("alice@example.com");
/// assert_eq!(hash.to_hex().len(), 64);
/// assert_ne!(hash, SubjectHash::of("bob@example.com"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubjectHash([u8; 32]);

impl SubjectHash {
    /// The hash of `subject`.
    pub fn of(subject: &str) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(SUBJECT_HASH_LABEL);
        ctx.update(subject.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }

    /// The hash as 64 lowercase hexadecimal characters.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

/// A 2-byte tag derived from a session's subject, used to route: a Redis
/// Cluster hash tag, a shard directory of the local store.
///
/// It is `SHA-256("tessera/subject-tag/v1\0" || subject)[..2]`. Every session
/// of one subject carries the same tag, and the tag rides in the first two key
/// bytes of each SID, so a lookup by SID finds its slot or shard without first
/// learning the subject.
///
/// A tag is **not secret** and not an identifier: 65,536 values for all
/// subjects means many subjects share a tag, and anyone who can guess a
/// subject can compute its tag.
///
/// ```
/// use tessera_crypto::SubjectTag;
///
/// let tag = SubjectTag::of("alice@example.com");
/// assert_eq!(tag.to_hex().len(), 4);
/// assert_eq!(tag, tag.to_hex().parse().unwrap());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectTag([u8; 2]);

impl SubjectTag {
    /// The tag of `subject`.
    pub fn of(subject: &str) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(SUBJECT_TAG_LABEL);
        ctx.update(subject.as_bytes());
        let digest = ctx.finish();
        let d = digest.as_ref();
        Self([d[0], d[1]])
    }

    /// A tag from its two bytes, e.g. as read back from a store.
    pub const fn from_bytes(bytes: [u8; 2]) -> Self {
        Self(bytes)
    }

    /// The tag's two bytes.
    pub const fn as_bytes(&self) -> &[u8; 2] {
        &self.0
    }

    /// The tag as 4 lowercase hexadecimal characters.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for SubjectTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for SubjectTag {
    type Err = CryptoError;

    /// Parses exactly 4 lowercase hexadecimal characters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::decode::<2>(s, Case::LowerOnly).map(Self).map_err(|e| {
            CryptoError::MalformedSubjectTag {
                reason: e.reason(Case::LowerOnly),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_documented_derivation() {
        let subject = "alice";
        let mut input = b"tessera/subject-tag/v1\0".to_vec();
        input.extend_from_slice(subject.as_bytes());
        let d = digest::digest(&digest::SHA256, &input);
        assert_eq!(SubjectTag::of(subject).as_bytes(), &d.as_ref()[..2]);
    }

    #[test]
    fn hex_round_trip_and_strictness() {
        let tag = SubjectTag::from_bytes([0xab, 0x01]);
        assert_eq!(tag.to_hex(), "ab01");
        assert_eq!(tag.to_string(), "ab01");
        assert_eq!("ab01".parse::<SubjectTag>(), Ok(tag));
        for bad in ["AB01", "ab0", "ab011", "", "zz01", "ab 1"] {
            assert!(
                matches!(
                    bad.parse::<SubjectTag>(),
                    Err(CryptoError::MalformedSubjectTag { .. })
                ),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn same_subject_same_tag() {
        assert_eq!(SubjectTag::of("bob"), SubjectTag::of("bob"));
        assert_ne!(SubjectTag::of("bob"), SubjectTag::of("alice"));
    }
}
