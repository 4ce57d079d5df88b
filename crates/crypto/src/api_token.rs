//! Bearer tokens for the web API: generation, hashing and constant-time
//! verification against the hashes in the configuration.
//!
//! The configuration holds only `SHA-256(token)` as 64 hex characters
//! (`apiAccessTokenSHA256`, a secondary hash for roll-over, labelled extras),
//! so reading the configuration does not give anyone a working token.

use std::fmt;
use std::str::FromStr;

use ring::digest;
use subtle::{Choice, ConditionallySelectable as _, ConstantTimeEq as _};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CryptoError;
use crate::hex::{self, Case};
use crate::random::{RandomError, SecureRandom};

/// Characters in a generated API token. 43 characters drawn uniformly from 62
/// give 43 × log2(62) ≈ 256 bits.
pub const API_TOKEN_LEN: usize = 43;

/// The fewest characters an API token may have: the reference requires at
/// least 32 random alphanumeric characters. Generated tokens have
/// [`API_TOKEN_LEN`].
pub const MIN_API_TOKEN_CHARS: usize = 32;

// A generated token must pass the rule it is held to.
const _: () = assert!(API_TOKEN_LEN >= MIN_API_TOKEN_CHARS);

const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Draws `len` characters uniformly from `A-Za-z0-9`.
///
/// Each random byte is cut to 6 bits and kept only if the value is below 62,
/// so every character is equally likely (no modulo bias). About 3% of bytes
/// are discarded; a generator that keeps producing only discarded values is
/// reported as failed rather than looped on forever.
pub(crate) fn random_alphanumeric(
    rng: &dyn SecureRandom,
    len: usize,
) -> Result<String, CryptoError> {
    const BATCH: usize = 64;
    // With a working generator, one batch almost always suffices for the
    // lengths used here; 64 batches in a row falling short would mean the
    // generator is broken.
    const MAX_BATCHES: usize = 64;

    let mut out = String::with_capacity(len);
    let mut batch = Zeroizing::new([0u8; BATCH]);
    for _ in 0..MAX_BATCHES {
        rng.fill(&mut batch[..])?;
        for &byte in batch.iter() {
            if out.len() == len {
                break;
            }
            let value = usize::from(byte & 0x3f);
            if value < ALPHANUMERIC.len() {
                out.push(char::from(ALPHANUMERIC[value]));
            }
        }
        if out.len() == len {
            return Ok(out);
        }
    }
    out.zeroize();
    Err(RandomError::new().into())
}

/// A bearer token for the web API. **Secret.**
///
/// Shown once to the operator when created; the configuration keeps only its
/// [`TokenHash`]. Its `Debug` is redacted and it is wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ApiToken(String);

impl ApiToken {
    /// A fresh token of [`API_TOKEN_LEN`] characters from `A-Za-z0-9`.
    ///
    /// Fails only if `rng` does.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, CryptoError> {
        random_alphanumeric(rng, API_TOKEN_LEN).map(Self)
    }

    /// The token's text, to show to the operator once.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The hash to put in the configuration.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// `SHA-256` of an API token's UTF-8 bytes, as configured.
///
/// Not secret: a hash does not authenticate, only the token does. Its text
/// form is 64 lowercase hex characters; [`FromStr`] also accepts uppercase
/// because operators paste hashes from tools that print either.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &str) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        Self(out)
    }

    /// A hash from its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Why no deployment should accept this hash, if it is the SHA-256 of a
    /// well-known or short token: one of [`WELL_KNOWN_TOKENS`] (the samples
    /// of documentation, `test`, `password`, …; in any letter case for
    /// the all-lowercase ones), up to four digits, or up to three letters.
    /// Anyone could present such a token.
    pub fn weakness(&self) -> Option<&'static str> {
        static DENIED: std::sync::OnceLock<Vec<[u8; 32]>> = std::sync::OnceLock::new();
        let denied = DENIED.get_or_init(|| {
            let mut hashes: Vec<[u8; 32]> = short_tokens()
                .chain(
                    WELL_KNOWN_TOKENS
                        .iter()
                        .flat_map(|t| [(*t).to_owned(), t.to_ascii_uppercase(), capitalized(t)]),
                )
                .map(|t| Self::of(&t).0)
                .collect();
            hashes.sort_unstable();
            hashes.dedup();
            hashes
        });
        denied
            .binary_search(&self.0)
            .is_ok()
            .then_some("a well-known or short token, which anyone could present")
    }
}

/// Tokens no deployment may use: the samples of this project's and the
/// replaced products' documentation and the usual defaults. Their hashes,
/// and those of every token of up to four digits or three letters, are
/// refused in the configuration ([`TokenHash::weakness`]).
pub const WELL_KNOWN_TOKENS: &[&str] = &[
    "test",
    "test1",
    "test2",
    "test3",
    "testing",
    "token",
    "apitoken",
    "api-token",
    "api_token",
    "apikey",
    "api-key",
    "secret",
    "password",
    "passw0rd",
    "changeme",
    "change-me",
    "admin",
    "root",
    "example",
    "sample",
    "default",
    "demo",
    "dev",
    "local",
    "localhost",
    "letmein",
    "qwerty",
    "hello",
    "foobar",
    "abc123",
    "12345",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "00000000",
    "tessera",
    "session",
    "sessions",
    "sessionstore",
    "tokenizer",
    "bearer",
];

/// Every token of one to four digits, and of one to three lowercase letters.
fn short_tokens() -> impl Iterator<Item = String> {
    let digits = (0..=9999u32).flat_map(|n| {
        (1..=4usize)
            .filter(move |&width| n < 10u32.pow(u32::try_from(width).unwrap_or(4)))
            .map(move |width| format!("{n:0width$}"))
    });
    let letters = (1..=3u32).flat_map(|len| {
        (0..26u32.pow(len)).map(move |mut n| {
            let mut word = String::new();
            for _ in 0..len {
                word.push(char::from(b'a' + u8::try_from(n % 26).unwrap_or(0)));
                n /= 26;
            }
            word
        })
    });
    digits.chain(letters)
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

impl FromStr for TokenHash {
    type Err = CryptoError;

    /// Parses exactly 64 hex characters, in either case, and nothing else (no
    /// surrounding whitespace, no `0x` prefix).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if crate::is_placeholder(s) {
            return Err(CryptoError::MalformedTokenHash {
                reason: "it is a placeholder (`<…>`) from an example, not a hash",
            });
        }
        hex::decode::<32>(s, Case::Either)
            .map(Self)
            .map_err(|e| CryptoError::MalformedTokenHash {
                reason: e.reason(Case::Either),
            })
    }
}

/// Checks presented bearer tokens against the configured hashes, each with a
/// label (e.g. `"primary"`, `"secondary"`) that says which one matched.
///
/// [`TokenVerifier::verify`] hashes the presented token once and compares the
/// result with **every** configured hash in constant time, without stopping
/// at a match, so the time taken does not depend on which hash (if any)
/// matched or on how many leading bytes agree.
#[derive(Clone)]
pub struct TokenVerifier {
    entries: Vec<(String, TokenHash)>,
}

impl TokenVerifier {
    /// A verifier for these `(label, hash)` pairs. With no pairs, every
    /// token is refused.
    pub fn new(entries: impl IntoIterator<Item = (String, TokenHash)>) -> Self {
        Self {
            entries: entries.into_iter().collect(),
        }
    }

    /// The label of the configured hash that `presented` matches, if any.
    /// If several entries have the same hash, the first one's label is
    /// returned. The empty token never matches.
    ///
    /// A presented token of any length is hashed: the cost is linear in its
    /// length, and the server's header-size limit bounds that length before
    /// the token gets here.
    pub fn verify(&self, presented: &str) -> Option<&str> {
        if presented.is_empty() {
            return None;
        }
        let presented = TokenHash::of(presented);
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, (_, hash)) in self.entries.iter().enumerate() {
            let matches = hash.0.ct_eq(&presented.0);
            let first_match = matches & !found;
            // An entry count beyond u64 cannot exist in memory.
            let i = u64::try_from(i).unwrap_or(u64::MAX);
            index.conditional_assign(&i, first_match);
            found |= matches;
        }
        if bool::from(found) {
            let index = usize::try_from(index).ok()?;
            self.entries.get(index).map(|(label, _)| label.as_str())
        } else {
            None
        }
    }

    /// How many hashes are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no hash is configured (every token is then refused).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field(
                "labels",
                &self
                    .entries
                    .iter()
                    .map(|(label, _)| label.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::SeededRandom;

    struct Constant(u8);
    impl SecureRandom for Constant {
        fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
            dest.fill(self.0);
            Ok(())
        }
    }

    #[test]
    fn hashes_of_well_known_and_short_tokens_are_refused() {
        // The former samples of the docs: SHA-256 of "test", "test2", "test3".
        for sample in [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
            "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13",
        ] {
            assert!(
                sample.parse::<TokenHash>().unwrap().weakness().is_some(),
                "{sample}"
            );
        }
        for token in [
            "Password", "CHANGEME", "0", "0042", "9999", "zz", "abc", "tessera",
        ] {
            assert!(TokenHash::of(token).weakness().is_some(), "{token}");
        }
        for token in [
            "10000",
            "abcd",
            "p2InZCSDzPPRoEp33hovrPVWtbniDGE344GHGkmup9t",
        ] {
            assert!(TokenHash::of(token).weakness().is_none(), "{token}");
        }
        let generated = ApiToken::generate(&SeededRandom::new(b"weak")).unwrap();
        assert!(
            TokenHash::of(generated.expose_secret())
                .weakness()
                .is_none()
        );
    }

    #[test]
    fn a_placeholder_is_not_a_hash() {
        let refused = "<the SHA-256 of your token>"
            .parse::<TokenHash>()
            .unwrap_err();
        assert!(refused.to_string().contains("placeholder"), "{refused}");
        assert!(crate::is_placeholder(" <at least 16 random characters> "));
        assert!(!crate::is_placeholder("a<b>"));
    }

    #[test]
    fn generated_tokens_are_43_alphanumeric_characters() {
        let rng = SeededRandom::new(b"tokens");
        let a = ApiToken::generate(&rng).unwrap();
        let b = ApiToken::generate(&rng).unwrap();
        assert_eq!(a.expose_secret().len(), API_TOKEN_LEN);
        assert!(a.expose_secret().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn sampling_is_uniform_over_the_alphabet() {
        // Every 6-bit value below 62 maps to its own character and the two
        // above are dropped, so cycling through all bytes hits each character
        // equally often.
        let mut counts = [0usize; 62];
        for byte in 0..=255u8 {
            let value = usize::from(byte & 0x3f);
            if value < 62 {
                counts[value] += 1;
            }
        }
        assert!(counts.iter().all(|&c| c == 4));
    }

    #[test]
    fn a_generator_stuck_on_rejected_values_fails_instead_of_looping() {
        assert!(matches!(
            ApiToken::generate(&Constant(0xff)),
            Err(CryptoError::Random(_))
        ));
        let token = ApiToken::generate(&Constant(0)).unwrap();
        assert_eq!(token.expose_secret(), "A".repeat(API_TOKEN_LEN));
    }

    #[test]
    fn token_hash_text_form() {
        let hash = TokenHash::of("abc");
        let hex = hash.to_hex();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex.parse::<TokenHash>(), Ok(hash));
        assert_eq!(hex.to_ascii_uppercase().parse::<TokenHash>(), Ok(hash));
        assert_eq!(hash.to_string(), hex);

        let spaced = format!(" {hex}");
        let prefixed = format!("0x{}", &hex[2..]);
        let long = format!("{hex}0");
        for bad in [
            &hex[..63],
            spaced.as_str(),
            prefixed.as_str(),
            long.as_str(),
            "",
        ] {
            assert!(
                matches!(
                    bad.parse::<TokenHash>(),
                    Err(CryptoError::MalformedTokenHash { .. })
                ),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn verifier_returns_the_matching_label() {
        let verifier = TokenVerifier::new([
            ("primary".to_owned(), TokenHash::of("token-one")),
            ("secondary".to_owned(), TokenHash::of("token-two")),
            ("ci".to_owned(), TokenHash::of("token-three")),
        ]);
        assert_eq!(verifier.verify("token-one"), Some("primary"));
        assert_eq!(verifier.verify("token-two"), Some("secondary"));
        assert_eq!(verifier.verify("token-three"), Some("ci"));
        assert_eq!(verifier.verify("token-four"), None);
        assert_eq!(verifier.verify(""), None);
        assert_eq!(verifier.verify(&"x".repeat(100_000)), None);
        assert_eq!(verifier.len(), 3);
    }

    #[test]
    fn duplicate_hashes_return_the_first_label() {
        let verifier = TokenVerifier::new([
            ("a".to_owned(), TokenHash::of("other")),
            ("b".to_owned(), TokenHash::of("same")),
            ("c".to_owned(), TokenHash::of("same")),
        ]);
        assert_eq!(verifier.verify("same"), Some("b"));
    }

    #[test]
    fn empty_verifier_refuses_everything() {
        let verifier = TokenVerifier::new([]);
        assert!(verifier.is_empty());
        assert_eq!(verifier.verify("anything"), None);
    }

    #[test]
    fn the_empty_token_never_matches_even_if_its_hash_is_configured() {
        let verifier = TokenVerifier::new([("empty".to_owned(), TokenHash::of(""))]);
        assert_eq!(verifier.verify(""), None);
    }

    #[test]
    fn debug_shows_no_token() {
        let rng = SeededRandom::new(b"debug");
        let token = ApiToken::generate(&rng).unwrap();
        assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");
        let verifier = TokenVerifier::new([("primary".to_owned(), token.hash())]);
        let shown = format!("{verifier:?}");
        assert!(shown.contains("primary"));
        assert!(!shown.contains(token.expose_secret()));
    }
}
