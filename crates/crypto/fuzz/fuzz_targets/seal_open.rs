//! Any bytes presented as sealed credentials: opening never panics and
//! never succeeds for bytes that were not sealed to this session.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_crypto::{MasterKeys, SafePassword, SealBinding, SealedCredentials, Sealer, StorageKey};

fn sealer() -> &'static Sealer {
    static SEALER: OnceLock<Sealer> = OnceLock::new();
    SEALER.get_or_init(|| {
        let password = SafePassword::new("fuzzing-only-Xq7!r2#Lp9zW").expect("strong");
        MasterKeys::derive(&password, &[]).sealer()
    })
}

fuzz_target!(|data: &[u8]| {
    let binding = SealBinding::new(StorageKey::from_bytes([7; 32]), "fuzz");
    let sealed = SealedCredentials::from_bytes(data.to_vec());
    assert!(sealer().open(&sealed, &binding).is_err(), "forged credentials opened");
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(decoded) = SealedCredentials::from_base64(text) {
            assert!(sealer().open(&decoded, &binding).is_err());
        }
    }
});
