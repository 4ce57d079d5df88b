//! Properties of the public API: round trips, tamper detection, rotation,
//! redaction and robustness against arbitrary input.
//!
//! Key derivation costs a fraction of a second per password, so the keys are
//! derived once per test binary and shared.

use std::sync::OnceLock;

use proptest::prelude::*;
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{
    ApiToken, CryptoError, LegacySids, MasterKeys, SafePassword, SealBinding, SealedCredentials,
    SecureRandom, SessionRef, StorageKey, SubjectTag, TokenHash, TokenVerifier, VerifiedSid,
};

const OLD_PASSWORD: &str = "old-password-Xk3#pQ9!vT";
const NEW_PASSWORD: &str = "new-password-Lm7$wR2@zN";

/// base64url's 64 characters and the separator: every character a one-place
/// edit of a SID could plausibly use.
const SID_CHARS: &[u8; 65] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

struct Keys {
    /// Only the old password: what a deployment had before the rotation.
    old: MasterKeys,
    /// The new password current, the old one previous: during the rotation.
    rotated: MasterKeys,
    /// Only the new password: after the old one has been removed.
    new: MasterKeys,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let old = SafePassword::new(OLD_PASSWORD).unwrap();
        let new = SafePassword::new(NEW_PASSWORD).unwrap();
        Keys {
            old: MasterKeys::derive(&old, &[]),
            rotated: MasterKeys::derive(&new, &[SafePassword::new(OLD_PASSWORD).unwrap()]),
            new: MasterKeys::derive(&new, &[]),
        }
    })
}

fn mint(seed: &[u8], subject: &str) -> (String, SessionRef) {
    let (sid, session) = keys()
        .rotated
        .sid_keys()
        .mint(SubjectTag::of(subject), &SeededRandom::new(seed))
        .unwrap();
    (sid.expose_secret().to_owned(), session)
}

/// Asserts that `candidate` verifies under neither legacy mode.
fn assert_refused(candidate: &str, what: &str) {
    let sid_keys = keys().rotated.sid_keys();
    let result = sid_keys.verify(candidate);
    assert!(result.is_err(), "{what} verified: {result:?}");
    // Accepting legacy SIDs may read it as one, but never as a Tessera SID.
    for legacy in [LegacySids::Reject, LegacySids::Accept] {
        let result = sid_keys.resolve(candidate, legacy);
        assert!(
            !matches!(result, Ok(VerifiedSid::Tessera(_))),
            "{what} verified: {result:?}"
        );
    }
}

// ---- SIDs -------------------------------------------------------------------

proptest! {
    #[test]
    fn mint_then_verify_yields_the_same_session(seed in any::<[u8; 16]>(), subject in ".{0,64}") {
        let (sid, session) = mint(&seed, &subject);
        prop_assert_eq!(sid.len(), tessera_crypto::SID_LEN);
        prop_assert_eq!(session.tag(), SubjectTag::of(&subject));
        let verified = keys().rotated.sid_keys().verify(&sid);
        prop_assert_eq!(verified, Ok(session));
    }

    #[test]
    fn any_single_character_substitution_fails(
        seed in any::<[u8; 16]>(),
        position in 0..tessera_crypto::SID_LEN,
        replacement in prop::sample::select(SID_CHARS.to_vec()),
    ) {
        let (sid, _) = mint(&seed, "subject");
        prop_assume!(sid.as_bytes()[position] != replacement);
        let mut changed = sid.into_bytes();
        changed[position] = replacement;
        assert_refused(&String::from_utf8(changed).unwrap(), "a substituted SID");
    }

    #[test]
    fn any_single_deletion_or_insertion_fails(
        seed in any::<[u8; 16]>(),
        position in 0..=tessera_crypto::SID_LEN,
        inserted in prop::sample::select(SID_CHARS.to_vec()),
    ) {
        let (sid, _) = mint(&seed, "subject");
        let mut longer = sid.clone().into_bytes();
        longer.insert(position, inserted);
        assert_refused(&String::from_utf8(longer).unwrap(), "a SID with an insertion");
        if position < sid.len() {
            let mut shorter = sid.into_bytes();
            shorter.remove(position);
            assert_refused(&String::from_utf8(shorter).unwrap(), "a SID with a deletion");
        }
    }

    #[test]
    fn verify_never_panics_on_arbitrary_strings(input in any::<String>()) {
        let _ = keys().rotated.sid_keys().resolve(&input, LegacySids::Accept);
    }

    #[test]
    fn verify_refuses_random_strings_of_the_right_shape(
        key in "[A-Za-z0-9_-]{22}",
        tag in "[A-Za-z0-9_-]{22}",
    ) {
        let result = keys().rotated.sid_keys().verify(&format!("{key}.{tag}"));
        prop_assert!(
            matches!(result, Err(CryptoError::BadSidTag | CryptoError::MalformedSid { .. })),
            "{:?}", result
        );
    }
}

#[test]
fn every_one_character_edit_of_a_sid_fails() {
    // Exhaustive over a few SIDs: every substitution, deletion and insertion.
    for seed in [&b"one"[..], b"two", b"three", b"four"] {
        let (sid, session) = mint(seed, "alice");
        assert_eq!(keys().rotated.sid_keys().verify(&sid), Ok(session));
        for position in 0..=sid.len() {
            for &c in SID_CHARS {
                let mut longer = sid.clone().into_bytes();
                longer.insert(position, c);
                assert_refused(&String::from_utf8(longer).unwrap(), "an insertion");
                if position < sid.len() && sid.as_bytes()[position] != c {
                    let mut changed = sid.clone().into_bytes();
                    changed[position] = c;
                    assert_refused(&String::from_utf8(changed).unwrap(), "a substitution");
                }
            }
            if position < sid.len() {
                let mut shorter = sid.clone().into_bytes();
                shorter.remove(position);
                assert_refused(&String::from_utf8(shorter).unwrap(), "a deletion");
            }
        }
    }
}

#[test]
fn verify_survives_thousands_of_hostile_inputs() {
    let rng = SeededRandom::new(b"hostile inputs");
    let sid_keys = keys().rotated.sid_keys();
    let (sid, _) = mint(b"hostile", "alice");
    let random = |n: usize| {
        let mut bytes = vec![0u8; n];
        rng.fill(&mut bytes).unwrap();
        bytes
    };
    let mut inputs: Vec<String> = vec![
        String::new(),
        "=".repeat(45),
        format!("{sid}="),
        format!("{}==", &sid[..22]),
        sid.replace('-', "+").replace('_', "/"),
        format!(" {}", &sid[1..]),
        format!("{}\n", &sid[..44]),
        format!("{}\0", &sid[..44]),
        sid.to_uppercase(),
        "é".repeat(22) + ".",
        "😀".repeat(11) + "a",
        "A".repeat(10_000_000),
        format!("{sid}{}", "A".repeat(1_000_000)),
    ];
    for i in 0..5_000 {
        let len = match i % 4 {
            0 => usize::from(random(1)[0]) % 64,
            1 => 44 + usize::from(random(1)[0]) % 3,
            2 => 20 + usize::from(random(1)[0]) % 5,
            _ => usize::from(u16::from_be_bytes([random(1)[0], random(1)[0]])),
        };
        let bytes = random(len);
        inputs.push(String::from_utf8_lossy(&bytes).into_owned());
        // Right length, mostly the right alphabet.
        let shaped: String = bytes
            .iter()
            .take(45)
            .map(|&b| char::from(SID_CHARS[usize::from(b) % SID_CHARS.len()]))
            .collect();
        inputs.push(shaped);
    }
    for input in &inputs {
        for legacy in [LegacySids::Reject, LegacySids::Accept] {
            match sid_keys.resolve(input, legacy) {
                // Only a legacy-shaped string can get through, and only when
                // legacy SIDs are accepted.
                Ok(VerifiedSid::Legacy(_)) => {
                    assert_eq!(legacy, LegacySids::Accept);
                    assert!(tessera_crypto::is_legacy_sid(input));
                }
                Ok(VerifiedSid::Tessera(session)) => panic!("random input verified: {session}"),
                Err(_) => {}
            }
        }
    }
}

#[test]
fn session_ref_text_round_trips() {
    let (_, session) = mint(b"text", "alice");
    let text = session.to_string();
    assert_eq!(text.parse::<SessionRef>(), Ok(session));
    assert_eq!(
        SessionRef::new(session.tag(), session.storage_key()),
        session
    );
}

// ---- Sealing ----------------------------------------------------------------

fn binding(storage_key: [u8; 32], subject: &str) -> SealBinding<'_> {
    SealBinding::new(StorageKey::from_bytes(storage_key), subject)
}

proptest! {
    #[test]
    fn seal_then_open_round_trips(
        plaintext in prop::collection::vec(any::<u8>(), 0..1024),
        storage_key in any::<[u8; 32]>(),
        subject in ".{0,64}",
        seed in any::<[u8; 8]>(),
    ) {
        let seal_keys = keys().rotated.sealer();
        let binding = binding(storage_key, &subject);
        let sealed = seal_keys.seal(&plaintext, &binding, &SeededRandom::new(&seed)).unwrap();
        prop_assert_eq!(sealed.as_bytes().len(), 1 + 4 + 12 + plaintext.len() + 16);
        let opened = seal_keys.open(&sealed, &binding).unwrap();
        prop_assert_eq!(opened.expose_secret(), &plaintext[..]);
    }

    #[test]
    fn any_bit_flip_or_truncation_fails(
        plaintext in prop::collection::vec(any::<u8>(), 0..256),
        bit in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let seal_keys = keys().rotated.sealer();
        let binding = binding([1; 32], "alice");
        let sealed = seal_keys.seal(&plaintext, &binding, &SeededRandom::new(b"flip")).unwrap();
        let bytes = sealed.as_bytes();

        let bit = bit.index(bytes.len() * 8);
        let mut flipped = bytes.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let result = seal_keys.open(&SealedCredentials::from_bytes(flipped), &binding);
        prop_assert!(result.is_err());

        let cut = cut.index(bytes.len());
        let truncated = SealedCredentials::from_bytes(bytes[..cut].to_vec());
        prop_assert!(seal_keys.open(&truncated, &binding).is_err());
    }

    #[test]
    fn opening_under_another_binding_fails(
        storage_key in any::<[u8; 32]>(),
        other_key in any::<[u8; 32]>(),
        subject in ".{0,32}",
        other_subject in ".{0,32}",
    ) {
        let seal_keys = keys().rotated.sealer();
        let sealed = seal_keys
            .seal(b"credentials", &binding(storage_key, &subject), &SeededRandom::new(b"bind"))
            .unwrap();
        if other_key != storage_key {
            prop_assert_eq!(
                seal_keys.open(&sealed, &binding(other_key, &subject)).unwrap_err(),
                CryptoError::OpenFailed
            );
        }
        if other_subject != subject {
            prop_assert_eq!(
                seal_keys.open(&sealed, &binding(storage_key, &other_subject)).unwrap_err(),
                CryptoError::OpenFailed
            );
        }
    }
}

#[test]
fn every_bit_flip_and_every_truncation_of_one_blob_fails() {
    let seal_keys = keys().rotated.sealer();
    let binding = binding([3; 32], "bob");
    let sealed = seal_keys
        .seal(b"secret", &binding, &SeededRandom::new(b"all bits"))
        .unwrap();
    let bytes = sealed.as_bytes();
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let err = seal_keys
            .open(&SealedCredentials::from_bytes(flipped), &binding)
            .unwrap_err();
        let expected_kind = match bit / 8 {
            0 => matches!(err, CryptoError::SealedDataMalformed { .. }),
            1..=4 => err == CryptoError::UnknownKeyId,
            _ => err == CryptoError::OpenFailed,
        };
        assert!(expected_kind, "bit {bit}: {err:?}");
    }
    for cut in 0..bytes.len() {
        let truncated = SealedCredentials::from_bytes(bytes[..cut].to_vec());
        assert!(
            seal_keys.open(&truncated, &binding).is_err(),
            "cut at {cut}"
        );
    }
    let mut extended = bytes.to_vec();
    extended.push(0);
    assert_eq!(
        seal_keys
            .open(&SealedCredentials::from_bytes(extended), &binding)
            .unwrap_err(),
        CryptoError::OpenFailed
    );
}

#[test]
fn a_fresh_nonce_per_seal() {
    let seal_keys = keys().rotated.sealer();
    let binding = binding([3; 32], "bob");
    let rng = SeededRandom::new(b"nonces");
    let a = seal_keys.seal(b"same", &binding, &rng).unwrap();
    let b = seal_keys.seal(b"same", &binding, &rng).unwrap();
    assert_ne!(&a.as_bytes()[5..17], &b.as_bytes()[5..17]);
    assert_ne!(a, b);
}

// ---- Rotation ---------------------------------------------------------------

#[test]
fn sids_minted_under_the_old_password_verify_after_rotation_until_it_is_removed() {
    let k = keys();
    let rng = SeededRandom::new(b"rotation sids");
    let (old_sid, old_session) = k
        .old
        .sid_keys()
        .mint(SubjectTag::of("alice"), &rng)
        .unwrap();
    let old_sid = old_sid.expose_secret();

    assert_eq!(k.rotated.sid_keys().verify(old_sid), Ok(old_session));
    assert_eq!(
        k.new.sid_keys().verify(old_sid),
        Err(CryptoError::BadSidTag)
    );

    // New SIDs are signed with the new password only.
    let (new_sid, new_session) = k
        .rotated
        .sid_keys()
        .mint(SubjectTag::of("alice"), &rng)
        .unwrap();
    let new_sid = new_sid.expose_secret();
    assert_eq!(k.new.sid_keys().verify(new_sid), Ok(new_session));
    assert_eq!(
        k.old.sid_keys().verify(new_sid),
        Err(CryptoError::BadSidTag)
    );
}

#[test]
fn credentials_sealed_under_the_old_password_open_after_rotation_until_it_is_removed() {
    let k = keys();
    let rng = SeededRandom::new(b"rotation seals");
    let binding = binding([5; 32], "alice");
    let old_blob = k.old.sealer().seal(b"pw", &binding, &rng).unwrap();

    assert_eq!(
        k.rotated
            .sealer()
            .open(&old_blob, &binding)
            .unwrap()
            .expose_secret(),
        b"pw"
    );
    assert_eq!(
        k.new.sealer().open(&old_blob, &binding).unwrap_err(),
        CryptoError::UnknownKeyId
    );

    let new_blob = k.rotated.sealer().seal(b"pw", &binding, &rng).unwrap();
    assert_eq!(
        k.new
            .sealer()
            .open(&new_blob, &binding)
            .unwrap()
            .expose_secret(),
        b"pw"
    );
    assert_eq!(
        k.old.sealer().open(&new_blob, &binding).unwrap_err(),
        CryptoError::UnknownKeyId
    );
}

// ---- Redaction --------------------------------------------------------------

#[test]
fn debug_output_of_secrets_contains_no_secret() {
    let k = keys();
    let rng = SeededRandom::new(b"redaction");
    let password = SafePassword::new(NEW_PASSWORD).unwrap();
    let (sid, session) = k
        .rotated
        .sid_keys()
        .mint(SubjectTag::of("alice"), &rng)
        .unwrap();
    let plaintext = b"upstream-db-password-4f9a";
    let binding = binding(*session.storage_key().as_bytes(), "alice");
    let sealed = k.rotated.sealer().seal(plaintext, &binding, &rng).unwrap();
    let credentials = k.rotated.sealer().open(&sealed, &binding).unwrap();
    let token = ApiToken::generate(&rng).unwrap();

    let shown = [
        format!("{sid:?}"),
        format!("{password:?}"),
        format!("{:?}", k.rotated),
        format!("{:?}", k.rotated.sid_keys()),
        format!("{:?}", k.rotated.sealer()),
        format!("{credentials:?}"),
        format!("{sealed:?}"),
        format!("{token:?}"),
    ]
    .join("\n");

    let plaintext_text = std::str::from_utf8(plaintext).unwrap();
    let plaintext_bytes = format!("{:?}", &plaintext[..8]);
    let secrets = [
        sid.expose_secret(),
        &sid.expose_secret()[..22],
        &sid.expose_secret()[23..],
        NEW_PASSWORD,
        OLD_PASSWORD,
        plaintext_text,
        &plaintext_bytes[1..plaintext_bytes.len() - 1],
        token.expose_secret(),
        &token.expose_secret()[..12],
    ];
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret:?} appears in {shown}");
    }
    assert!(shown.contains("<redacted"));
}

#[test]
fn errors_never_quote_their_input() {
    let (sid, _) = mint(b"errors", "alice");
    let forged = format!("{}.{}", &sid[..22], "A".repeat(22));
    let err = keys().rotated.sid_keys().verify(&forged).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&sid[..22]), "{shown}");

    let err = SafePassword::new("abc123456abcdef").unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("abc123456abcdef"), "{shown}");
}

// ---- Password rule ----------------------------------------------------------

#[test]
fn the_documented_example_password_is_refused_as_an_example() {
    let err = SafePassword::new("abc123456abcdef").unwrap_err();
    match err {
        CryptoError::WeakPassword { reason } => assert!(reason.contains("example"), "{reason}"),
        other => panic!("unexpected {other:?}"),
    }
}

proptest! {
    #[test]
    fn random_passwords_of_16_or_more_characters_pass(password in "[A-Za-z0-9!@#%^&*_-]{16,64}") {
        // Repetitive draws can fall short of 8 distinct characters; those are
        // the rule working, not a failure.
        let distinct = password.chars().collect::<std::collections::BTreeSet<_>>().len();
        let result = SafePassword::new(password);
        if distinct >= 8 {
            prop_assert!(result.is_ok(), "a password with {} distinct characters was refused", distinct);
        } else {
            prop_assert!(
                matches!(result, Err(CryptoError::WeakPassword { .. })),
                "a repetitive password was accepted"
            );
        }
    }
}

// ---- API tokens ---------------------------------------------------------------

proptest! {
    #[test]
    fn generated_tokens_verify_under_their_label_only(seed in any::<[u8; 8]>(), other in ".{1,80}") {
        let rng = SeededRandom::new(&seed);
        let token = ApiToken::generate(&rng).unwrap();
        let decoy = ApiToken::generate(&rng).unwrap();
        let verifier = TokenVerifier::new([
            ("decoy".to_owned(), decoy.hash()),
            ("primary".to_owned(), token.hash()),
            ("parsed".to_owned(), token.hash().to_hex().parse::<TokenHash>().unwrap()),
        ]);
        prop_assert_eq!(verifier.verify(token.expose_secret()), Some("primary"));
        prop_assert_eq!(verifier.verify(decoy.expose_secret()), Some("decoy"));
        if other != token.expose_secret() && other != decoy.expose_secret() {
            prop_assert_eq!(verifier.verify(&other), None);
        }
    }

    #[test]
    fn token_hash_parser_accepts_only_64_hex_characters(text in ".{0,80}") {
        let ok = text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
        prop_assert_eq!(text.parse::<TokenHash>().is_ok(), ok);
    }
}
