//! The `Sessions` service on the memory store: SIDs, credentials, contexts,
//! compare-and-set and secrecy.

use std::sync::{Arc, OnceLock};

use tessera_core::{Context, Lifetime, SessionParams, Subject, Timestamp};
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{MasterKeys, SafePassword};
use tessera_store::testkit::MockClock;
use tessera_store::{
    Clock, MemoryStore, SessionChanges, Sessions, SessionsConfig, SessionsError, StoreError, Touch,
};

fn keys() -> &'static MasterKeys {
    static KEYS: OnceLock<MasterKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        MasterKeys::derive(
            &SafePassword::new("service-test-Q7!r2#xLp9zW").unwrap(),
            &[],
        )
    })
}

fn service() -> (Sessions, Arc<MockClock>) {
    let clock = Arc::new(MockClock::new(Timestamp::from_secs(1_800_000_000)));
    let sessions = Sessions::new(
        Arc::new(MemoryStore::new()),
        SessionsConfig::default(),
        keys(),
        clock.clone(),
        Arc::new(SeededRandom::new(b"sessions service tests")),
    );
    (sessions, clock)
}

fn login(subject: &str) -> SessionParams {
    SessionParams::new(Subject::new(subject).unwrap())
}

#[tokio::test]
async fn create_then_get_by_sid_touches() {
    let (sessions, clock) = service();
    let new = sessions.create(login("alice"), None).await.unwrap();
    assert!(new.closed.is_empty());
    clock.advance_minutes(3);
    let got = sessions
        .get(new.sid.expose_secret(), None, Touch::Yes)
        .await
        .unwrap();
    assert_eq!(got.id, new.id);
    assert_eq!(got.session.last_used, clock.now());
    clock.advance_minutes(1);
    let skip = sessions
        .get(new.sid.expose_secret(), None, Touch::Skip)
        .await
        .unwrap();
    assert_eq!(skip.session.last_used, clock.now().plus_millis(-60_000));
}

#[tokio::test]
async fn forged_and_malformed_sids_are_rejected_before_the_store() {
    let (sessions, _) = service();
    let new = sessions.create(login("alice"), None).await.unwrap();
    let sid = new.sid.expose_secret().to_owned();
    let mut forged = sid.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [
        forged.as_str(),
        "",
        "not a sid",
        &sid[..20],
        &"A".repeat(10_000),
    ] {
        let err = sessions.get(bad, None, Touch::Yes).await.unwrap_err();
        assert!(matches!(err, SessionsError::InvalidSid(_)), "{err:?}");
    }
}

#[tokio::test]
async fn credentials_are_sealed_and_opened_only_on_request() {
    let (sessions, _) = service();
    let secret = b"db-password: hunter2-but-longer";
    let new = sessions.create(login("alice"), Some(secret)).await.unwrap();
    let blob = new.session.credentials.clone().expect("sealed");
    assert!(
        !blob.as_bytes().windows(secret.len()).any(|w| w == secret),
        "credentials are not stored in clear"
    );
    let got = sessions
        .get(new.sid.expose_secret(), None, Touch::Skip)
        .await
        .unwrap();
    let opened = sessions
        .open_credentials(&got)
        .unwrap()
        .expect("has credentials");
    assert_eq!(opened.expose_secret(), secret);

    // Bound to its session: moved to another session it does not open.
    let other = sessions.create(login("alice"), None).await.unwrap();
    let mut moved = sessions
        .get(other.sid.expose_secret(), None, Touch::Skip)
        .await
        .unwrap();
    moved.session.credentials = Some(blob);
    let err = sessions.open_credentials(&moved).unwrap_err();
    assert!(matches!(err, SessionsError::Credentials(_)), "{err:?}");
}

#[tokio::test]
async fn a_sid_is_only_valid_in_its_context() {
    let (sessions, _) = service();
    let mut p = login("alice");
    p.context = Context::new("mobile").unwrap();
    let new = sessions.create(p, None).await.unwrap();
    let sid = new.sid.expose_secret();
    let mobile = Context::new("mobile").unwrap();
    assert!(sessions.get(sid, Some(&mobile), Touch::Yes).await.is_ok());
    let err = sessions
        .get(sid, Some(&Context::default()), Touch::Yes)
        .await
        .unwrap_err();
    assert!(matches!(err, SessionsError::WrongContext), "{err:?}");
}

#[tokio::test]
async fn a_sid_in_the_wrong_context_touches_changes_and_ends_nothing() {
    let (sessions, clock) = service();
    let mut p = login("alice");
    p.context = Context::new("mobile").unwrap();
    let new = sessions.create(p, None).await.unwrap();
    let sid = new.sid.expose_secret();
    let web = Context::default();
    clock.advance_minutes(5);

    let err = sessions.get(sid, Some(&web), Touch::Yes).await.unwrap_err();
    assert!(matches!(err, SessionsError::WrongContext), "{err:?}");
    let mut data = serde_json::Map::new();
    data.insert("theme".into(), "dark".into());
    let changes = SessionChanges {
        data: Some(data),
        ..SessionChanges::default()
    };
    let err = sessions
        .update(sid, Some(&web), None, changes.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, SessionsError::WrongContext), "{err:?}");
    let err = sessions.end(sid, Some(&web)).await.unwrap_err();
    assert!(matches!(err, SessionsError::WrongContext), "{err:?}");

    let stored = sessions.get(sid, None, Touch::Skip).await.unwrap();
    assert_eq!(
        stored.session.last_used, new.session.last_used,
        "not touched"
    );
    assert_eq!(stored.session.version, 1, "not updated");

    let mobile = Context::new("mobile").unwrap();
    let touched = sessions.get(sid, Some(&mobile), Touch::Yes).await.unwrap();
    assert_eq!(touched.session.last_used, clock.now());
    let updated = sessions
        .update(sid, Some(&mobile), None, changes)
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert!(sessions.end(sid, Some(&mobile)).await.unwrap().is_some());
    assert!(sessions.end(sid, Some(&mobile)).await.unwrap().is_none());
}

#[tokio::test]
async fn update_with_if_match_is_compare_and_set() {
    let (sessions, _) = service();
    let new = sessions.create(login("alice"), None).await.unwrap();
    let sid = new.sid.expose_secret();
    let mut data = serde_json::Map::new();
    data.insert("theme".into(), "dark".into());
    let changes = SessionChanges {
        data: Some(data),
        ..SessionChanges::default()
    };
    let v2 = sessions
        .update(sid, None, Some(1), changes.clone())
        .await
        .unwrap();
    assert_eq!((v2.version, v2.data["theme"].as_str()), (2, Some("dark")));
    let err = sessions
        .update(sid, None, Some(1), changes.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SessionsError::Store(StoreError::Conflict {
                expected: 1,
                actual: 2
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        sessions
            .update(sid, None, None, changes)
            .await
            .unwrap()
            .version,
        3
    );
    assert_eq!(v2.subject.as_str(), "alice", "subject is not changeable");
}

#[tokio::test]
async fn subject_auth_refresh_updates_every_session() {
    let (sessions, clock) = service();
    let mut p = login("alice");
    p.auth_life = Some(Lifetime::minutes_const(10));
    let a = sessions.create(p.clone(), None).await.unwrap();
    let b = sessions.create(p, None).await.unwrap();
    clock.advance_minutes(8);
    let subject = Subject::new("alice").unwrap();
    let updated = sessions
        .set_subject_auth(&subject, None, Some(Lifetime::minutes_const(30)))
        .await
        .unwrap();
    assert_eq!(updated.len(), 2);
    clock.advance_minutes(20);
    for sid in [&a.sid, &b.sid] {
        let s = sessions
            .get(sid.expose_secret(), None, Touch::Skip)
            .await
            .unwrap();
        assert_eq!(s.session.auth_life, Lifetime::minutes_const(30));
    }
    let future = clock.now().plus_millis(1);
    assert!(
        sessions
            .set_subject_auth(&subject, Some(future), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn ending_sessions_by_sid_by_id_and_by_subject() {
    let (sessions, _) = service();
    let a = sessions.create(login("alice"), None).await.unwrap();
    let b = sessions.create(login("alice"), None).await.unwrap();
    let c = sessions.create(login("alice"), None).await.unwrap();
    assert!(
        sessions
            .end(a.sid.expose_secret(), None)
            .await
            .unwrap()
            .is_some()
    );
    assert!(sessions.end_by_id(&b.id, None).await.unwrap().is_some());
    let subject = Subject::new("alice").unwrap();
    assert_eq!(sessions.end_all(&subject, None).await.unwrap(), vec![c.id]);
    let err = sessions
        .get(c.sid.expose_secret(), None, Touch::Yes)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SessionsError::Store(StoreError::NotFound)),
        "{err:?}"
    );
    assert_eq!(sessions.count().await.unwrap(), 0);
}

#[tokio::test]
async fn debug_output_holds_no_secret() {
    let (sessions, _) = service();
    let new = sessions
        .create(login("alice"), Some(b"top-secret-credential"))
        .await
        .unwrap();
    let sid = new.sid.expose_secret().to_owned();
    let printed = format!("{new:?} {sessions:?}");
    assert!(!printed.contains(&sid), "SID leaked into Debug");
    assert!(
        !printed.contains(&sid[..22]),
        "SID key part leaked into Debug"
    );
    assert!(!printed.contains("top-secret-credential"));
    let err = sessions
        .get("garbage-sid", None, Touch::Yes)
        .await
        .unwrap_err();
    assert!(!format!("{err:?} {err}").contains("garbage-sid"));
}
