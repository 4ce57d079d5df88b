//! Criterion benchmarks of the pure policy functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_core::{
    Existing, Expiry, Lifetime, OnQuotaExhaustion, Policy, Session, SessionParams, Subject,
    Timestamp, decide,
};

fn session(now: Timestamp) -> Session {
    let mut p = SessionParams::new(Subject::new("alice@example.com").unwrap());
    p.max_idle = Some(Lifetime::minutes_const(30));
    Session::start(p, &Policy::default(), now).unwrap()
}

fn bench(c: &mut Criterion) {
    let now = Timestamp::from_secs(1_700_000_000);
    let s = session(now);
    c.bench_function("expiry/is_expired", |b| {
        b.iter(|| black_box(&s).is_expired(black_box(now)));
    });

    let policy = Policy {
        quota_per_subject: tessera_core::Quota::new("quotaPerSubject", 25).unwrap(),
        on_quota_exhaustion: OnQuotaExhaustion::CloseOldSession,
        ..Policy::default()
    };
    let existing: Vec<Existing<u32>> = (0..25)
        .map(|i| Existing {
            key: i,
            expiry: Expiry::At(now.plus_millis(i64::from((i * 7919) % 25 + 1) * 60_000)),
            signer: None,
        })
        .collect();
    c.bench_function("quota/decide_25_sessions", |b| {
        b.iter(|| decide(black_box(&existing), black_box(&policy), black_box(now)));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
