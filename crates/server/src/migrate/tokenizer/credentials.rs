//! The tokenizer's encrypted credentials: URL-safe base64 of
//! `salt(16) || iv(16) || ciphertext`, AES-256-CFB8 under a key derived from
//! the `safe_password` with PBKDF2-HMAC-SHA256 (100,000 iterations, fresh
//! salt per blob). There is no MAC: a wrong password yields garbage, which
//! is told apart by the plaintext not being the JSON object the tokenizer
//! encrypts (`{"username", "password"}`).

use std::fmt;
use std::num::NonZeroU32;

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use cfb8::cipher::{AsyncStreamCipher as _, KeyIvInit as _};
use serde_json::Value;
use zeroize::Zeroizing;

const SALT_LEN: usize = 16;
const IV_LEN: usize = 16;
const KEY_LEN: usize = 32;
const ITERATIONS: NonZeroU32 = NonZeroU32::new(100_000).unwrap();

/// The tokenizer's `safe_password` (`TOKENIZER_SAFE_PASSWORD`). **Secret.**
///
/// Any text is accepted, even the tokenizer's fallback `default_password`:
/// this only opens what the tokenizer sealed; Tessera's own password rule
/// applies to Tessera's keys.
pub struct TokenizerPassword(Zeroizing<String>);

impl TokenizerPassword {
    /// Wraps the password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(Zeroizing::new(password.into()))
    }
}

impl fmt::Debug for TokenizerPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenizerPassword(<redacted>)")
    }
}

/// Why a credentials blob could not be opened. Never quotes the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpenError {
    /// Not URL-safe base64, or too short to hold a salt and an IV.
    Malformed,
    /// Decrypted, the bytes are not the tokenizer's credentials JSON: the
    /// `safe_password` is not the one that encrypted them.
    WrongPassword,
}

/// Decrypts `blob` with `password` and parses the credentials JSON.
pub(super) fn open(password: &TokenizerPassword, blob: &str) -> Result<Value, OpenError> {
    let raw = Zeroizing::new(URL_SAFE.decode(blob).map_err(|_| OpenError::Malformed)?);
    if raw.len() < SALT_LEN + IV_LEN {
        return Err(OpenError::Malformed);
    }
    let (salt, rest) = raw.split_at(SALT_LEN);
    let (iv, ciphertext) = rest.split_at(IV_LEN);

    let mut key = Zeroizing::new([0_u8; KEY_LEN]);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        ITERATIONS,
        salt,
        password.0.as_bytes(),
        key.as_mut(),
    );
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    cfb8::Decryptor::<Aes256>::new(key.as_ref().into(), iv.into()).decrypt(&mut plain);

    match serde_json::from_slice::<Value>(&plain) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(OpenError::WrongPassword),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by querycommander 1.0.1's `helpers.encrypt("a-password-for-tests",
    /// '{"username": "alice", "password": "pw"}')`.
    const BLOB: &str = "_e21DHg0lYmXvtmwuL1PY5zXikovEOZQ1N42703aby9DPaLt_G91auZI0B_kl0fM6bMAZii3LwEqtewBOaiJVKEQkKTdp1k=";

    #[test]
    fn opens_what_the_tokenizer_encrypted() {
        let value = open(&TokenizerPassword::new("a-password-for-tests"), BLOB).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"username": "alice", "password": "pw"})
        );
    }

    #[test]
    fn a_wrong_password_is_told_apart() {
        let wrong = TokenizerPassword::new("another-password");
        assert_eq!(open(&wrong, BLOB), Err(OpenError::WrongPassword));
    }

    #[test]
    fn a_malformed_blob_is_told_apart() {
        let password = TokenizerPassword::new("a-password-for-tests");
        assert_eq!(open(&password, "not base64!"), Err(OpenError::Malformed));
        assert_eq!(open(&password, "c2hvcnQ="), Err(OpenError::Malformed));
    }

    #[test]
    fn the_password_is_redacted() {
        let password = TokenizerPassword::new("a-password-for-tests");
        assert_eq!(format!("{password:?}"), "TokenizerPassword(<redacted>)");
    }
}
