//! Any string presented as a SID: verification never panics, and a SID that
//! verifies is exactly a minted one.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_crypto::{
    LegacySids, MasterKeys, SafePassword, SeededRandom, SidKeys, SubjectTag, VerifiedSid,
};

fn keys() -> &'static SidKeys {
    static KEYS: OnceLock<SidKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let password = SafePassword::new("fuzzing-only-Xq7!r2#Lp9zW").expect("strong");
        MasterKeys::derive(&password, &[]).sid_keys()
    })
}

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    if let Ok(text) = std::str::from_utf8(data) {
        let strict = keys.verify(text);
        let lenient = keys.verify(text, LegacySids::Accept);
        // Accepting legacy SIDs never rejects what strict mode accepts.
        if let Ok(id) = &strict {
            assert_eq!(lenient.as_ref().ok(), Some(id));
        }
    }
    // A SID minted from fuzzer-chosen randomness always verifies to its ref.
    let rng = SeededRandom::new(data);
    let (sid, id) = keys.mint(SubjectTag::of("fuzz"), &rng).expect("mint");
    assert_eq!(keys.verify(sid.expose_secret()).ok(), Some(id));
});
