//! What the record path costs per read: the bounded decode of a stored
//! record and the MAC check over it, beside a plain decode with neither,
//! for a session with 200 bytes of data (the benchmarks' usual payload).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;
use tessera_core::{Policy, RecordMac, Session, SessionParams, Subject, Timestamp};
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{MasterKeys, RootKey, StorageKey, SubjectTag};
use tessera_store::SessionRef;
use tessera_store::backend::record::{self, mac_message};

fn session() -> Session {
    let mut p = SessionParams::new(Subject::new("alice@example.com").expect("valid"));
    p.data
        .insert("payload".into(), Value::from("x".repeat(200)));
    p.claims.insert("role".into(), Value::from("user"));
    Session::start(p, &Policy::default(), Timestamp::from_secs(1_700_000_000)).expect("valid")
}

fn record_path(c: &mut Criterion) {
    let keys = MasterKeys::from_root_keys(
        &RootKey::generate(&SeededRandom::new(b"bench record")).expect("key"),
        &[],
    )
    .record_keys();
    let id = SessionRef::new(
        SubjectTag::of("alice@example.com"),
        StorageKey::from_sid_key_bytes(&[0x5a; 16]),
    );
    let mut signed = session();
    signed.record_mac = Some(RecordMac::new(
        keys.sign(&mac_message(&id, &signed)).to_vec(),
    ));
    let bytes = record::encode(&signed);

    let mut group = c.benchmark_group("record");
    group.bench_function("decode_bounded", |b| {
        b.iter(|| record::decode(black_box(&bytes)).expect("decodes"));
    });
    group.bench_function("bounds_only", |b| {
        b.iter(|| record::check_bounds(black_box(&bytes)).expect("bounded"));
    });
    group.bench_function("mac_check", |b| {
        b.iter(|| {
            let mac = signed.record_mac.as_ref().expect("signed");
            keys.verify(
                &mac_message(black_box(&id), black_box(&signed)),
                mac.as_bytes(),
            )
            .expect("verifies");
        });
    });
    group.bench_function("sign", |b| {
        b.iter(|| keys.sign(&mac_message(black_box(&id), black_box(&signed))));
    });
    group.finish();

    // The floor: serde_json's decode of the same bytes into a plain value,
    // with no bounds, no field types and no MAC.
    let mut baseline = c.benchmark_group("baseline");
    baseline.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)).expect("JSON"));
    });
    baseline.finish();
}

criterion_group!(benches, record_path);
criterion_main!(benches);
