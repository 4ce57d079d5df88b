//! Per-request costs of the crypto crate: what a server pays on every SID
//! lookup, credential write or read, and API call. Key derivation is left out
//! on purpose: it runs once at start-up.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{
    MasterKeys, SafePassword, SealBinding, StorageKey, SubjectTag, TokenHash, TokenVerifier,
};

fn master_keys() -> MasterKeys {
    let current = SafePassword::new("bench-current-password-9f3k").expect("valid password");
    MasterKeys::derive(&current, &[])
}

fn sids(c: &mut Criterion) {
    let keys = master_keys().sid_keys();
    let rng = SeededRandom::new(b"bench sids");
    let tag = SubjectTag::of("alice@example.com");
    let (sid, _) = keys.mint(tag, &rng).expect("mint");

    let mut group = c.benchmark_group("sid");
    group.bench_function("mint", |b| {
        b.iter(|| keys.mint(black_box(tag), &rng).expect("mint"));
    });
    // Verification returns the SessionRef, so this includes the storage key.
    group.bench_function("verify_and_storage_key", |b| {
        b.iter(|| keys.verify(black_box(sid.expose_secret())).expect("verify"));
    });
    group.bench_function("reject_malformed", |b| {
        b.iter(|| keys.verify(black_box("not a sid")));
    });
    group.bench_function("storage_key", |b| {
        let key16 = [0x5a; 16];
        b.iter(|| StorageKey::from_sid_key_bytes(black_box(&key16)));
    });
    group.finish();
}

/// The floor under SID verification: one bare HMAC-SHA256 over the 16 key
/// bytes with ring, no decoding, no comparison, no storage key. `cargo xtask
/// bench core` reports `sid/verify_and_storage_key` as a ratio to this.
fn baseline(c: &mut Criterion) {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0x11; 32]);
    let key16 = [0x5a; 16];
    let mut group = c.benchmark_group("baseline");
    group.bench_function("hmac_sha256_16B", |b| {
        b.iter(|| ring::hmac::sign(&key, black_box(&key16)));
    });
    group.finish();
}

fn sealing(c: &mut Criterion) {
    let sealer = master_keys().sealer();
    let rng = SeededRandom::new(b"bench sealing");
    let binding = SealBinding::new(StorageKey::from_bytes([7; 32]), "alice@example.com");
    let credentials = [0x42u8; 256];
    let blob = sealer.seal(&credentials, &binding, &rng).expect("seal");

    let mut group = c.benchmark_group("credentials_256B");
    group.bench_function("seal", |b| {
        b.iter(|| {
            sealer
                .seal(black_box(&credentials), &binding, &rng)
                .expect("seal")
        });
    });
    group.bench_function("open", |b| {
        b.iter(|| sealer.open(black_box(&blob), &binding).expect("open"));
    });
    group.finish();
}

fn api_tokens(c: &mut Criterion) {
    let verifier = TokenVerifier::new([
        ("primary".to_owned(), TokenHash::of("primary-token")),
        ("secondary".to_owned(), TokenHash::of("secondary-token")),
        ("ci".to_owned(), TokenHash::of("ci-token-5c7d2c80a3f14e7b9")),
    ]);
    let presented = "ci-token-5c7d2c80a3f14e7b9";

    let mut group = c.benchmark_group("api_token");
    group.bench_function("verify_3_hashes", |b| {
        b.iter(|| verifier.verify(black_box(presented)).expect("match"));
    });
    group.finish();

    // Verification time must not depend on how much of a wrong token is
    // right (docs/security.md, "API tokens"): these three should report the
    // same time, within noise. A token of another length costs more or less
    // to hash, so all three have the length of the configured one.
    let none_right: String = presented
        .chars()
        .map(|c| if c == 'x' { 'y' } else { 'x' })
        .collect();
    let mut all_but_last = presented[..presented.len() - 1].to_owned();
    all_but_last.push('x');
    let mut group = c.benchmark_group("api_token_constant_time");
    for (name, candidate) in [
        ("none_right", none_right.as_str()),
        ("all_but_last_right", all_but_last.as_str()),
        ("right", presented),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| verifier.verify(black_box(candidate)));
        });
    }
    group.finish();
}

criterion_group!(benches, baseline, sids, sealing, api_tokens);
criterion_main!(benches);
