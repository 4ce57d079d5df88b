//! Verifying an API token takes the same time however much of it is right.
//!
//! The argument is by construction (docs/security.md, "API tokens"): the
//! presented token is hashed with SHA-256 before anything is compared, so a
//! token that shares 42 of its 43 characters with the real one has a hash
//! as unrelated to the real hash as any other token's; and the 32-byte
//! hashes are compared with every configured hash in constant time, with no
//! early exit. This test checks the construction from the outside: it
//! times many verifications of a token with no right character and of one
//! with all but the last right, interleaved so that frequency scaling and
//! other load hit both alike, and compares the medians with a generous
//! tolerance. A control shows the measurement is sensitive enough to see a
//! real difference (a much longer token costs more to hash).

#![allow(
    clippy::print_stderr,
    reason = "the measured medians are printed for whoever reads a failure"
)]

use std::hint::black_box;

use tessera_crypto::{TokenHash, TokenVerifier};

const TOKEN: &str = "Zq8mW3rT6pL1xV9cB4nK7sD2fG5hJ0aQeRtYuIoPl";

/// Verifications per timed batch, and batches per candidate.
const BATCH: u32 = 200;
const ROUNDS: usize = 201;

/// Attempts before a failure is believed: a noisy machine may distort
/// one run, not three in a row.
const ATTEMPTS: usize = 3;

fn verifier() -> TokenVerifier {
    // A realistic configuration: primary, secondary and a few labelled.
    let mut entries = vec![
        ("primary".to_owned(), TokenHash::of(TOKEN)),
        (
            "secondary".to_owned(),
            TokenHash::of("secondary-token-0123456789abcdefghij"),
        ),
    ];
    entries.extend((0..8).map(|i| {
        (
            format!("client{i}"),
            TokenHash::of(&format!("client-{i}-token")),
        )
    }));
    TokenVerifier::new(entries)
}

/// The median time of a batch of verifications of each candidate, in
/// nanoseconds, measured in interleaved rounds (alternating which goes
/// first).
#[expect(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "a timing test must read a clock; the library itself never does"
)]
fn medians(verifier: &TokenVerifier, candidates: &[&str]) -> Vec<u128> {
    let mut samples = vec![Vec::with_capacity(ROUNDS); candidates.len()];
    for round in 0..ROUNDS {
        for k in 0..candidates.len() {
            let k = if round % 2 == 0 {
                k
            } else {
                candidates.len() - 1 - k
            };
            let started = std::time::Instant::now();
            for _ in 0..BATCH {
                black_box(verifier.verify(black_box(candidates[k])));
            }
            samples[k].push(started.elapsed().as_nanos());
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_unstable();
            s[s.len() / 2]
        })
        .collect()
}

/// Whether `a` and `b` are within a factor of `tolerance` of each other.
fn within(a: u128, b: u128, tolerance: u128) -> bool {
    a <= b * tolerance && b <= a * tolerance
}

#[test]
fn verification_time_does_not_depend_on_how_much_of_the_token_is_right() {
    let verifier = verifier();
    // No character right: every position differs from the real token's.
    let none_right: String = TOKEN
        .chars()
        .map(|c| if c == 'x' { 'y' } else { 'x' })
        .collect();
    // All but the last character right.
    let mut all_but_last = TOKEN[..TOKEN.len() - 1].to_owned();
    all_but_last.push(if TOKEN.ends_with('x') { 'y' } else { 'x' });
    assert_eq!(none_right.len(), TOKEN.len());
    assert_eq!(verifier.verify(&none_right), None);
    assert_eq!(verifier.verify(&all_but_last), None);
    assert_eq!(verifier.verify(TOKEN), Some("primary"));

    let mut last = Vec::new();
    for _ in 0..ATTEMPTS {
        let m = medians(&verifier, &[&none_right, &all_but_last, TOKEN]);
        eprintln!(
            "median ns per {BATCH} verifications: none right {}, all but the last {}, the token {}",
            m[0], m[1], m[2]
        );
        if within(m[0], m[1], 3) && within(m[1], m[2], 3) {
            return;
        }
        last = m;
    }
    panic!("verification time depends on the token's prefix: medians {last:?}");
}

#[test]
fn the_measurement_can_tell_a_real_difference() {
    // The control: hashing a 16 KiB token costs far more than hashing 43
    // characters, and the same measurement must see it.
    let verifier = verifier();
    let long = "x".repeat(16 * 1024);
    let mut last = Vec::new();
    for _ in 0..ATTEMPTS {
        let m = medians(&verifier, &[TOKEN, &long]);
        if m[1] > m[0] * 3 {
            return;
        }
        last = m;
    }
    panic!("a 16 KiB token did not measure slower than a short one: medians {last:?}");
}
