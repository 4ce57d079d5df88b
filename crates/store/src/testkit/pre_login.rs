//! Pre-login sessions on every backend: the store's side (no quota, no
//! subject index, otherwise a session like any other) and the login that
//! carries one into a signed-in session, through [`Sessions`] over the
//! fixture's store.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tessera_core::{
    Context, OnQuotaExhaustion, Policy, Session, SessionParams, Subject, Timestamp,
};
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{MasterKeys, RootKey};

use super::{Fixture, MockClock, policy, pre_login_ref, session, session_ref};
use crate::{Clock, Sessions, SessionsConfig, SessionsError, StoreError, SystemClock, Touch};

const MIN: i64 = 60_000;

fn clock() -> Arc<MockClock> {
    Arc::new(MockClock::new(Timestamp::from_secs(
        SystemClock.now().as_secs(),
    )))
}

fn cart(items: &[u32]) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("cart".into(), json!(items));
    data
}

/// `Sessions` over the fixture's store with `policy`, on a mock clock.
fn service(f: &Fixture, policy: Policy) -> (Sessions, Arc<MockClock>) {
    let clock = clock();
    let root =
        RootKey::from_hex("9e4b2f1a7c6d5e3f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5")
            .expect("valid root key");
    let seed = format!("pre-login {:p}", Arc::as_ptr(&f.store));
    let sessions = Sessions::new(
        Arc::clone(&f.store),
        SessionsConfig {
            policy,
            ..SessionsConfig::default()
        },
        &MasterKeys::from_root_keys(&root, &[]),
        clock.clone(),
        Arc::new(SeededRandom::new(seed.as_bytes())),
    );
    (sessions, clock)
}

fn alice(data: Map<String, Value>) -> SessionParams {
    let mut p = SessionParams::new(Subject::new(super::unique("alice")).expect("valid subject"));
    p.data = data;
    p
}

/// The store's side: create-if-absent, no quota, no index entry; read,
/// touch, update, delete, count, expiry and revocation as for any session.
#[expect(
    clippy::too_many_lines,
    reason = "one pre-login session's story, told in order"
)]
pub async fn pre_login_sessions_have_no_quota_and_no_index(f: Fixture) {
    let clock = clock();
    let now = clock.now();
    let defaults = Policy::default();
    let s = Session::start_anonymous(Context::default(), None, None, cart(&[1]), &defaults, now)
        .expect("pre-login session");
    assert_eq!(s.max_idle, defaults.pre_login.max_idle);
    let id = pre_login_ref();
    f.store
        .create_anonymous(&id, &s, now)
        .await
        .expect("create pre-login");
    let again = f.store.create_anonymous(&id, &s, now).await;
    assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
    let signed_in = session("bob", "web", now, 60, 60, 30);
    match f
        .store
        .create_anonymous(&pre_login_ref(), &signed_in, now)
        .await
    {
        Err(StoreError::Invalid(e)) => assert_eq!(e.field(), "sub"),
        other => panic!("a session with a subject is no pre-login session: {other:?}"),
    }
    assert_eq!(f.store.get(&id, now).await.expect("get"), Some(s.clone()));

    // No quota: a subject at a quota of one still signs in, and many
    // pre-login sessions are admitted.
    let one = policy(1, OnQuotaExhaustion::DenyLogin);
    let subject = super::unique("carol");
    let carol = session(&subject, "web", now, 60, 60, 30);
    f.store
        .create(&session_ref(&subject), &carol, &one, now)
        .await
        .expect("a subject's first login");
    let mut others = Vec::new();
    for n in 0..3 {
        let other = Session::start_anonymous(Context::default(), None, None, cart(&[n]), &one, now)
            .expect("pre-login session");
        let other_id = pre_login_ref();
        f.store
            .create_anonymous(&other_id, &other, now)
            .await
            .expect("no quota applies");
        others.push(other_id);
    }
    // No index: nothing lists it, before or after an update.
    let listed = f
        .store
        .list_by_subject(&Subject::anonymous(), None, now)
        .await
        .expect("list");
    assert!(
        listed.is_empty(),
        "pre-login sessions are listed: {listed:?}"
    );
    let mut next = s.clone();
    next.data = cart(&[1, 2]);
    let updated = f.store.update(&id, &next, now).await.expect("update");
    assert_eq!(updated.version, 2);
    assert_eq!(updated.data, cart(&[1, 2]));
    assert!(
        f.store
            .list_by_subject(&Subject::anonymous(), None, now)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(f.store.count(now).await.expect("count") >= 5);

    // A touch moves its idle expiry; its own short idle time ends it.
    let later = Timestamp::from_millis(now.as_millis() + 20 * MIN);
    assert!(
        f.store
            .get_and_touch(&id, later, Touch::Yes)
            .await
            .expect("touch")
            .is_some()
    );
    let idle_end_of_others = Timestamp::from_millis(now.as_millis() + 31 * MIN);
    for other in &others {
        assert_eq!(
            f.store
                .get(other, idle_end_of_others)
                .await
                .expect("get after its idle time"),
            None
        );
    }
    f.store.purge(idle_end_of_others).await.expect("purge");
    assert!(
        f.store
            .get(&id, idle_end_of_others)
            .await
            .expect("the touched one is live")
            .is_some()
    );

    // Deleted, it is gone; revoking everything ends pre-login sessions too.
    assert!(
        f.store
            .delete(&id, idle_end_of_others)
            .await
            .expect("delete")
            .is_some()
    );
    assert_eq!(
        f.store.get(&id, idle_end_of_others).await.expect("get"),
        None
    );
    let last = pre_login_ref();
    f.store
        .create_anonymous(&last, &s, now)
        .await
        .expect("create");
    let report = f.store.delete_all(now).await.expect("delete all");
    assert!(report.ended >= 1);
    assert_eq!(f.store.get(&last, now).await.expect("get"), None);
}

/// The login carries the data (the login's own laid over it) into a new
/// session under a new SID; the pre-login SID is worth nothing after it.
pub async fn pre_login_login_carries_the_data_and_ends_the_old_sid(f: Fixture) {
    let (sessions, _clock) = service(&f, Policy::default());
    let pre = sessions
        .create_anonymous(Context::default(), None, None, cart(&[7]))
        .await
        .expect("pre-login");
    let pre_sid = pre.sid.expose_secret().to_owned();
    assert!(pre.session.is_anonymous());
    let mut changes = crate::SessionChanges::default();
    let mut data = cart(&[7, 8]);
    data.insert("state".into(), json!("oauth-state"));
    changes.data = Some(data);
    sessions
        .update(&pre_sid, None, None, changes)
        .await
        .expect("the cart changes before login");

    let mut own = Map::new();
    own.insert("locale".into(), json!("fr"));
    own.insert("state".into(), json!("used"));
    let params = alice(own);
    let subject = params.subject.clone();
    let new = sessions
        .create_from_anonymous(&pre_sid, params, Some(b"secret"))
        .await
        .expect("login from pre-login");
    let new_sid = new.sid.expose_secret().to_owned();
    assert_ne!(new_sid, pre_sid, "a login mints a new SID");
    assert_eq!(new.session.subject, subject);
    assert_eq!(new.session.data["cart"], json!([7, 8]));
    assert_eq!(new.session.data["locale"], json!("fr"));
    assert_eq!(
        new.session.data["state"],
        json!("used"),
        "the login's data wins"
    );
    let read = sessions
        .get(&new_sid, None, Touch::Skip)
        .await
        .expect("the new SID works");
    assert_eq!(read.session.data, new.session.data);
    assert!(
        sessions
            .open_credentials(&read)
            .expect("open")
            .is_some_and(|c| c.expose_secret() == b"secret")
    );
    match sessions.get(&pre_sid, None, Touch::Skip).await {
        Err(SessionsError::Store(StoreError::NotFound)) => {}
        other => panic!("the pre-login SID must be dead after the login: {other:?}"),
    }
    match sessions
        .create_from_anonymous(&pre_sid, alice(Map::new()), None)
        .await
    {
        Err(SessionsError::Store(StoreError::NotFound)) => {}
        other => panic!("a consumed pre-login SID logs nobody in: {other:?}"),
    }
    let listed = sessions.list(&subject, None).await.expect("list");
    assert_eq!(listed.len(), 1);

    // A signed-in SID is no pre-login session: refused, and left alone.
    match sessions
        .create_from_anonymous(&new_sid, alice(Map::new()), None)
        .await
    {
        Err(SessionsError::Store(StoreError::Invalid(e))) => assert_eq!(e.field(), "SID"),
        other => panic!("a signed-in SID is not carried: {other:?}"),
    }
    assert!(sessions.get(&new_sid, None, Touch::Skip).await.is_ok());
    // Another context's pre-login session is not carried either.
    let mobile = Context::new("mobile").expect("context");
    let other = sessions
        .create_anonymous(mobile, None, None, cart(&[1]))
        .await
        .expect("pre-login");
    match sessions
        .create_from_anonymous(other.sid.expose_secret(), alice(Map::new()), None)
        .await
    {
        Err(SessionsError::WrongContext) => {}
        other => panic!("another context's pre-login session: {other:?}"),
    }
}

/// Of logins racing on one pre-login SID, exactly one succeeds.
pub async fn pre_login_is_consumed_by_one_login_only(f: Fixture) {
    let (sessions, _clock) = service(&f, Policy::default());
    let sessions = Arc::new(sessions);
    let pre = sessions
        .create_anonymous(Context::default(), None, None, cart(&[3]))
        .await
        .expect("pre-login");
    let sid = pre.sid.expose_secret().to_owned();
    let params = alice(Map::new());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (sessions, sid, params) = (Arc::clone(&sessions), sid.clone(), params.clone());
        tasks.push(tokio::spawn(async move {
            sessions.create_from_anonymous(&sid, params, None).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => won += 1,
            Err(SessionsError::Store(StoreError::NotFound)) => {}
            Err(e) => panic!("a losing login fails as not found: {e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one login consumes the pre-login session");
    let listed = sessions.list(&params.subject, None).await.expect("list");
    assert_eq!(listed.len(), 1, "the losers left nothing behind");
}

/// A login the quota refuses keeps the pre-login session, cart and all.
pub async fn pre_login_survives_a_refused_login(f: Fixture) {
    let (sessions, _clock) = service(&f, policy(1, OnQuotaExhaustion::DenyLogin));
    let params = alice(Map::new());
    sessions
        .create(params.clone(), None)
        .await
        .expect("the subject's one session");
    let pre = sessions
        .create_anonymous(Context::default(), None, None, cart(&[5]))
        .await
        .expect("pre-login");
    let sid = pre.sid.expose_secret().to_owned();
    match sessions.create_from_anonymous(&sid, params, None).await {
        Err(SessionsError::Store(StoreError::QuotaExhausted { quota: 1 })) => {}
        other => panic!("the quota refuses the login: {other:?}"),
    }
    let kept = sessions
        .get(&sid, None, Touch::Skip)
        .await
        .expect("the pre-login SID still works");
    assert!(kept.session.is_anonymous());
    assert_eq!(kept.session.data, cart(&[5]));
}
