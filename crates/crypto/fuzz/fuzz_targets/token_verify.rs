//! Configured token hashes and presented tokens: parsing and verification
//! never panic, and only the configured token verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_crypto::{TokenHash, TokenVerifier};

const TOKEN: &str = "fuzzing-only-token-4vK9qLm2Xr7Tz1Wp8Yd3Nb6Hc";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = text.parse::<TokenHash>();
    let verifier = TokenVerifier::new([("primary".to_owned(), TokenHash::of(TOKEN))]);
    assert_eq!(verifier.verify(text).is_some(), text == TOKEN);
});
