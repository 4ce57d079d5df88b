//! From the operator's `safe_password` to the keys that sign SIDs and seal
//! credentials.
//!
//! Each password goes through **one** PBKDF2-HMAC-SHA256 derivation of
//! [`PBKDF2_ITERATIONS`] rounds to a 32-byte root, and HKDF-SHA256 splits the
//! root into independent sub-keys: the SID HMAC key, the AES-256-GCM sealing
//! key and the sealing key's 4-byte id. The derivation is deliberately slow
//! (a fraction of a second per password) and is done once at start-up, never
//! per request.

use std::fmt;
use std::num::NonZeroU32;

use ring::{aead, hkdf, hmac, pbkdf2};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::api_token::random_alphanumeric;
use crate::error::CryptoError;
use crate::random::{RandomError, SecureRandom};
use crate::record_mac::RecordKeys;
use crate::seal::{KeyId, SealKey, Sealer};
use crate::sid::SidKeys;

/// PBKDF2-HMAC-SHA256 rounds per password: the OWASP Password Storage Cheat
/// Sheet's 2023 figure for PBKDF2-HMAC-SHA256.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// The PBKDF2 salt, the same for every deployment.
///
/// A salt normally makes each stored hash unique. Here nothing is stored: every
/// server of a deployment must derive the same keys from the same password
/// with no shared state, so the salt has to be a constant. The price is that
/// a precomputed table for this salt would serve against every deployment;
/// the password rule ([`SafePassword::new`]) and the iteration count are what
/// keep such a table out of reach.
pub const PBKDF2_SALT: &[u8] = b"tessera/pbkdf2/v1";

/// The PBKDF2 salt prefix when a deployment gives its own salt
/// ([`DeploymentSalt`]): the salt is this label, a zero byte, then the
/// deployment's salt. Without one, the salt is [`PBKDF2_SALT`] alone, so
/// deployments that never set a salt keep their keys.
const PBKDF2_DEPLOYMENT_SALT_LABEL: &[u8] = b"tessera/pbkdf2/v1/deployment";

/// The minimum length of a [`DeploymentSalt`], in characters.
pub const MIN_SALT_CHARS: usize = 16;

/// The maximum length of a [`DeploymentSalt`], in bytes.
pub const MAX_SALT_BYTES: usize = 1024;

/// The minimum length of a safe password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 16;

/// The minimum number of distinct characters in a safe password.
pub const MIN_DISTINCT_CHARS: usize = 8;

/// Characters in a password made by [`SafePassword::generate`]
/// (about 256 bits).
pub const GENERATED_PASSWORD_CHARS: usize = 43;

/// HKDF-SHA256 extract salt. The PBKDF2 output is already uniform; a fixed,
/// versioned salt just separates this use from any other.
const HKDF_SALT: &[u8] = b"tessera/hkdf/v1";
/// HKDF info label of the SID HMAC-SHA256 key (32 bytes).
const SID_KEY_INFO: &[u8] = b"tessera/sid-hmac-key/v1";
/// HKDF info label of the AES-256-GCM sealing key (32 bytes).
const SEAL_KEY_INFO: &[u8] = b"tessera/seal-aes-256-gcm-key/v1";
/// HKDF info label of the sealing key's id (4 bytes).
const SEAL_KEY_ID_INFO: &[u8] = b"tessera/seal-key-id/v1";
/// HKDF info for the HMAC key that signs stored records.
const RECORD_KEY_INFO: &[u8] = b"tessera/record-hmac-key/v1";

/// The tokenizer's documentation shows this value as its `safe_password`
/// example, so deployments copy it.
const DOCUMENTED_EXAMPLE: &str = "abc123456abcdef";

/// Other values that show up as defaults and placeholders. Compared ignoring
/// ASCII case; the ones shorter than [`MIN_PASSWORD_CHARS`] are listed so the
/// error says why they are refused, not just that they are short.
const DENYLIST: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "changeit",
    "password",
    "passw0rd",
    "secret",
    "default",
    "example",
    "tessera",
    "safe_password",
    "safe-password",
    "safepassword",
    "changemechangeme",
    "changeme12345678",
    "passwordpassword",
    "password12345678",
    "secretsecretsecret",
    "my-safe-password",
    "mysafepassword123",
    "your-safe-password",
    "yoursafepassword",
    "your_safe_password",
    "replace-with-a-long-random-string",
    "0123456789abcdef",
    "1234567890abcdef",
    "abcdef0123456789",
    "abcdefghijklmnop",
    "qwertyuiopasdfghjkl",
    "correcthorsebatterystaple",
    "correct horse battery staple",
    // The tokenizer's own fallback when `safe_password` is missing.
    "default_password",
];

/// The operator's `safe_password`, checked against the password rule.
/// **Secret.**
///
/// The rule: at least [`MIN_PASSWORD_CHARS`] characters, at least
/// [`MIN_DISTINCT_CHARS`] distinct characters, and not a known example or
/// default value (compared ignoring ASCII case). A missing, default or weak
/// password is a start-up error, never replaced by a silent default.
///
/// `Debug` is redacted and the string is wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SafePassword(String);

impl SafePassword {
    /// Checks `password` against the password rule.
    ///
    /// # Errors
    ///
    /// [`CryptoError::WeakPassword`] with a reason naming the part of the
    /// rule it breaks. The reason never contains the password.
    pub fn new(password: impl Into<String>) -> Result<Self, CryptoError> {
        // Wrapped first so that a refused password is wiped too.
        let candidate = Self(password.into());
        check_password_rule(&candidate.0)?;
        Ok(candidate)
    }

    /// A fresh password of [`GENERATED_PASSWORD_CHARS`] characters from
    /// `A-Za-z0-9`, for a first start with no configuration.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, CryptoError> {
        // 43 uniform characters from 62 have 8 distinct ones except with
        // negligible probability; drawing again keeps the rule true without
        // exception, and a generator that fails it every time is broken.
        for _ in 0..16 {
            let text = random_alphanumeric(rng, GENERATED_PASSWORD_CHARS)?;
            if let Ok(password) = Self::new(text) {
                return Ok(password);
            }
        }
        Err(RandomError::new().into())
    }

    /// The password's text, e.g. to write it once to a file readable only
    /// by the server.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SafePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SafePassword(<redacted>)")
    }
}

fn check_password_rule(password: &str) -> Result<(), CryptoError> {
    let weak = |reason| Err(CryptoError::WeakPassword { reason });
    if crate::is_placeholder(password) {
        return weak("it is a placeholder (`<…>`) from an example, not a password");
    }
    if password.eq_ignore_ascii_case(DOCUMENTED_EXAMPLE) {
        return weak("it is the example value from the tokenizer documentation");
    }
    if DENYLIST.iter().any(|d| password.eq_ignore_ascii_case(d)) {
        return weak("it is a well-known default or example value");
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return weak("it is shorter than 16 characters");
    }
    if !has_distinct_chars(password, MIN_DISTINCT_CHARS) {
        return weak("it has fewer than 8 distinct characters");
    }
    Ok(())
}

/// Whether `text` has at least `wanted` distinct characters. Bounded work
/// (at most `wanted` comparisons per character) whatever the text's length.
fn has_distinct_chars(text: &str, wanted: usize) -> bool {
    let mut seen = Zeroizing::new(Vec::with_capacity(wanted));
    for c in text.chars() {
        if seen.len() == wanted {
            break;
        }
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    seen.len() >= wanted
}

/// A deployment's own PBKDF2 salt, shared by every server of the
/// deployment (`tokenizer.safe_password_salt`). Not secret.
///
/// With the fixed [`PBKDF2_SALT`] alone, one table of password guesses
/// serves against every deployment; a salt of the deployment's own means a
/// guess must be computed for this deployment in particular. It does not
/// make a weak password strong: the password rule still applies.
#[derive(Clone, PartialEq, Eq)]
pub struct DeploymentSalt(Vec<u8>);

impl DeploymentSalt {
    /// Checks `salt`: at least [`MIN_SALT_CHARS`] characters and at most
    /// [`MAX_SALT_BYTES`] bytes.
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidSalt`] naming the bound it breaks.
    pub fn new(salt: &str) -> Result<Self, CryptoError> {
        if salt.chars().count() < MIN_SALT_CHARS {
            return Err(CryptoError::InvalidSalt {
                reason: "it is shorter than 16 characters",
            });
        }
        if salt.len() > MAX_SALT_BYTES {
            return Err(CryptoError::InvalidSalt {
                reason: "it is longer than 1024 bytes",
            });
        }
        Ok(Self(salt.as_bytes().to_vec()))
    }

    /// The PBKDF2 salt of a password derived under `salt` (or under none).
    fn pbkdf2_salt(salt: Option<&Self>) -> Vec<u8> {
        match salt {
            None => PBKDF2_SALT.to_vec(),
            Some(Self(bytes)) => [PBKDF2_DEPLOYMENT_SALT_LABEL, b"\0", bytes].concat(),
        }
    }
}

impl fmt::Debug for DeploymentSalt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeploymentSalt({} bytes)", self.0.len())
    }
}

/// The salts that [`MasterKeys::derive_salted`] derives under: one for the
/// current password, one for the previous ones (they may differ while a
/// deployment moves to a salt of its own, or to a new one). `None` is the
/// fixed [`PBKDF2_SALT`] alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Salts<'a> {
    /// The salt of the current password.
    pub current: Option<&'a DeploymentSalt>,
    /// The salt of every previous password.
    pub previous: Option<&'a DeploymentSalt>,
}

/// The keys derived from one password.
struct PasswordKeys {
    sid: hmac::Key,
    seal: SealKey,
    record: hmac::Key,
}

/// A deployment's 32-byte root key, given as is instead of a safe
/// password: [`MasterKeys::from_root_keys`] splits it into the same
/// sub-keys a password's PBKDF2 output is split into, without the PBKDF2
/// rounds, so start-up is instant.
///
/// Make one with `openssl rand -hex 32` (or [`RootKey::generate`]) and keep
/// it as a secret. Wiped on drop; its `Debug` shows nothing of it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RootKey([u8; ROOT_KEY_BYTES]);

/// The length of a [`RootKey`], in bytes.
pub const ROOT_KEY_BYTES: usize = 32;

impl RootKey {
    /// A root key from its 32 bytes, which must come from a secure random
    /// source.
    pub fn from_bytes(bytes: [u8; ROOT_KEY_BYTES]) -> Self {
        Self(bytes)
    }

    /// A root key from 64 hex digits (what `openssl rand -hex 32` prints).
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let refuse = |reason| CryptoError::InvalidRootKey { reason };
        let bytes = Zeroizing::new(
            crate::hex::decode::<ROOT_KEY_BYTES>(text.trim(), crate::hex::Case::Either)
                .map_err(|_| refuse("it is not 64 hex digits"))?,
        );
        if bytes.iter().all(|&b| b == bytes[0]) {
            return Err(refuse("all its bytes are the same"));
        }
        Ok(Self(*bytes))
    }

    /// A fresh root key from `rng`.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, CryptoError> {
        let mut bytes = [0u8; ROOT_KEY_BYTES];
        rng.fill(&mut bytes)?;
        Ok(Self(bytes))
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(redacted)")
    }
}

impl PasswordKeys {
    fn derive(password: &SafePassword, salt: Option<&DeploymentSalt>) -> Self {
        const ITERATIONS: NonZeroU32 = match NonZeroU32::new(PBKDF2_ITERATIONS) {
            Some(n) => n,
            None => panic!("PBKDF2_ITERATIONS is zero"),
        };
        let mut root = Zeroizing::new([0u8; 32]);
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            ITERATIONS,
            &DeploymentSalt::pbkdf2_salt(salt),
            password.0.as_bytes(),
            &mut root[..],
        );
        Self::split(&root[..])
    }

    /// The sub-keys of a 32-byte root (a PBKDF2 output or a [`RootKey`]).
    fn split(root: &[u8]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(root);

        // `expand` fails only for outputs over 255 hash lengths; these are 32
        // and 4 bytes.
        let sid = hmac::Key::from(
            prk.expand(&[SID_KEY_INFO], hmac::HMAC_SHA256)
                .expect("HKDF output of 32 bytes"),
        );
        let seal_key = aead::LessSafeKey::new(aead::UnboundKey::from(
            prk.expand(&[SEAL_KEY_INFO], &aead::AES_256_GCM)
                .expect("HKDF output of 32 bytes"),
        ));
        let record = hmac::Key::from(
            prk.expand(&[RECORD_KEY_INFO], hmac::HMAC_SHA256)
                .expect("HKDF output of 32 bytes"),
        );
        let mut key_id = [0u8; 4];
        prk.expand(&[SEAL_KEY_ID_INFO], OutputLen(key_id.len()))
            .and_then(|okm| okm.fill(&mut key_id))
            .expect("HKDF output of 4 bytes");

        Self {
            sid,
            seal: SealKey::new(seal_key, KeyId::from_bytes(key_id)),
            record,
        }
    }
}

/// An HKDF output length for raw bytes.
struct OutputLen(usize);

impl hkdf::KeyType for OutputLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// All keys derived from the current `safe_password` and the
/// `previous_safe_passwords`.
///
/// Keys from the current password sign SIDs and seal credentials; keys from
/// every password, current and previous, verify SIDs and open credentials.
/// Its `Debug` shows the sealing key ids (which every sealed blob carries in
/// clear) and nothing secret.
pub struct MasterKeys {
    current: PasswordKeys,
    previous: Vec<PasswordKeys>,
}

impl MasterKeys {
    /// Derives the keys of `current` and of each of `previous`, in order.
    ///
    /// Slow on purpose: one PBKDF2 of [`PBKDF2_ITERATIONS`] rounds per
    /// password (about 0.2 s each in an optimised build). Call it once at
    /// start-up and share the result; in an async program, call it before
    /// the runtime starts or on a blocking thread
    /// (`tokio::task::spawn_blocking`), not on a runtime worker.
    ///
    /// A debug build of a crate that depends on this one compiles ring
    /// unoptimised, and then each derivation takes about 2 s. Add this to
    /// that crate's `Cargo.toml` to optimise ring alone:
    ///
    /// ```toml
    /// [profile.dev.package.ring]
    /// opt-level = 3
    /// ```
    ///
    /// Or configure root keys instead of passwords
    /// ([`MasterKeys::from_root_keys`]), which need no PBKDF2 at all.
    pub fn derive(current: &SafePassword, previous: &[SafePassword]) -> Self {
        Self::derive_salted(current, previous, Salts::default())
    }

    /// [`MasterKeys::derive`] with a deployment's own salt for the current
    /// password and one (possibly the same, possibly none) for the previous
    /// ones. Changing a password's salt changes its keys, as changing the
    /// password does.
    pub fn derive_salted(
        current: &SafePassword,
        previous: &[SafePassword],
        salts: Salts<'_>,
    ) -> Self {
        Self {
            current: PasswordKeys::derive(current, salts.current),
            previous: previous
                .iter()
                .map(|p| PasswordKeys::derive(p, salts.previous))
                .collect(),
        }
    }

    /// The keys of a deployment configured with root keys instead of
    /// passwords: `current` signs and seals, every one verifies and opens.
    /// No PBKDF2 runs, so this is instant even in a debug build.
    ///
    /// ```
    /// use tessera_crypto::{MasterKeys, RootKey};
    ///
    /// let current = RootKey::from_hex(
    ///     "8e0c6d7f1b2a3948a5b6c7d8e9f001122334455667788990aabbccddeeff0011",
    /// )?;
    /// let keys = MasterKeys::from_root_keys(&current, &[]);
    /// # let _ = keys;
    /// # Ok::<(), tessera_crypto::CryptoError>(())
    /// ```
    pub fn from_root_keys(current: &RootKey, previous: &[RootKey]) -> Self {
        Self {
            current: PasswordKeys::split(&current.0),
            previous: previous.iter().map(|k| PasswordKeys::split(&k.0)).collect(),
        }
    }

    /// The keys that mint and verify SIDs.
    pub fn sid_keys(&self) -> SidKeys {
        SidKeys::new(
            self.current.sid.clone(),
            self.previous.iter().map(|k| k.sid.clone()).collect(),
        )
    }

    /// The public id of each password's (or root key's) keys, current
    /// first, as a number: the 4-byte id that sealed credentials carry in
    /// clear, derived from the key and revealing nothing of it. A session
    /// records the current one as the key generation that signed its SID.
    pub fn generation_ids(&self) -> Vec<u32> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| k.seal.id().to_u32())
            .collect()
    }

    /// The keys that sign and verify stored records, each named by the
    /// same public id as its password's sealing key.
    pub fn record_keys(&self) -> RecordKeys {
        let pair = |k: &PasswordKeys| (k.seal.id().to_u32(), k.record.clone());
        RecordKeys::new(
            pair(&self.current),
            self.previous.iter().map(pair).collect(),
        )
    }

    /// The keys that seal and open credentials.
    pub fn sealer(&self) -> Sealer {
        Sealer::new(
            self.current.seal.clone(),
            self.previous.iter().map(|k| k.seal.clone()).collect(),
        )
    }
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("current_key_id", &self.current.seal.id())
            .field(
                "previous_key_ids",
                &self
                    .previous
                    .iter()
                    .map(|k| k.seal.id())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::SeededRandom;

    fn reason(password: &str) -> &'static str {
        match SafePassword::new(password) {
            Err(CryptoError::WeakPassword { reason }) => reason,
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(_) => panic!("{password:?} was accepted"),
        }
    }

    #[test]
    fn root_keys_sign_sids_the_keys_of_another_root_refuse() {
        let rng = SeededRandom::new(b"root");
        let a = RootKey::generate(&rng).unwrap();
        let b = RootKey::generate(&rng).unwrap();
        let (sid, _) = MasterKeys::from_root_keys(&a, &[])
            .sid_keys()
            .mint(crate::SubjectTag::of("alice"), &rng)
            .unwrap();
        let verify = |keys: MasterKeys| {
            keys.sid_keys()
                .resolve(sid.expose_secret(), crate::LegacySids::Reject)
                .is_ok()
        };
        assert!(verify(MasterKeys::from_root_keys(&a, &[])));
        assert!(verify(MasterKeys::from_root_keys(
            &b,
            std::slice::from_ref(&a)
        )));
        assert!(!verify(MasterKeys::from_root_keys(&b, &[])));
        assert_eq!(format!("{a:?}"), "RootKey(redacted)");
    }

    #[test]
    fn root_keys_in_hex_are_checked() {
        let good = "8e0c6d7f1b2a3948a5b6c7d8e9f001122334455667788990aabbccddeeff0011";
        RootKey::from_hex(good).unwrap();
        RootKey::from_hex(&format!(" {good}\n")).unwrap();
        for (bad, why) in [
            (&good[..62], "it is not 64 hex digits"),
            (&good.replace('8', "g"), "it is not 64 hex digits"),
            (&"0".repeat(64), "all its bytes are the same"),
        ] {
            assert!(
                matches!(RootKey::from_hex(bad), Err(CryptoError::InvalidRootKey { reason }) if reason == why),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_documented_example_is_refused_as_an_example() {
        for example in ["abc123456abcdef", "ABC123456ABCDEF", "Abc123456AbcDef"] {
            assert_eq!(
                reason(example),
                "it is the example value from the tokenizer documentation"
            );
        }
    }

    #[test]
    fn a_placeholder_pasted_from_the_docs_is_refused() {
        assert_eq!(
            reason("<at least 16 random characters>"),
            "it is a placeholder (`<…>`) from an example, not a password"
        );
    }

    #[test]
    fn defaults_are_refused_as_such() {
        for value in [
            "changeme",
            "CHANGEME",
            "password",
            "secret",
            "correcthorsebatterystaple",
            "0123456789ABCDEF",
        ] {
            assert_eq!(reason(value), "it is a well-known default or example value");
        }
    }

    #[test]
    fn short_and_repetitive_passwords_are_refused() {
        assert_eq!(reason("k7#Qz!v2Lp9@x4"), "it is shorter than 16 characters");
        assert_eq!(reason(""), "it is shorter than 16 characters");
        // 18 bytes, but only 9 characters.
        assert_eq!(reason("ééééééééé"), "it is shorter than 16 characters");
        assert_eq!(
            reason("abababababababababab"),
            "it has fewer than 8 distinct characters"
        );
        assert_eq!(
            reason("abcdefgabcdefgabcdefg"),
            "it has fewer than 8 distinct characters"
        );
    }

    #[test]
    fn a_random_looking_password_passes() {
        SafePassword::new("hT4k-9qZ_mW2xVbR").unwrap();
        SafePassword::new("ünïcödé-pässwörd-ok").unwrap();
        let generated = SafePassword::generate(&SeededRandom::new(b"pw")).unwrap();
        assert_eq!(
            generated.expose_secret().chars().count(),
            GENERATED_PASSWORD_CHARS
        );
    }

    #[test]
    fn error_and_debug_never_show_the_password() {
        let password = "hT4k-9qZ_mW2xVbR";
        let accepted = SafePassword::new(password).unwrap();
        assert_eq!(format!("{accepted:?}"), "SafePassword(<redacted>)");
        let refused = SafePassword::new("aaaaaaaaaaaaaaaaaaaaaaaa").unwrap_err();
        assert!(!format!("{refused:?}{refused}").contains("aaaa"));
    }

    /// The raw sub-keys of `password`, recomputed from the documented
    /// derivation without going through `MasterKeys`.
    fn raw_sub_keys(password: &str) -> ([u8; 32], [u8; 32], [u8; 4]) {
        let mut root = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(600_000).unwrap(),
            b"tessera/pbkdf2/v1",
            password.as_bytes(),
            &mut root,
        );
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tessera/hkdf/v1").extract(&root);
        let expand = |info: &[u8], out: &mut [u8]| {
            prk.expand(&[info], OutputLen(out.len()))
                .unwrap()
                .fill(out)
                .unwrap();
        };
        let (mut sid, mut seal, mut id) = ([0u8; 32], [0u8; 32], [0u8; 4]);
        expand(b"tessera/sid-hmac-key/v1", &mut sid);
        expand(b"tessera/seal-aes-256-gcm-key/v1", &mut seal);
        expand(b"tessera/seal-key-id/v1", &mut id);
        (sid, seal, id)
    }

    #[test]
    fn derivation_follows_the_documented_labels_and_debug_shows_no_key() {
        use crate::seal::SealBinding;
        use crate::storage_key::StorageKey;
        use crate::subject_tag::SubjectTag;
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;

        let text = "hT4k-9qZ_mW2xVbR";
        let password = SafePassword::new(text).unwrap();
        let keys = MasterKeys::derive(&password, &[]);
        let (sid_key, seal_key, key_id) = raw_sub_keys(text);
        let rng = SeededRandom::new(b"derivation");

        // The SID tag is the HMAC under the documented SID key.
        let (sid, session) = keys.sid_keys().mint(SubjectTag::of("a"), &rng).unwrap();
        let (key_part, tag_part) = sid.expose_secret().split_once('.').unwrap();
        let key16 = URL_SAFE_NO_PAD.decode(key_part).unwrap();
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &sid_key), &key16);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(tag_part).unwrap(),
            &mac.as_ref()[..16]
        );
        assert_eq!(keys.sid_keys().verify(sid.expose_secret()), Ok(session));

        // The sealed blob carries the documented key id and opens under the
        // documented sealing key.
        let binding = SealBinding::new(StorageKey::from_bytes([0; 32]), "a");
        let sealed = keys.sealer().seal(b"x", &binding, &rng).unwrap();
        assert_eq!(&sealed.as_bytes()[1..5], &key_id);
        let by_hand = crate::seal::Sealer::new(
            crate::seal::SealKey::new(
                aead::LessSafeKey::new(
                    aead::UnboundKey::new(&aead::AES_256_GCM, &seal_key).unwrap(),
                ),
                crate::seal::KeyId::from_bytes(key_id),
            ),
            Vec::new(),
        );
        assert_eq!(
            by_hand.open(&sealed, &binding).unwrap().expose_secret(),
            b"x"
        );

        let shown = format!(
            "{keys:?} {:?} {:?} {password:?}",
            keys.sid_keys(),
            keys.sealer()
        );
        for secret in [&sid_key[..], &seal_key[..]] {
            assert!(!shown.contains(&crate::hex::encode(secret)));
            assert!(!shown.contains(&crate::hex::encode(&secret[..4])));
            assert!(!shown.contains(&format!("{:?}", &secret[..4])[1..]));
        }
        assert!(!shown.contains(text));
        assert!(!shown.contains(&text[..6]));
    }

    #[test]
    fn a_deployment_salt_changes_the_keys_and_previous_passwords_keep_theirs() {
        use crate::subject_tag::SubjectTag;

        let rng = SeededRandom::new(b"salt");
        let password = SafePassword::new("hT4k-9qZ_mW2xVbR").unwrap();
        let salt = DeploymentSalt::new("our-own-salt-0123456789").unwrap();
        let unsalted = MasterKeys::derive(&password, &[]);
        let salted = MasterKeys::derive_salted(
            &password,
            &[],
            Salts {
                current: Some(&salt),
                previous: None,
            },
        );
        let (sid, _) = unsalted.sid_keys().mint(SubjectTag::of("a"), &rng).unwrap();
        assert!(salted.sid_keys().verify(sid.expose_secret()).is_err());

        // Moving to a salt: the new password is salted, the old one keeps
        // the fixed salt it was used with, so its SIDs still verify.
        let next = SafePassword::new("Zq8-vN3_kP7xLm2W").unwrap();
        let moving = MasterKeys::derive_salted(
            &next,
            std::slice::from_ref(&password),
            Salts {
                current: Some(&salt),
                previous: None,
            },
        );
        assert!(moving.sid_keys().verify(sid.expose_secret()).is_ok());
        let (new_sid, _) = moving.sid_keys().mint(SubjectTag::of("a"), &rng).unwrap();
        assert!(unsalted.sid_keys().verify(new_sid.expose_secret()).is_err());
    }

    #[test]
    fn deployment_salts_have_bounds_and_a_quiet_debug() {
        assert!(matches!(
            DeploymentSalt::new("short"),
            Err(CryptoError::InvalidSalt { .. })
        ));
        assert!(DeploymentSalt::new(&"s".repeat(1025)).is_err());
        let salt = DeploymentSalt::new("our-own-salt-0123456789").unwrap();
        assert_eq!(format!("{salt:?}"), "DeploymentSalt(23 bytes)");
    }

    #[test]
    fn the_tokenizers_fallback_password_is_refused() {
        assert_eq!(
            reason("default_password"),
            "it is a well-known default or example value"
        );
    }

    #[test]
    fn distinct_count_is_bounded_and_exact() {
        assert!(has_distinct_chars("abcdefgh", 8));
        assert!(!has_distinct_chars("abcdefg", 8));
        assert!(has_distinct_chars(&"abcdefgh".repeat(100_000), 8));
    }
}
