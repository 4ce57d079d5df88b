//! Any string presented as a SID: verification never panics, and a SID that
//! verifies is exactly a minted one.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{LegacySids, MasterKeys, SafePassword, SidKeys, SubjectTag, VerifiedSid};

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
        let lenient = keys.resolve(text, LegacySids::Accept);
        let refused = keys.resolve(text, LegacySids::Reject);
        // Accepting legacy SIDs never changes what a Tessera SID verifies
        // to, and a legacy SID is never taken for a Tessera one.
        match &strict {
            Ok(id) => {
                assert_eq!(lenient.ok(), Some(VerifiedSid::Tessera(*id)));
                assert_eq!(refused.ok(), Some(VerifiedSid::Tessera(*id)));
            }
            Err(_) => {
                assert!(!matches!(lenient, Ok(VerifiedSid::Tessera(_))));
                assert!(refused.is_err());
            }
        }
    }
    // A SID minted from fuzzer-chosen randomness always verifies to its ref.
    let rng = SeededRandom::new(data);
    let (sid, id) = keys.mint(SubjectTag::of("fuzz"), &rng).expect("mint");
    assert_eq!(keys.verify(sid.expose_secret()).ok(), Some(id));
});
