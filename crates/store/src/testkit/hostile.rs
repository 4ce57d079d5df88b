//! Behaviours against a hostile store: someone who can write the backend
//! (a Redis ACL user, a DynamoDB role, a local account owning the folder)
//! but cannot read the configuration.
//!
//! Each behaviour logs in through [`Sessions`] over the fixture's store,
//! writes raw bytes under a session's key with [`RawAccess`](super::RawAccess),
//! and checks the outcome through the same `Sessions`: the damaged record
//! is never served, nothing panics, and the store keeps answering.

use std::sync::Arc;

use serde_json::Value;
use tessera_core::{Lifetime, OnQuotaExhaustion, Session, SessionParams, Subject, Timestamp};
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{MasterKeys, RootKey};

use super::{Fixture, MockClock, policy};
use crate::{Clock, Sessions, SessionsConfig, SessionsError, StoreError, SystemClock, Touch};

/// The deployment's key in these behaviours (the writer does not hold it).
const ROOT: &str = "3c1f9e2a7b6d5c4e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a";

fn keys() -> MasterKeys {
    MasterKeys::from_root_keys(&RootKey::from_hex(ROOT).expect("valid root key"), &[])
}

/// `Sessions` over the fixture's store, on a mock clock at the real time.
fn service(f: &Fixture, accept_unsigned: bool) -> (Sessions, Arc<MockClock>) {
    let clock = Arc::new(MockClock::new(Timestamp::from_secs(
        SystemClock.now().as_secs(),
    )));
    let config = SessionsConfig {
        accept_unsigned_records: accept_unsigned,
        ..SessionsConfig::default()
    };
    // Seeded per fixture store, so that parallel behaviours on one backend
    // never mint the same SID.
    let seed = format!("{:p}", Arc::as_ptr(&f.store));
    let sessions = Sessions::new(
        Arc::clone(&f.store),
        config,
        &keys(),
        clock.clone(),
        Arc::new(SeededRandom::new(seed.as_bytes())),
    );
    (sessions, clock)
}

fn login(subject: &str) -> SessionParams {
    let mut p = SessionParams::new(Subject::new(subject).expect("valid subject"));
    p.max_life = Some(Lifetime::minutes_const(60));
    p.claims.insert("role".into(), Value::from("user"));
    p.data.insert("cart".into(), Value::from(3));
    p
}

/// Logs `subject` in and reads the session back: the new session, its
/// SID, and the session as stored.
async fn logged_in(sessions: &Sessions, subject: &str) -> (crate::NewSession, String, Session) {
    let new = sessions.create(login(subject), None).await.expect("login");
    let sid = new.sid.expose_secret().to_owned();
    let read = sessions
        .get(&sid, None, Touch::Skip)
        .await
        .expect("read")
        .session;
    (new, sid, read)
}

/// The record check refused it: a 500 for the caller, never the session.
fn refused(what: &str, result: Result<impl std::fmt::Debug, SessionsError>) {
    match result {
        Err(SessionsError::Store(StoreError::Corrupt { reason, .. })) => {
            assert!(
                !reason.contains("mallory") && !reason.contains("admin"),
                "{what}: the error quotes the record's content: {reason}"
            );
        }
        other => panic!("{what}: expected a refused record, got {other:?}"),
    }
}

/// Changing any signed field of a stored session, keeping its MAC, makes
/// it unreadable: subject, context, lifetimes, auth time, claims, data,
/// credentials, version and key generation.
pub async fn hostile_altered_fields_are_not_served(f: Fixture) {
    type Change = fn(&mut Session);
    let (sessions, _clock) = service(&f, false);
    let changes: [(&str, Change); 10] = [
        ("subject", |s| {
            s.subject = Subject::new("mallory").expect("valid");
        }),
        ("context", |s| {
            s.context = tessera_core::Context::new("admin").expect("valid");
        }),
        ("max_life", |s| {
            s.max_life = Lifetime::Unlimited;
        }),
        ("auth_life", |s| {
            s.auth_life = Lifetime::Unlimited;
        }),
        ("max_idle", |s| {
            s.max_idle = Lifetime::Unlimited;
        }),
        ("auth_time", |s| {
            s.auth_time = s.auth_time.plus_millis(60_000);
        }),
        ("claims", |s| {
            s.claims.insert("role".into(), Value::from("admin"));
        }),
        ("data", |s| {
            s.data.insert("cart".into(), Value::from(1_000));
        }),
        ("version", |s| {
            s.version += 1;
        }),
        ("credentials", |s| {
            s.credentials = Some(tessera_core::SealedBlob::new(vec![1, 2, 3]));
        }),
    ];
    for (field, change) in changes {
        let (new, sid, mut altered) = logged_in(&sessions, "alice").await;
        change(&mut altered);
        assert!((f.raw.write)(new.id, (f.raw.encode)(&altered)).await);
        refused(field, sessions.get(&sid, None, Touch::Yes).await);
        refused(field, sessions.get(&sid, None, Touch::Skip).await);
        let listed = sessions
            .list(&Subject::new("alice").expect("valid"), None)
            .await
            .expect("a listing skips what it cannot trust");
        assert!(
            listed.iter().all(|s| s.id != new.id),
            "{field}: listed an altered record"
        );
        // An update neither serves it nor replaces it with a signed copy.
        refused(
            field,
            sessions
                .update(&sid, None, None, crate::SessionChanges::default())
                .await,
        );
        // Logout ends it, whatever it holds.
        let _ = sessions.end(&sid, None).await.expect("logout");
        assert!(matches!(
            sessions.get(&sid, None, Touch::Skip).await,
            Err(SessionsError::Store(StoreError::NotFound))
        ));
    }
    // The key generation is signed too (it decides the quota slot).
    let (new, sid, mut altered) = logged_in(&sessions, "alice").await;
    altered.signer = None;
    assert!((f.raw.write)(new.id, (f.raw.encode)(&altered)).await);
    refused(
        "key generation",
        sessions.get(&sid, None, Touch::Skip).await,
    );
    assert!(sessions.record_checks().refused() > 0);
}

/// A record copied under another key (one's own session's, or an absent
/// one) does not open: the MAC binds a record to its key.
pub async fn hostile_a_record_copied_from_another_key_is_not_served(f: Fixture) {
    let (sessions, _clock) = service(&f, false);
    let victim = sessions.create(login("bob"), None).await.expect("bob");
    let own = sessions.create(login("alice"), None).await.expect("alice");
    let victims_record = (f.raw.read)(victim.id)
        .await
        .expect("bob's record is stored");
    assert!((f.raw.write)(own.id, victims_record.clone()).await);
    refused(
        "bob's record under alice's key",
        sessions
            .get(own.sid.expose_secret(), None, Touch::Yes)
            .await,
    );
    // A copy of alice's own session under a second key of alice's: the same.
    let second = sessions
        .create(login("alice"), None)
        .await
        .expect("alice 2");
    let first = (f.raw.read)(second.id).await.expect("stored");
    let third = sessions
        .create(login("alice"), None)
        .await
        .expect("alice 3");
    assert!((f.raw.write)(third.id, first).await);
    refused(
        "alice's record under another of her keys",
        sessions
            .get(third.sid.expose_secret(), None, Touch::Skip)
            .await,
    );
    // Bob's own session is untouched.
    let bob = sessions
        .get(victim.sid.expose_secret(), None, Touch::Skip)
        .await
        .expect("bob still reads his session");
    assert_eq!(bob.session.subject.as_str(), "bob");
}

/// A claim nested 10,000 levels deep is refused before any parser runs:
/// no stack overflow in a debug build, and the store still answers.
pub async fn hostile_deep_nesting_is_refused_without_a_crash(f: Fixture) {
    let (sessions, _clock) = service(&f, true);
    let (new, sid, read) = logged_in(&sessions, "alice").await;
    for depth in [200, 10_000] {
        assert!((f.raw.write)(new.id, (f.raw.encode_nested)(&read, depth)).await);
        refused("nested value", sessions.get(&sid, None, Touch::Yes).await);
        let listed = sessions
            .list(&Subject::new("alice").expect("valid"), None)
            .await;
        assert!(
            listed.is_ok_and(|l| l.iter().all(|s| s.id != new.id)),
            "a listing skips the nested value"
        );
        sessions.count().await.expect("count survives it");
        sessions.purge().await.expect("purge survives it");
    }
    // Nesting the API itself accepts (a few levels) still works.
    assert!((f.raw.write)(new.id, (f.raw.encode_nested)(&read, 3)).await);
    refused(
        "a claim added without the keys",
        sessions.get(&sid, None, Touch::Skip).await,
    );
    let fresh = sessions.create(login("alice"), None).await.expect("login");
    sessions
        .get(fresh.sid.expose_secret(), None, Touch::Yes)
        .await
        .expect("the store still serves good sessions");
}

/// A value over [`MAX_RECORD_BYTES`](crate::backend::record::MAX_RECORD_BYTES) is
/// refused, not decoded.
pub async fn hostile_a_value_over_the_size_cap_is_refused(f: Fixture) {
    let (sessions, _clock) = service(&f, true);
    let (new, sid, mut big) = logged_in(&sessions, "alice").await;
    big.data.insert(
        "padding".into(),
        Value::from("x".repeat(crate::backend::record::MAX_RECORD_BYTES)),
    );
    if !(f.raw.write)(new.id, (f.raw.encode)(&big)).await {
        // The backend refuses values this large itself (DynamoDB).
        return;
    }
    refused(
        "oversized value",
        sessions.get(&sid, None, Touch::Yes).await,
    );
    sessions.count().await.expect("count survives it");
}

/// A record cut short is refused.
pub async fn hostile_a_truncated_record_is_not_served(f: Fixture) {
    let (sessions, _clock) = service(&f, true);
    let new = sessions.create(login("alice"), None).await.expect("login");
    let sid = new.sid.expose_secret().to_owned();
    let whole = (f.raw.read)(new.id).await.expect("stored");
    for keep in [whole.len() / 2, whole.len() - 1, 3] {
        assert!((f.raw.write)(new.id, whole[..keep].to_vec()).await);
        refused(
            "truncated record",
            sessions.get(&sid, None, Touch::Yes).await,
        );
    }
}

/// A value of a format this build does not know is left alone and not
/// served.
pub async fn hostile_an_unknown_format_is_not_served(f: Fixture) {
    let (sessions, _clock) = service(&f, true);
    let new = sessions.create(login("alice"), None).await.expect("login");
    (f.newer)(new.id).await;
    match sessions
        .get(new.sid.expose_secret(), None, Touch::Yes)
        .await
    {
        Err(SessionsError::Store(StoreError::UnsupportedFormat { .. })) => {}
        other => panic!("expected a newer format, left alone; got {other:?}"),
    }
}

/// A record without a MAC (what Tessera 0.1 wrote) is served while
/// unsigned records are accepted, and signed at its next update; once they
/// are refused, an unsigned record is refused like a forged one.
pub async fn hostile_an_unsigned_record_is_served_only_in_the_upgrade_window(f: Fixture) {
    let (upgrading, _c1) = service(&f, true);
    let (closed, _c2) = service(&f, false);
    let (new, sid, mut old) = logged_in(&upgrading, "alice").await;
    old.record_mac = None;
    assert!((f.raw.write)(new.id, (f.raw.encode)(&old)).await);

    refused(
        "unsigned, window closed",
        closed.get(&sid, None, Touch::Skip).await,
    );
    let served = upgrading
        .get(&sid, None, Touch::Yes)
        .await
        .expect("served during the upgrade window");
    assert_eq!(served.session.data.get("cart"), Some(&Value::from(3)));
    assert!(upgrading.record_checks().unsigned() >= 1);

    // The next update signs it; then the closed window serves it too.
    upgrading
        .update(&sid, None, None, crate::SessionChanges::default())
        .await
        .expect("an update of an unsigned record");
    let signed = closed
        .get(&sid, None, Touch::Skip)
        .await
        .expect("signed at its update");
    assert!(signed.session.record_mac.is_some());

    // A writer who strips the MAC again is refused once the window is closed.
    let mut stripped = signed.session;
    stripped.record_mac = None;
    stripped.max_life = Lifetime::Unlimited;
    assert!((f.raw.write)(new.id, (f.raw.encode)(&stripped)).await);
    refused("stripped MAC", closed.get(&sid, None, Touch::Skip).await);
}

/// Altered records still sit in their subject's index, where a store
/// decides the quota without the keys, so they can hold quota slots. A
/// subject-wide revoke (`DELETE /sessions?subject=`) removes them, after
/// which the subject logs in again.
pub async fn hostile_a_forged_record_blocks_no_login_after_a_subject_revoke(f: Fixture) {
    let (plain, clock) = service(&f, false);
    let sessions = Sessions::new(
        Arc::clone(&f.store),
        SessionsConfig {
            policy: policy(1, OnQuotaExhaustion::DenyLogin),
            accept_unsigned_records: false,
            ..SessionsConfig::default()
        },
        &keys(),
        clock,
        Arc::new(SeededRandom::new(b"hostile quota")),
    );
    drop(plain);
    let (new, sid, mut forged) = logged_in(&sessions, "carol").await;
    forged.max_life = Lifetime::Unlimited;
    forged.max_idle = Lifetime::Unlimited;
    assert!((f.raw.write)(new.id, (f.raw.encode)(&forged)).await);
    refused("forged", sessions.get(&sid, None, Touch::Skip).await);

    let carol = Subject::new("carol").expect("valid");
    // Whatever the store made of it, the revoke clears the way.
    let _ = sessions.create(login("carol"), None).await;
    sessions
        .end_all(&carol, None)
        .await
        .expect("a subject-wide revoke");
    let again = sessions
        .create(login("carol"), None)
        .await
        .expect("carol logs in after the revoke");
    sessions
        .get(again.sid.expose_secret(), None, Touch::Yes)
        .await
        .expect("and her new session is served");
    assert!(
        matches!(
            sessions.get(&sid, None, Touch::Skip).await,
            Err(SessionsError::Store(StoreError::NotFound))
        ),
        "the revoke removed the forged record"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn nested_records_are_built_as_bytes() {
        let now = tessera_core::Timestamp::from_secs(1_700_000_000);
        let s = super::super::session("a", "web", now, 60, 60, 60);
        let bytes = super::super::nested_record(&s, 10_000);
        assert!(bytes.windows(3).any(|w| w == b"[[["));
        assert!(crate::backend::record::decode(&bytes).is_err());
    }
}
