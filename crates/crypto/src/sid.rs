//! Session IDs: minting, strict parsing and constant-time tag verification.
//!
//! A SID is `base64url(key16) "." base64url(HMAC-SHA256(sid_key, key16)[..16])`
//! without padding: 22 + 1 + 22 = [`SID_LEN`] = 45 ASCII characters. The first
//! two bytes of `key16` are the [`SubjectTag`] of the session's subject; the
//! other 14 bytes (112 bits) come from the injected random generator.
//!
//! Verification checks the shape first (exact length, alphabet, separator,
//! canonical encoding) without allocating, then the tag in constant time, and
//! only then derives the [`StorageKey`] a store may be asked about.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CryptoError;
use crate::random::SecureRandom;
use crate::storage_key::StorageKey;
use crate::subject_tag::SubjectTag;

/// The length in characters of a SID: 22 (key) + 1 (`.`) + 22 (tag).
pub const SID_LEN: usize = ENCODED_LEN + 1 + ENCODED_LEN;

/// Bytes of a SID's key part.
const KEY_LEN: usize = 16;
/// Bytes of the HMAC-SHA256 output kept as the SID's tag.
const TAG_LEN: usize = 16;
/// Unpadded base64url characters for 16 bytes: ceil(16 * 8 / 6).
const ENCODED_LEN: usize = 22;
/// Of the last character of a 16-byte encoding, only the top 2 of its 6 bits
/// carry data; a canonical encoding has the low 4 bits zero.
const LAST_CHAR_UNUSED_BITS: u8 = 0b1111;

/// Whether legacy SIDs (the `acceptLegacySIDs` option) are looked up.
///
/// A legacy SID is an identifier issued by a system Tessera replaces (see
/// [`is_legacy_sid`] for the accepted shape). It carries no proof of origin:
/// while legacy SIDs are accepted, a forged one is only rejected by the
/// store not finding a session imported under it, at the cost of one store
/// lookup. A Tessera SID with its `.tag` cut off is *not* a way in: legacy
/// SIDs map to storage keys of their own ([`StorageKey::from_legacy_sid`]),
/// which only an import creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegacySids {
    /// Legacy SIDs fail with [`CryptoError::LegacySidRejected`].
    #[default]
    Reject,
    /// Legacy SIDs of the accepted shape resolve to their legacy storage key.
    Accept,
}

/// The shortest legacy SID accepted: the tokenizer validates only tokens of
/// at least 20 characters.
pub const LEGACY_SID_MIN_LEN: usize = 20;

/// The longest legacy SID accepted (the tokenizer's input rule allows 100;
/// the margin covers other producers without letting a header grow unbounded).
pub const LEGACY_SID_MAX_LEN: usize = 128;

/// Whether `presented` has the shape of a legacy SID: [`LEGACY_SID_MIN_LEN`]
/// to [`LEGACY_SID_MAX_LEN`] characters of `A-Z a-z 0-9 - _ .`, and not the
/// shape of a Tessera SID ([`SID_LEN`] characters with a `.` at position 22).
///
/// This covers the tokenizer's tokens (`uuid4().hex`, 32 lowercase hex
/// characters, and anything its input rule lets through at 20 characters or
/// more) and the reference session store's pre-HMAC SIDs (plain base64url,
/// e.g. 43 characters, which may begin with `-` or `_`: that is why the first
/// and last characters are not restricted further). Checked byte by byte
/// without allocating.
pub fn is_legacy_sid(presented: &str) -> bool {
    let bytes = presented.as_bytes();
    (LEGACY_SID_MIN_LEN..=LEGACY_SID_MAX_LEN).contains(&bytes.len())
        && !has_sid_shape(bytes)
        && bytes
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Whether `bytes` is laid out like a Tessera SID (length and separator);
/// such a string is verified as one and never treated as legacy.
fn has_sid_shape(bytes: &[u8]) -> bool {
    bytes.len() == SID_LEN && bytes[ENCODED_LEN] == b'.'
}

/// What a presented SID resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedSid {
    /// A Tessera SID whose tag verified: the session's reference.
    Tessera(SessionRef),
    /// A legacy SID (accepted by the option): the storage key derived from
    /// it, to be looked up among imported sessions. Not secret, like every
    /// storage key.
    Legacy(StorageKey),
}

/// A session ID as handed to the browser. **Secret**: whoever presents it is
/// the session.
///
/// It has no `Display` and its `Debug` prints `Sid(<redacted>)`, so it cannot
/// slip into a log by accident; [`Sid::expose_secret`] is the one way to read
/// it. The string is wiped from memory when the value is dropped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Sid(String);

impl Sid {
    /// The SID's text, to send to the browser and nowhere else.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sid(<redacted>)")
    }
}

/// What a store sees of a session's identity: its subject tag and its
/// storage key. Not secret, and it cannot be turned back into a SID.
///
/// Its text form `"<tag hex>-<storage key hex>"` (4 + 1 + 64 = 69 lowercase
/// characters, via [`Display`](fmt::Display) and [`FromStr`]) is the opaque
/// session id that administrative listings show and that an administrative
/// delete accepts.
///
/// For a session reached through a legacy SID, the tag is simply the first
/// two key bytes of that SID and need not be the subject's tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionRef {
    tag: SubjectTag,
    storage_key: StorageKey,
}

impl SessionRef {
    /// A reference from its parts, e.g. as read back from a store.
    pub const fn new(tag: SubjectTag, storage_key: StorageKey) -> Self {
        Self { tag, storage_key }
    }

    /// The reference of the session whose SID has these key bytes.
    fn from_sid_key(key16: &[u8; KEY_LEN]) -> Self {
        Self {
            tag: SubjectTag::from_bytes([key16[0], key16[1]]),
            storage_key: StorageKey::from_sid_key_bytes(key16),
        }
    }

    /// The subject tag, for routing to a shard or cluster slot.
    pub const fn tag(&self) -> SubjectTag {
        self.tag
    }

    /// The key the store files the session under.
    pub const fn storage_key(&self) -> StorageKey {
        self.storage_key
    }
}

impl fmt::Display for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.tag, self.storage_key)
    }
}

impl FromStr for SessionRef {
    type Err = CryptoError;

    /// Parses exactly `<4 lowercase hex>-<64 lowercase hex>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const TAG_HEX: usize = 4;
        const KEY_HEX: usize = 64;
        let malformed = |reason| CryptoError::MalformedSessionRef { reason };
        if s.len() != TAG_HEX + 1 + KEY_HEX {
            return Err(malformed("wrong length"));
        }
        if s.as_bytes()[TAG_HEX] != b'-' {
            return Err(malformed("missing '-' after the 4-character tag"));
        }
        // The byte checked above is ASCII, so both slices fall on char boundaries.
        let tag = s[..TAG_HEX]
            .parse::<SubjectTag>()
            .map_err(|_| malformed("tag is not 4 lowercase hex characters"))?;
        let storage_key = s[TAG_HEX + 1..]
            .parse::<StorageKey>()
            .map_err(|_| malformed("storage key is not 64 lowercase hex characters"))?;
        Ok(Self { tag, storage_key })
    }
}

/// The HMAC keys that sign and verify SIDs: the current key signs, the
/// current and every previous key verify.
///
/// Built by [`MasterKeys::sid_keys`](crate::MasterKeys::sid_keys). Its `Debug`
/// shows how many keys it holds and nothing of them.
#[derive(Clone)]
pub struct SidKeys {
    current: hmac::Key,
    previous: Vec<hmac::Key>,
}

impl SidKeys {
    pub(crate) fn new(current: hmac::Key, previous: Vec<hmac::Key>) -> Self {
        Self { current, previous }
    }

    /// Mints a new SID for a session of a subject whose tag is `tag`, and
    /// the reference stores will file it under.
    ///
    /// Draws 14 bytes from `rng`; fails only if `rng` does.
    pub fn mint(
        &self,
        tag: SubjectTag,
        rng: &dyn SecureRandom,
    ) -> Result<(Sid, SessionRef), CryptoError> {
        let mut key16 = Zeroizing::new([0u8; KEY_LEN]);
        key16[..2].copy_from_slice(tag.as_bytes());
        rng.fill(&mut key16[2..])?;

        let mac = hmac::sign(&self.current, &key16[..]);
        // Exactly SID_LEN bytes are written, so the buffer never reallocates
        // and leaves no unwiped copy behind.
        let mut text = String::with_capacity(SID_LEN);
        URL_SAFE_NO_PAD.encode_string(&key16[..], &mut text);
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(&mac.as_ref()[..TAG_LEN], &mut text);
        debug_assert_eq!(text.len(), SID_LEN);

        Ok((Sid(text), SessionRef::from_sid_key(&key16)))
    }

    /// Verifies a Tessera SID presented by a client and returns the
    /// reference of its session.
    ///
    /// The shape is checked first, without allocating, whatever the input's
    /// size: exactly [`SID_LEN`] characters of the unpadded base64url alphabet
    /// with a `.` at position 22, each half the canonical encoding of 16 bytes.
    /// Then the tag is compared in constant time with the HMAC under the
    /// current key and, failing that, under each previous key. Legacy SIDs
    /// never verify here; see [`SidKeys::resolve`].
    ///
    /// # Errors
    ///
    /// [`CryptoError::MalformedSid`] for a wrong shape,
    /// [`CryptoError::BadSidTag`] if no key produced the tag.
    pub fn verify(&self, presented: &str) -> Result<SessionRef, CryptoError> {
        let bytes = presented.as_bytes();
        if bytes.len() != SID_LEN {
            return Err(CryptoError::MalformedSid {
                reason: "wrong length",
            });
        }
        let (key_part, rest) = bytes.split_at(ENCODED_LEN);
        let (separator, tag_part) = rest.split_at(1);
        if separator != b"." {
            return Err(CryptoError::MalformedSid {
                reason: "no '.' between the key and the tag",
            });
        }
        let key16 = decode_16(key_part)?;
        let tag16 = decode_16(tag_part)?;
        if self.tag_verifies(&key16, &tag16) {
            Ok(SessionRef::from_sid_key(&key16))
        } else {
            Err(CryptoError::BadSidTag)
        }
    }

    /// Resolves any SID a client may present: a Tessera SID is verified as
    /// by [`SidKeys::verify`]; a string of the legacy shape
    /// ([`is_legacy_sid`]) is decided by `legacy` and, when accepted, maps to
    /// its legacy storage key.
    ///
    /// # Errors
    ///
    /// Those of [`SidKeys::verify`] for anything not of the legacy shape, and
    /// [`CryptoError::LegacySidRejected`] for a legacy SID when `legacy` is
    /// [`LegacySids::Reject`].
    pub fn resolve(&self, presented: &str, legacy: LegacySids) -> Result<VerifiedSid, CryptoError> {
        if is_legacy_sid(presented) {
            return match legacy {
                LegacySids::Accept => {
                    Ok(VerifiedSid::Legacy(StorageKey::from_legacy_sid(presented)))
                }
                LegacySids::Reject => Err(CryptoError::LegacySidRejected),
            };
        }
        self.verify(presented).map(VerifiedSid::Tessera)
    }

    /// Whether any key produces `tag16` for `key16`. Each comparison is
    /// constant time; the loop stops at the first key that matches, which
    /// tells a caller holding a valid SID only which key generation signed
    /// it, nothing about any key.
    fn tag_verifies(&self, key16: &[u8; KEY_LEN], tag16: &[u8; TAG_LEN]) -> bool {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|key| {
                let mac = hmac::sign(key, key16);
                bool::from(mac.as_ref()[..TAG_LEN].ct_eq(tag16))
            })
    }
}

impl fmt::Debug for SidKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SidKeys")
            .field("previous_keys", &self.previous.len())
            .finish_non_exhaustive()
    }
}

/// Decodes one 22-character half of a SID, refusing anything but the
/// canonical unpadded base64url encoding of 16 bytes.
fn decode_16(text: &[u8]) -> Result<Zeroizing<[u8; 16]>, CryptoError> {
    debug_assert_eq!(text.len(), ENCODED_LEN);
    let mut last_value = 0;
    for &c in text {
        last_value = base64url_value(c).ok_or(CryptoError::MalformedSid {
            reason: "character outside the base64url alphabet",
        })?;
    }
    // Without this, four different last characters would decode to the same
    // bytes and a one-character change to a SID could still verify.
    if last_value & LAST_CHAR_UNUSED_BITS != 0 {
        return Err(CryptoError::MalformedSid {
            reason: "non-canonical base64url encoding",
        });
    }
    let mut out = Zeroizing::new([0u8; 16]);
    match URL_SAFE_NO_PAD.decode_slice(text, &mut out[..]) {
        Ok(16) => Ok(out),
        _ => Err(CryptoError::MalformedSid {
            reason: "invalid base64url encoding",
        }),
    }
}

/// The 6-bit value of a character of the URL-safe base64 alphabet.
fn base64url_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::SeededRandom;

    fn keys(secret: &[u8]) -> SidKeys {
        SidKeys::new(hmac::Key::new(hmac::HMAC_SHA256, secret), Vec::new())
    }

    #[test]
    fn sid_length_is_45() {
        assert_eq!(SID_LEN, 45);
        let (sid, _) = keys(b"k")
            .mint(SubjectTag::of("a"), &SeededRandom::new(b"len"))
            .unwrap();
        assert_eq!(sid.expose_secret().len(), 45);
        assert_eq!(sid.expose_secret().as_bytes()[22], b'.');
    }

    #[test]
    fn minted_sid_matches_the_documented_construction() {
        let rng = SeededRandom::new(b"construction");
        let tag = SubjectTag::of("alice");
        let (sid, session) = keys(b"key").mint(tag, &rng).unwrap();

        let mut key16 = [0u8; 16];
        key16[..2].copy_from_slice(tag.as_bytes());
        SeededRandom::new(b"construction")
            .fill(&mut key16[2..])
            .unwrap();
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"key"), &key16);
        let expected = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(key16),
            URL_SAFE_NO_PAD.encode(&mac.as_ref()[..16])
        );
        assert_eq!(sid.expose_secret(), expected);
        assert_eq!(session.tag(), tag);
        assert_eq!(
            session.storage_key(),
            StorageKey::from_sid_key_bytes(&key16)
        );
    }

    #[test]
    fn every_last_character_variant_but_the_canonical_one_is_refused() {
        let k = keys(b"k");
        let (sid, session) = k
            .mint(SubjectTag::of("a"), &SeededRandom::new(b"canon"))
            .unwrap();
        let text = sid.expose_secret();
        for position in [ENCODED_LEN - 1, SID_LEN - 1] {
            let original = text.as_bytes()[position];
            let data_bits = base64url_value(original).unwrap() & !LAST_CHAR_UNUSED_BITS;
            for low in 1..=LAST_CHAR_UNUSED_BITS {
                let value = data_bits | low;
                let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                    [usize::from(value)];
                let mut changed = text.as_bytes().to_vec();
                changed[position] = c;
                let changed = String::from_utf8(changed).unwrap();
                assert_eq!(
                    k.verify(&changed),
                    Err(CryptoError::MalformedSid {
                        reason: "non-canonical base64url encoding"
                    })
                );
            }
        }
        assert_eq!(k.verify(text), Ok(session));
    }

    #[test]
    fn shape_errors_name_the_problem() {
        let k = keys(b"k");
        let (sid, _) = k
            .mint(SubjectTag::of("a"), &SeededRandom::new(b"shape"))
            .unwrap();
        let text = sid.expose_secret();
        let reason = |s: &str| match k.verify(s) {
            Err(CryptoError::MalformedSid { reason }) => reason,
            other => panic!("expected a shape error, got {other:?}"),
        };
        assert_eq!(reason(""), "wrong length");
        assert_eq!(reason(&text[..44]), "wrong length");
        assert_eq!(reason(&format!("{text}=")), "wrong length");
        assert_eq!(
            reason(&text.replace('.', "=")),
            "no '.' between the key and the tag"
        );
        let plus = format!("+{}", &text[1..]);
        assert_eq!(reason(&plus), "character outside the base64url alphabet");
        let space = format!("{} ", &text[..44]);
        assert_eq!(reason(&space), "character outside the base64url alphabet");
        // 45 bytes with the separator in place, but not 44 characters of
        // the alphabet.
        assert_eq!(
            reason("ééééééééééé.ééééééééééé"),
            "character outside the base64url alphabet"
        );
    }

    #[test]
    fn legacy_sids_follow_the_option() {
        let k = keys(b"k");
        let uuid_hex = "0f8fad5bd9cb469fa16570867728950e";
        let reference = "-YqFXK7Q4HFnJv0hiT3FgwoVkvSXgalUuMQDfEsh1lw";
        for legacy in [uuid_hex, reference] {
            assert!(is_legacy_sid(legacy));
            assert_eq!(
                k.resolve(legacy, LegacySids::Reject),
                Err(CryptoError::LegacySidRejected)
            );
            assert_eq!(
                k.resolve(legacy, LegacySids::Accept),
                Ok(VerifiedSid::Legacy(StorageKey::from_legacy_sid(legacy)))
            );
            // A legacy SID is never a Tessera one.
            assert!(k.verify(legacy).is_err());
        }
        assert_eq!(LegacySids::default(), LegacySids::Reject);
    }

    #[test]
    fn a_truncated_sid_reaches_no_session() {
        let k = keys(b"k");
        let (sid, session) = k
            .mint(SubjectTag::of("a"), &SeededRandom::new(b"legacy"))
            .unwrap();
        let key_part = &sid.expose_secret()[..ENCODED_LEN];
        // The key part alone may have the legacy shape, but it maps to a
        // legacy storage key, never to the session's.
        if let Ok(VerifiedSid::Legacy(key)) = k.resolve(key_part, LegacySids::Accept) {
            assert_ne!(key, session.storage_key());
        }
        assert_eq!(
            k.resolve(sid.expose_secret(), LegacySids::Accept),
            Ok(VerifiedSid::Tessera(session))
        );
    }

    #[test]
    fn legacy_shape_bounds() {
        let ok = |n: usize| is_legacy_sid(&"a".repeat(n));
        assert!(!ok(LEGACY_SID_MIN_LEN - 1));
        assert!(ok(LEGACY_SID_MIN_LEN));
        assert!(ok(LEGACY_SID_MAX_LEN));
        assert!(!ok(LEGACY_SID_MAX_LEN + 1));
        assert!(!is_legacy_sid("abcdefghijklmnopqrstuvwxyz/"));
        assert!(!is_legacy_sid("abcdefghij klmnopqrstuvwxyz"));
        assert!(!is_legacy_sid("abcdefghijklmnopqrstuvwxyzé"));
        // The Tessera layout is never legacy, even with a bad tag.
        let tessera_like = format!("{}.{}", "A".repeat(22), "A".repeat(22));
        assert!(!is_legacy_sid(&tessera_like));
        assert_eq!(
            keys(b"k").resolve(&tessera_like, LegacySids::Accept),
            Err(CryptoError::BadSidTag)
        );
    }

    #[test]
    fn previous_keys_verify_and_unknown_keys_do_not() {
        let old = keys(b"old");
        let rotated = SidKeys::new(
            hmac::Key::new(hmac::HMAC_SHA256, b"new"),
            vec![hmac::Key::new(hmac::HMAC_SHA256, b"old")],
        );
        let (sid, session) = old
            .mint(SubjectTag::of("a"), &SeededRandom::new(b"rot"))
            .unwrap();
        assert_eq!(rotated.verify(sid.expose_secret()), Ok(session));
        assert_eq!(
            keys(b"new").verify(sid.expose_secret()),
            Err(CryptoError::BadSidTag)
        );
    }

    #[test]
    fn session_ref_text_form() {
        let session = SessionRef::new(
            SubjectTag::from_bytes([0x12, 0xab]),
            StorageKey::from_bytes([0xcd; 32]),
        );
        let text = session.to_string();
        assert_eq!(text.len(), 69);
        assert_eq!(text, format!("12ab-{}", "cd".repeat(32)));
        assert_eq!(text.parse::<SessionRef>(), Ok(session));

        let upper = text.to_ascii_uppercase();
        let no_dash = text.replace('-', "_");
        let short = &text[..68];
        let shifted = format!("12a-b{}", &text[5..]);
        for bad in [
            upper.as_str(),
            no_dash.as_str(),
            short,
            shifted.as_str(),
            "",
        ] {
            assert!(
                matches!(
                    bad.parse::<SessionRef>(),
                    Err(CryptoError::MalformedSessionRef { .. })
                ),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn sid_debug_is_redacted() {
        let (sid, _) = keys(b"k")
            .mint(SubjectTag::of("a"), &SeededRandom::new(b"dbg"))
            .unwrap();
        let shown = format!("{sid:?}");
        assert_eq!(shown, "Sid(<redacted>)");
        assert!(!shown.contains(&sid.expose_secret()[..8]));
    }
}
