//! One function per behaviour of the [`SessionStore`] contract.
//!
//! Each takes a fresh [`Fixture`] and panics (like an `assert!`) when the
//! store breaks the contract.

// Sessions named a, b, c... read best in these scenarios.
#![allow(clippy::many_single_char_names)]

use std::collections::BTreeSet;
use std::sync::Arc;

use tessera_core::{Context, OnQuotaExhaustion, Subject, Timestamp};

use super::{Fixture, legacy_ref, policy, session, session_ref};
use crate::testkit::MockClock;
use crate::{Clock, Imported, SessionStore, StoreError, SystemClock, Touch};

const MIN: i64 = 60_000;

/// The suite's clock starts at the real time (whole seconds), so backends
/// with native expiry (Redis `PEXPIREAT`) see plausible instants, and then
/// only moves when a behaviour advances it.
fn clock() -> MockClock {
    MockClock::new(Timestamp::from_secs(SystemClock.now().as_secs()))
}

fn subject(name: &str) -> Subject {
    Subject::new(name).expect("valid subject")
}

/// Create, get, delete; a deleted session is gone for good.
pub async fn create_get_delete_round_trip(f: Fixture) {
    let clock = clock();
    let now = clock.now();
    let s = session("alice", "web", now, 60, 60, 30);
    let id = session_ref("alice");
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let created = f.store.create(&id, &s, &p, now).await.expect("create");
    assert!(created.closed.is_empty());
    assert_eq!(f.store.get(&id, now).await.expect("get"), Some(s.clone()));
    let touched = f
        .store
        .get_and_touch(&id, now, Touch::Yes)
        .await
        .expect("touch");
    assert_eq!(touched.as_ref().map(|t| t.version), Some(1));
    assert_eq!(f.store.delete(&id, now).await.expect("delete"), Some(s));
    assert_eq!(f.store.get(&id, now).await.expect("get after delete"), None);
    assert_eq!(f.store.delete(&id, now).await.expect("second delete"), None);
    assert_eq!(
        f.store
            .get_and_touch(&id, now, Touch::Yes)
            .await
            .expect("touch"),
        None
    );
}

/// A second create under the same key fails and changes nothing.
pub async fn create_is_create_if_absent(f: Fixture) {
    let now = clock().now();
    let id = session_ref("alice");
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let first = session("alice", "web", now, 60, 60, 30);
    f.store.create(&id, &first, &p, now).await.expect("create");
    let second = session("alice", "other", now, 5, 5, 5);
    let err = f
        .store
        .create(&id, &second, &p, now)
        .await
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::AlreadyExists), "{err:?}");
    assert_eq!(f.store.get(&id, now).await.expect("get"), Some(first));
}

async fn visible(store: &Arc<dyn SessionStore>, id: &crate::SessionRef, now: Timestamp) -> bool {
    store.get(id, now).await.expect("get").is_some()
}

/// `max_life` ends the session at creation + max_life, touches or not.
pub async fn max_life_ends_the_session(f: Fixture) {
    let clock = clock();
    let id = session_ref("alice");
    let s = session("alice", "web", clock.now(), 10, -1, -1);
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    f.store
        .create(&id, &s, &p, clock.now())
        .await
        .expect("create");
    clock.advance_minutes(9);
    assert!(
        f.store
            .get_and_touch(&id, clock.now(), Touch::Yes)
            .await
            .expect("touch")
            .is_some()
    );
    clock.advance_millis(MIN - 1);
    assert!(
        visible(&f.store, &id, clock.now()).await,
        "alive 1 ms before max_life"
    );
    clock.advance_millis(1);
    assert!(
        !visible(&f.store, &id, clock.now()).await,
        "ended at max_life"
    );
    assert!(
        f.store
            .get_and_touch(&id, clock.now(), Touch::Yes)
            .await
            .expect("touch")
            .is_none()
    );
}

/// `auth_life` ends the session at auth_time + auth_life.
pub async fn auth_life_ends_the_session(f: Fixture) {
    let clock = clock();
    let id = session_ref("alice");
    let mut s = session("alice", "web", clock.now(), -1, 10, -1);
    s.auth_time = Timestamp::from_millis(clock.now().as_millis() - 4 * MIN);
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    f.store
        .create(&id, &s, &p, clock.now())
        .await
        .expect("create");
    clock.advance_minutes(5);
    assert!(visible(&f.store, &id, clock.now()).await);
    clock.advance_minutes(1);
    assert!(
        !visible(&f.store, &id, clock.now()).await,
        "ended at auth_time + auth_life"
    );
}

/// `max_idle` ends an unused session at last_used + max_idle.
pub async fn idle_time_ends_the_session(f: Fixture) {
    let clock = clock();
    let id = session_ref("alice");
    let s = session("alice", "web", clock.now(), -1, -1, 10);
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    f.store
        .create(&id, &s, &p, clock.now())
        .await
        .expect("create");
    clock.advance_millis(10 * MIN - 1);
    assert!(visible(&f.store, &id, clock.now()).await);
    clock.advance_millis(1);
    assert!(
        !visible(&f.store, &id, clock.now()).await,
        "ended after max_idle unused"
    );
}

/// A touch moves the idle expiry to now + max_idle.
pub async fn touch_moves_idle_expiry(f: Fixture) {
    let clock = clock();
    let id = session_ref("alice");
    let s = session("alice", "web", clock.now(), -1, -1, 10);
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    f.store
        .create(&id, &s, &p, clock.now())
        .await
        .expect("create");
    for _ in 0..3 {
        clock.advance_minutes(9);
        let t = f
            .store
            .get_and_touch(&id, clock.now(), Touch::Yes)
            .await
            .expect("touch");
        let t = t.expect("still alive after 9 idle minutes");
        assert_eq!(
            t.last_used,
            clock.now(),
            "touch returns the touched session"
        );
        assert_eq!(t.version, 1, "touching does not change the version");
    }
    clock.advance_minutes(9);
    assert!(
        visible(&f.store, &id, clock.now()).await,
        "27 minutes in, idle 9"
    );
    clock.advance_minutes(1);
    assert!(
        !visible(&f.store, &id, clock.now()).await,
        "idle 10 after the last touch"
    );
}

/// A read with [`Touch::Skip`] does not count as use.
pub async fn skip_touch_leaves_idle_expiry(f: Fixture) {
    let clock = clock();
    let id = session_ref("alice");
    let s = session("alice", "web", clock.now(), -1, -1, 10);
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    f.store
        .create(&id, &s, &p, clock.now())
        .await
        .expect("create");
    clock.advance_minutes(9);
    let read = f
        .store
        .get_and_touch(&id, clock.now(), Touch::Skip)
        .await
        .expect("read");
    assert_eq!(read.expect("alive").last_used, s.last_used);
    clock.advance_minutes(1);
    assert!(
        !visible(&f.store, &id, clock.now()).await,
        "skip-touch did not extend"
    );
}

/// Update is compare-and-set on the version.
pub async fn update_is_compare_and_set(f: Fixture) {
    let clock = clock();
    let now = clock.now();
    let id = session_ref("alice");
    let s = session("alice", "web", now, 10, -1, -1);
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    f.store.create(&id, &s, &p, now).await.expect("create");

    let mut changed = s.clone();
    changed.data.insert("k".into(), serde_json::Value::from(1));
    let v2 = f.store.update(&id, &changed, now).await.expect("update");
    assert_eq!(v2.version, 2);
    assert_eq!(v2.data["k"], 1);
    assert_eq!(f.store.get(&id, now).await.expect("get"), Some(v2.clone()));

    let err = f.store.update(&id, &changed, now).await.expect_err("stale");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
    assert_eq!(f.store.get(&id, now).await.expect("get"), Some(v2.clone()));

    let missing = session_ref("alice");
    let err = f
        .store
        .update(&missing, &changed, now)
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    clock.advance_minutes(10);
    let err = f
        .store
        .update(&id, &v2, clock.now())
        .await
        .expect_err("expired");
    assert!(
        matches!(err, StoreError::Expired | StoreError::NotFound),
        "{err:?}"
    );
    assert!(
        !visible(&f.store, &id, clock.now()).await,
        "update did not revive it"
    );
}

/// An update that would change the subject or the context is refused
/// naming the field, and changes nothing: not the record, not the index.
pub async fn update_never_changes_subject_or_context(f: Fixture) {
    let now = clock().now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let id = session_ref("nora");
    let v1 = session("nora", "web", now, 60, 60, 60);
    f.store.create(&id, &v1, &p, now).await.expect("create");

    let mut moved = v1.clone();
    moved.context = Context::new("mobile").expect("context");
    moved.data.insert("note".into(), "moved".into());
    let mut renamed = v1.clone();
    renamed.subject = subject("olaf");
    renamed.data.insert("note".into(), "renamed".into());
    for (next, field) in [(&moved, "ctx"), (&renamed, "sub")] {
        let err = f
            .store
            .update(&id, next, now)
            .await
            .expect_err("an update that changes sub or ctx");
        match &err {
            StoreError::Invalid(e) => assert_eq!(e.field(), field, "{err:?}"),
            other => panic!("expected Invalid naming {field}, got {other:?}"),
        }
    }
    let stored = f
        .store
        .get(&id, now)
        .await
        .expect("get")
        .expect("still there");
    assert_eq!(
        (
            stored.subject.as_str(),
            stored.context.as_str(),
            stored.version
        ),
        ("nora", "web", 1),
        "nothing changed"
    );
    assert_eq!(stored.data["note"], "conformance");
    let listed = |name: &'static str| {
        let store = Arc::clone(&f.store);
        async move {
            store
                .list_by_subject(&subject(name), None, now)
                .await
                .expect("list")
                .len()
        }
    };
    assert_eq!(listed("nora").await, 1);
    assert_eq!(
        listed("olaf").await,
        0,
        "no index entry under the new subject"
    );

    let mut fine = v1.clone();
    fine.data.insert("note".into(), "updated".into());
    let v2 = f
        .store
        .update(&id, &fine, now)
        .await
        .expect("a real update");
    assert_eq!(v2.version, 2);
}

/// Deleting a record that cannot be decoded removes it and answers "there
/// was no live session": a logout always ends what is under its SID.
pub async fn deleting_a_corrupt_record_removes_it(f: Fixture) {
    let now = clock().now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let bad = session_ref("pia");
    let good = session_ref("pia");
    for id in [&bad, &good] {
        f.store
            .create(id, &session("pia", "web", now, 60, 60, 60), &p, now)
            .await
            .expect("create");
    }
    (f.corrupt)(bad).await;
    assert!(
        f.store
            .delete(&bad, now)
            .await
            .expect("a corrupt record is deleted, not an error")
            .is_none(),
        "nothing live to return"
    );
    assert!(
        f.store.get(&bad, now).await.expect("get").is_none(),
        "the damaged record is gone"
    );
    let listed = f
        .store
        .list_by_subject(&subject("pia"), None, now)
        .await
        .expect("the subject's list reads past the removed record");
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![good],
        "only the intact session is listed"
    );
    assert!(visible(&f.store, &good, now).await, "others are unaffected");
}

/// DENY_LOGIN refuses the login beyond the quota, across contexts.
pub async fn quota_deny_login(f: Fixture) {
    let now = clock().now();
    let p = policy(2, OnQuotaExhaustion::DenyLogin);
    let a = session_ref("alice");
    let b = session_ref("alice");
    f.store
        .create(&a, &session("alice", "web", now, 60, 60, 60), &p, now)
        .await
        .expect("1st");
    f.store
        .create(&b, &session("alice", "mobile", now, 60, 60, 60), &p, now)
        .await
        .expect("2nd");
    let c = session_ref("alice");
    let err = f
        .store
        .create(&c, &session("alice", "web", now, 60, 60, 60), &p, now)
        .await
        .expect_err("3rd is over the quota");
    assert!(
        matches!(err, StoreError::QuotaExhausted { quota: 2 }),
        "{err:?}"
    );
    assert!(visible(&f.store, &a, now).await && visible(&f.store, &b, now).await);
    assert!(
        !visible(&f.store, &c, now).await,
        "a denied login stores nothing"
    );
    // Another subject is not affected.
    let bob = session_ref("bob");
    f.store
        .create(&bob, &session("bob", "web", now, 60, 60, 60), &p, now)
        .await
        .expect("bob");
    // Room again after a logout.
    f.store.delete(&a, now).await.expect("delete");
    f.store
        .create(&c, &session("alice", "web", now, 60, 60, 60), &p, now)
        .await
        .expect("fits");
}

/// CLOSE_OLD_SESSION closes exactly the next-expiring session, idle expiry
/// included.
pub async fn quota_close_old_session_closes_next_expiring(f: Fixture) {
    let clock = clock();
    let p = policy(3, OnQuotaExhaustion::CloseOldSession);
    let (a, b, c) = (
        session_ref("alice"),
        session_ref("alice"),
        session_ref("alice"),
    );
    let t0 = clock.now();
    // Expiries: a at +60 (idle), b at +30 (idle), c at +90 (idle).
    f.store
        .create(&a, &session("alice", "web", t0, -1, -1, 60), &p, t0)
        .await
        .expect("a");
    f.store
        .create(&b, &session("alice", "web", t0, -1, -1, 30), &p, t0)
        .await
        .expect("b");
    f.store
        .create(&c, &session("alice", "m", t0, -1, -1, 90), &p, t0)
        .await
        .expect("c");
    clock.advance_minutes(20);
    // b used now: its expiry moves to +50, still the next to expire.
    f.store
        .get_and_touch(&b, clock.now(), Touch::Yes)
        .await
        .expect("touch")
        .expect("b");
    let now = clock.now();
    let d = session_ref("alice");
    let created = f
        .store
        .create(&d, &session("alice", "web", now, -1, -1, 120), &p, now)
        .await
        .expect("d");
    assert_eq!(
        created.closed,
        vec![b],
        "b (expiring at +50) is the next to expire"
    );
    assert!(!visible(&f.store, &b, now).await);
    // Now a (+60) is next; touching it at +20 moved nothing since it was
    // not touched. Touch a now: it moves to +80, so c (+90)... no, a is
    // then +80 and c +90, d +140: a is still next.
    let e = session_ref("alice");
    let created = f
        .store
        .create(&e, &session("alice", "web", now, -1, -1, 120), &p, now)
        .await
        .expect("e");
    assert_eq!(created.closed, vec![a]);
    for (id, alive) in [(a, false), (b, false), (c, true), (d, true), (e, true)] {
        assert_eq!(visible(&f.store, &id, now).await, alive);
    }
    let listed = f
        .store
        .list_by_subject(&subject("alice"), None, now)
        .await
        .expect("list");
    assert_eq!(listed.len(), 3);
}

/// Expired sessions never count toward the quota.
pub async fn expired_sessions_do_not_count_toward_quota(f: Fixture) {
    let clock = clock();
    let t0 = clock.now();
    for rule in [
        OnQuotaExhaustion::DenyLogin,
        OnQuotaExhaustion::CloseOldSession,
    ] {
        let who = format!("carol-{}", rule.as_str());
        let p = policy(2, rule);
        let short = session_ref(&who);
        let long = session_ref(&who);
        let start = clock.now();
        f.store
            .create(&short, &session(&who, "web", start, 5, -1, -1), &p, start)
            .await
            .expect("1");
        f.store
            .create(&long, &session(&who, "web", start, 600, -1, -1), &p, start)
            .await
            .expect("2");
        clock.advance_minutes(5);
        let now = clock.now();
        let new = session_ref(&who);
        let created = f
            .store
            .create(&new, &session(&who, "web", now, 60, -1, -1), &p, now)
            .await
            .expect("the expired session leaves room");
        assert!(
            created.closed.is_empty(),
            "nothing live had to be closed: {:?}",
            created.closed
        );
        assert!(visible(&f.store, &long, now).await);
    }
    assert!(clock.now() > t0);
}

async fn concurrent_creates(f: Fixture, rule: OnQuotaExhaustion) {
    const TASKS: usize = 32;
    const QUOTA: usize = 5;
    let now = clock().now();
    let p = policy(i64::try_from(QUOTA).expect("small"), rule);
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let store = Arc::clone(&f.store);
        tasks.push(tokio::spawn(async move {
            let s = session(
                "dave",
                if i % 2 == 0 { "web" } else { "app" },
                now,
                60,
                60,
                60,
            );
            store.create(&session_ref("dave"), &s, &p, now).await
        }));
    }
    let (mut ok, mut denied) = (0, 0);
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::QuotaExhausted { .. }) => denied += 1,
            Err(e) => panic!("unexpected error under contention: {e:?}"),
        }
    }
    let live = f
        .store
        .list_by_subject(&subject("dave"), None, now)
        .await
        .expect("list");
    assert!(
        live.len() <= QUOTA,
        "{} sessions alive, quota {QUOTA}",
        live.len()
    );
    match rule {
        OnQuotaExhaustion::DenyLogin => {
            assert_eq!((ok, denied), (QUOTA, TASKS - QUOTA));
            assert_eq!(live.len(), QUOTA);
        }
        OnQuotaExhaustion::CloseOldSession => {
            assert_eq!((ok, denied), (TASKS, 0));
            assert_eq!(live.len(), QUOTA);
        }
    }
    assert_eq!(f.store.count(now).await.expect("count"), QUOTA as u64);
}

/// 32 concurrent logins under DENY_LOGIN: exactly the quota gets in.
pub async fn concurrent_creates_never_exceed_quota_deny(f: Fixture) {
    concurrent_creates(f, OnQuotaExhaustion::DenyLogin).await;
}

/// 32 concurrent logins under CLOSE_OLD_SESSION: all get in, the quota
/// stays alive.
pub async fn concurrent_creates_never_exceed_quota_close(f: Fixture) {
    concurrent_creates(f, OnQuotaExhaustion::CloseOldSession).await;
}

/// Concurrent updates with the same version: exactly one wins.
pub async fn concurrent_updates_exactly_one_wins(f: Fixture) {
    let now = clock().now();
    let id = session_ref("erin");
    let s = session("erin", "web", now, 60, 60, 60);
    f.store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), now)
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&f.store);
        let mut next = s.clone();
        next.data
            .insert("writer".into(), serde_json::Value::from(i));
        tasks.push(tokio::spawn(
            async move { store.update(&id, &next, now).await },
        ));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(s) => winners.push(s),
            Err(StoreError::Conflict { expected: 1, .. }) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one update wins");
    let stored = f.store.get(&id, now).await.expect("get").expect("alive");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.data["writer"], winners[0].data["writer"]);
}

/// The subject index lists and deletes by subject and context.
pub async fn list_and_delete_by_subject_and_context(f: Fixture) {
    let clock = clock();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let mut alice_web = Vec::new();
    for _ in 0..2 {
        let id = session_ref("alice");
        let now = clock.now();
        f.store
            .create(&id, &session("alice", "web", now, 60, 60, 60), &p, now)
            .await
            .expect("web");
        alice_web.push(id);
        clock.advance_millis(1_000);
    }
    let now = clock.now();
    let mobile = session_ref("alice");
    f.store
        .create(
            &mobile,
            &session("alice", "mobile", now, 60, 60, 60),
            &p,
            now,
        )
        .await
        .expect("m");
    let bob = session_ref("bob");
    f.store
        .create(&bob, &session("bob", "web", now, 60, 60, 60), &p, now)
        .await
        .expect("bob");

    let all = f
        .store
        .list_by_subject(&subject("alice"), None, now)
        .await
        .expect("list");
    let ids: Vec<_> = all.iter().map(|s| s.id).collect();
    assert_eq!(
        ids,
        vec![alice_web[0], alice_web[1], mobile],
        "ordered by creation"
    );
    assert!(all.iter().all(|s| s.session.subject.as_str() == "alice"));
    let ctx = Context::new("mobile").expect("ctx");
    let only = f
        .store
        .list_by_subject(&subject("alice"), Some(&ctx), now)
        .await
        .expect("list");
    assert_eq!(only.iter().map(|s| s.id).collect::<Vec<_>>(), vec![mobile]);
    let nobody = f
        .store
        .list_by_subject(&subject("nobody"), None, now)
        .await
        .expect("list");
    assert!(nobody.is_empty());

    let web = Context::default();
    let deleted = f
        .store
        .delete_by_subject(&subject("alice"), Some(&web), now)
        .await
        .expect("del");
    assert_eq!(
        deleted.into_iter().collect::<BTreeSet<_>>(),
        alice_web.iter().copied().collect()
    );
    for id in &alice_web {
        assert!(!visible(&f.store, id, now).await);
    }
    assert!(visible(&f.store, &mobile, now).await);
    let deleted = f
        .store
        .delete_by_subject(&subject("alice"), None, now)
        .await
        .expect("del");
    assert_eq!(deleted, vec![mobile]);
    assert!(
        f.store
            .list_by_subject(&subject("alice"), None, now)
            .await
            .expect("l")
            .is_empty()
    );
    assert!(
        visible(&f.store, &bob, now).await,
        "other subjects are untouched"
    );
}

/// Delete removes the index entry too.
pub async fn delete_really_deletes(f: Fixture) {
    let now = clock().now();
    let p = policy(1, OnQuotaExhaustion::DenyLogin);
    let id = session_ref("frank");
    f.store
        .create(&id, &session("frank", "web", now, 60, 60, 60), &p, now)
        .await
        .expect("c");
    f.store
        .delete(&id, now)
        .await
        .expect("delete")
        .expect("was live");
    assert!(
        f.store
            .list_by_subject(&subject("frank"), None, now)
            .await
            .expect("l")
            .is_empty()
    );
    let report = f.store.purge(now).await.expect("purge");
    assert_eq!(report.index_entries, 0, "delete left an index entry behind");
    // The quota of 1 is free again.
    let again = session_ref("frank");
    f.store
        .create(&again, &session("frank", "web", now, 60, 60, 60), &p, now)
        .await
        .expect("c");
}

/// Purge removes expired sessions and their index entries, and counts them.
pub async fn purge_counts(f: Fixture) {
    let clock = clock();
    let now = clock.now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    for who in ["gina", "gina", "hank"] {
        let s = session(who, "web", now, 5, -1, -1);
        f.store
            .create(&session_ref(who), &s, &p, now)
            .await
            .expect("short");
    }
    let keep = session_ref("gina");
    f.store
        .create(&keep, &session("gina", "web", now, 60, -1, -1), &p, now)
        .await
        .expect("long");
    clock.advance_minutes(5);
    let report = f.store.purge(clock.now()).await.expect("purge");
    assert_eq!(
        (report.sessions, report.index_entries),
        (3, 3),
        "{report:?}"
    );
    assert_eq!(
        f.store.purge(clock.now()).await.expect("purge"),
        crate::PurgeReport::default()
    );
    assert!(visible(&f.store, &keep, clock.now()).await);
    assert_eq!(f.store.count(clock.now()).await.expect("count"), 1);
}

/// Count sees only live sessions.
pub async fn count_live_sessions(f: Fixture) {
    let clock = clock();
    let now = clock.now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    assert_eq!(f.store.count(now).await.expect("count"), 0);
    for (who, life) in [("ian", 5), ("jane", 60), ("ken", 60)] {
        let s = session(who, "web", now, life, -1, -1);
        f.store
            .create(&session_ref(who), &s, &p, now)
            .await
            .expect("create");
    }
    assert_eq!(f.store.count(now).await.expect("count"), 3);
    clock.advance_minutes(5);
    assert_eq!(f.store.count(clock.now()).await.expect("count"), 2);
}

/// A damaged record is a typed error, not a panic, not "not found", and
/// other sessions are unaffected.
pub async fn corrupt_record_is_a_typed_error(f: Fixture) {
    let now = clock().now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let bad = session_ref("lena");
    let good = session_ref("mike");
    f.store
        .create(&bad, &session("lena", "web", now, 60, 60, 60), &p, now)
        .await
        .expect("c");
    f.store
        .create(&good, &session("mike", "web", now, 60, 60, 60), &p, now)
        .await
        .expect("c");
    (f.corrupt)(bad).await;
    for result in [
        f.store.get(&bad, now).await,
        f.store.get_and_touch(&bad, now, Touch::Yes).await,
    ] {
        let err = result.expect_err("a corrupt record must not read as a session or as absent");
        assert!(
            matches!(
                err,
                StoreError::Corrupt { .. } | StoreError::UnsupportedFormat { .. }
            ),
            "{err:?}"
        );
    }
    let again = f.store.get(&bad, now).await;
    assert!(
        again.is_err(),
        "the damaged record is left in place, not dropped"
    );
    assert!(
        visible(&f.store, &good, now).await,
        "other sessions are unaffected"
    );
}

/// A record written by a newer Tessera (one format ahead) is never changed
/// or deleted by this one: reads, touches, updates, logouts, deletes by
/// subject and quota decisions that would have to look at it fail with
/// [`StoreError::UnsupportedFormat`], and purge passes it by. During a
/// rolling upgrade an older server must not destroy what it cannot read.
pub async fn records_of_a_newer_format_are_left_alone(f: Fixture) {
    let clock = clock();
    let now = clock.now();
    let close = policy(2, OnQuotaExhaustion::CloseOldSession);
    let ahead = session_ref("nora");
    let other = session_ref("nora");
    let s = session("nora", "web", now, 60, 60, 10);
    f.store.create(&ahead, &s, &close, now).await.expect("c");
    f.store
        .create(
            &other,
            &session("nora", "web", now, 60, 60, 10),
            &close,
            now,
        )
        .await
        .expect("c");
    (f.newer)(ahead).await;
    let is_newer = |what: &str, result: Result<(), StoreError>| match result {
        Err(StoreError::UnsupportedFormat { found, supported })
            // The backend's own format numbers (a backend may have a value
            // format of its own): the one found is the next one.
            if found == supported + 1 => {}
        other => panic!("{what}: expected UnsupportedFormat, got {other:?}"),
    };
    let still_there = |what: &'static str| {
        let store = Arc::clone(&f.store);
        async move {
            is_newer(
                &format!("after {what}, a read"),
                store.get(&ahead, now).await.map(drop),
            );
        }
    };

    is_newer("get", f.store.get(&ahead, now).await.map(drop));
    let later = Timestamp::from_millis(now.as_millis() + 5 * MIN);
    is_newer(
        "touch",
        f.store
            .get_and_touch(&ahead, later, Touch::Yes)
            .await
            .map(drop),
    );
    still_there("a touch").await;
    is_newer("update", f.store.update(&ahead, &s, now).await.map(drop));
    still_there("an update").await;
    is_newer("delete", f.store.delete(&ahead, now).await.map(drop));
    still_there("a delete").await;
    is_newer(
        "delete by subject",
        f.store
            .delete_by_subject(&subject("nora"), None, now)
            .await
            .map(drop),
    );
    still_there("a delete by subject").await;
    assert!(
        visible(&f.store, &other, now).await,
        "a refused delete by subject deletes nothing"
    );
    // The quota would close the next-expiring session to admit a third;
    // it cannot decide without reading every one, so the login fails.
    is_newer(
        "create under the quota",
        f.store
            .create(
                &session_ref("nora"),
                &session("nora", "web", now, 60, 60, 10),
                &close,
                now,
            )
            .await
            .map(drop),
    );
    still_there("a create").await;
    assert!(
        visible(&f.store, &other, now).await,
        "a refused create closes nothing"
    );
    // Well past every expiry this build could read off the record.
    let past = Timestamp::from_millis(now.as_millis() + 120 * MIN);
    f.store
        .purge(past)
        .await
        .expect("purge passes the record by");
    still_there("a purge").await;
}

/// A hard expiry before 1970 (an `auth_time` that far back, as an update of
/// the subject's authentication may set) is an instant that has passed,
/// never "no expiry": the session is gone, unlisted, uncounted, and holds no
/// quota slot.
pub async fn a_hard_expiry_before_1970_has_passed(f: Fixture) {
    let now = clock().now();
    let p = policy(1, OnQuotaExhaustion::DenyLogin);
    let id = session_ref("olga");
    let mut s = session("olga", "web", now, -1, 60, -1);
    f.store.create(&id, &s, &p, now).await.expect("create");
    s.auth_time = Timestamp::from_millis(-86_400_000);
    assert!(s.is_expired(now), "core: the session has ended");
    // Whether a store takes the write or refuses it as expired, the
    // session must not outlive it.
    let _ = f.store.update(&id, &s, now).await;
    assert!(!visible(&f.store, &id, now).await, "the session is gone");
    assert!(
        f.store
            .list_by_subject(&subject("olga"), None, now)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(f.store.count(now).await.expect("count"), 0);
    f.store
        .create(
            &session_ref("olga"),
            &session("olga", "web", now, 60, 60, 60),
            &p,
            now,
        )
        .await
        .expect("the ended session holds no quota slot");
}

/// A session whose SID was signed by a key generation the policy no longer
/// holds does not count toward the quota and is never closed to make room;
/// one whose signer is unknown always counts.
pub async fn sessions_of_keys_no_longer_held_hold_no_quota_slot(f: Fixture) {
    use tessera_core::{KeyGeneration, Signers};
    let now = clock().now();
    let (old, new) = (KeyGeneration::new(1), KeyGeneration::new(2));
    let signed = |who: &str, by: Option<KeyGeneration>| {
        let mut s = session(who, "web", now, 60, 60, 60);
        s.signer = by;
        s
    };
    let with = |rule, held: &[KeyGeneration]| {
        let mut p = policy(2, rule);
        p.signers = Signers::new(held.iter().copied()).unwrap_or_default();
        p
    };
    let before = with(OnQuotaExhaustion::DenyLogin, &[old]);
    let dropped = [session_ref("ivy"), session_ref("ivy")];
    for id in &dropped {
        f.store
            .create(id, &signed("ivy", Some(old)), &before, now)
            .await
            .expect("create under the old key");
    }
    // The old key is dropped: its two sessions leave room for two more.
    let deny = with(OnQuotaExhaustion::DenyLogin, &[new]);
    for _ in 0..2 {
        f.store
            .create(&session_ref("ivy"), &signed("ivy", Some(new)), &deny, now)
            .await
            .expect("the old sessions hold no slot");
    }
    assert!(matches!(
        f.store
            .create(&session_ref("ivy"), &signed("ivy", Some(new)), &deny, now)
            .await,
        Err(StoreError::QuotaExhausted { quota: 2 })
    ));
    // Closing makes room among the sessions that count, never the others.
    let close = with(OnQuotaExhaustion::CloseOldSession, &[new]);
    let created = f
        .store
        .create(&session_ref("ivy"), &signed("ivy", Some(new)), &close, now)
        .await
        .expect("create, closing one");
    assert_eq!(created.closed.len(), 1);
    assert!(!dropped.contains(&created.closed[0]));
    for id in &dropped {
        assert!(
            visible(&f.store, id, now).await,
            "not deleted, only not counted"
        );
    }
    // No signer recorded (imported, or stored before signers): counts.
    let unknown = with(OnQuotaExhaustion::DenyLogin, &[new]);
    for _ in 0..2 {
        f.store
            .create(&session_ref("una"), &signed("una", None), &unknown, now)
            .await
            .expect("create");
    }
    assert!(matches!(
        f.store
            .create(
                &session_ref("una"),
                &signed("una", Some(new)),
                &unknown,
                now
            )
            .await,
        Err(StoreError::QuotaExhausted { .. })
    ));
}

/// Ending every session: every subject's live sessions in every context
/// go, with their index entries (the quota slots are free again), expired
/// ones go uncounted, and a record of a newer format is left alone and
/// counted apart. Enough sessions that a store reading a page at a time
/// reads more than one.
pub async fn delete_all_ends_every_session_but_newer_records(f: Fixture) {
    let clock = clock();
    let now = clock.now();
    let deny = policy(1, OnQuotaExhaustion::DenyLogin);
    let mut ids = Vec::new();
    for i in 0..150 {
        let who = format!("user{i}");
        let id = session_ref(&who);
        let ctx = if i % 2 == 0 { "web" } else { "app" };
        f.store
            .create(&id, &session(&who, ctx, now, 60, 60, 60), &deny, now)
            .await
            .expect("create");
        ids.push((who, id));
    }
    // One expired before the revocation, one from a newer Tessera.
    let short = session_ref("brief");
    f.store
        .create(&short, &session("brief", "web", now, 1, 1, 1), &deny, now)
        .await
        .expect("create");
    let ahead = session_ref("nora");
    f.store
        .create(&ahead, &session("nora", "web", now, 60, 60, 60), &deny, now)
        .await
        .expect("create");
    (f.newer)(ahead).await;
    let later = Timestamp::from_millis(now.as_millis() + 2 * MIN);

    let report = f.store.delete_all(later).await.expect("delete_all");
    assert_eq!(report.ended, 150, "{report:?}");
    assert_eq!(report.left, 1, "{report:?}");
    for (who, id) in &ids {
        assert!(
            !visible(&f.store, id, later).await,
            "{who}'s session is gone"
        );
        assert!(
            f.store
                .list_by_subject(&subject(who), None, later)
                .await
                .expect("list")
                .is_empty(),
            "{who}'s index is empty"
        );
    }
    assert!(matches!(
        f.store.get(&ahead, later).await,
        Err(StoreError::UnsupportedFormat { .. })
    ));
    // The quota of 1 admits a new login for each subject again.
    let (who, _) = &ids[0];
    f.store
        .create(
            &session_ref(who),
            &session(who, "web", later, 60, 60, 60),
            &deny,
            later,
        )
        .await
        .expect("the slot is free again");
    assert_eq!(
        f.store.delete_all(later).await.expect("again"),
        crate::RevokeReport { ended: 1, left: 1 }
    );
}

/// An imported session keeps the times it was given; importing it again
/// (even with other content) changes nothing and says so.
pub async fn import_keeps_times_and_is_idempotent(f: Fixture) {
    let clock = clock();
    let created_at = clock.now();
    let mut s = session("alice", "web", created_at, 600, 600, 120);
    clock.advance_minutes(90);
    s.last_used = Timestamp::from_millis(created_at.as_millis() + 60 * MIN);
    s.auth_time = Timestamp::from_millis(created_at.as_millis() + 30 * MIN);
    let now = clock.now();
    let id = session_ref("alice");
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let first = f
        .store
        .import(&id, None, &s, &p, now)
        .await
        .expect("import");
    assert_eq!(first, Imported::Created(crate::Created::default()));
    assert_eq!(f.store.get(&id, now).await.expect("get"), Some(s.clone()));
    // Expiry follows the imported last use: idle 120 min from +60.
    assert!(
        visible(
            &f.store,
            &id,
            Timestamp::from_millis(created_at.as_millis() + 179 * MIN)
        )
        .await
    );

    let mut other = s.clone();
    other
        .data
        .insert("note".into(), serde_json::Value::from("second"));
    let again = f
        .store
        .import(&id, None, &other, &p, now)
        .await
        .expect("again");
    assert_eq!(again, Imported::AlreadyPresent);
    assert_eq!(f.store.get(&id, now).await.expect("get"), Some(s));
    let listed = f
        .store
        .list_by_subject(&subject("alice"), None, now)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert!(
        !visible(
            &f.store,
            &id,
            Timestamp::from_millis(created_at.as_millis() + 180 * MIN)
        )
        .await
    );
}

/// A session that has already ended is skipped: nothing is stored, no
/// quota is spent, no alias is written.
pub async fn import_skips_expired_sessions(f: Fixture) {
    let clock = clock();
    let s = session("alice", "web", clock.now(), 60, 60, 30);
    clock.advance_minutes(30);
    let now = clock.now();
    let (_, key, id) = legacy_ref("alice");
    let p = policy(1, OnQuotaExhaustion::DenyLogin);
    let outcome = f
        .store
        .import(&id, Some(&key), &s, &p, now)
        .await
        .expect("import");
    assert_eq!(outcome, Imported::Expired);
    assert_eq!(f.store.get(&id, now).await.expect("get"), None);
    assert_eq!(f.store.legacy_alias(&key, now).await.expect("alias"), None);
    // The quota of one is still free.
    let fresh = session("alice", "web", now, 60, 60, 30);
    f.store
        .create(&session_ref("alice"), &fresh, &p, now)
        .await
        .expect("quota untouched");
}

/// `DENY_LOGIN` refuses an import beyond the quota and stores nothing.
pub async fn import_applies_the_quota_deny_login(f: Fixture) {
    let now = clock().now();
    let p = policy(2, OnQuotaExhaustion::DenyLogin);
    for _ in 0..2 {
        let s = session("alice", "web", now, 60, 60, 30);
        f.store
            .import(&session_ref("alice"), None, &s, &p, now)
            .await
            .expect("within quota");
    }
    let id = session_ref("alice");
    let s = session("alice", "web", now, 60, 60, 30);
    let err = f
        .store
        .import(&id, None, &s, &p, now)
        .await
        .expect_err("over quota");
    assert!(
        matches!(err, StoreError::QuotaExhausted { quota: 2 }),
        "{err:?}"
    );
    assert_eq!(f.store.get(&id, now).await.expect("get"), None);
}

/// `CLOSE_OLD_SESSION` makes room for an import by closing the subject's
/// next-expiring session, and reports it.
pub async fn import_applies_the_quota_close_old_session(f: Fixture) {
    let now = clock().now();
    let p = policy(2, OnQuotaExhaustion::CloseOldSession);
    let (a, b) = (session_ref("alice"), session_ref("alice"));
    f.store
        .create(&a, &session("alice", "web", now, -1, -1, 60), &p, now)
        .await
        .expect("a");
    f.store
        .create(&b, &session("alice", "web", now, -1, -1, 30), &p, now)
        .await
        .expect("b");
    let (_, key, c) = legacy_ref("alice");
    let outcome = f
        .store
        .import(
            &c,
            Some(&key),
            &session("alice", "web", now, -1, -1, 90),
            &p,
            now,
        )
        .await
        .expect("import");
    assert_eq!(
        outcome,
        Imported::Created(crate::Created { closed: vec![b] })
    );
    assert!(visible(&f.store, &a, now).await);
    assert!(!visible(&f.store, &b, now).await);
    assert!(visible(&f.store, &c, now).await);
}

/// A session imported under a legacy SID is found through its alias, works
/// like any other session, and its alias is forgotten after `max_life`.
pub async fn import_under_a_legacy_sid_is_found_through_its_alias(f: Fixture) {
    let clock = clock();
    let now = clock.now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let (_, key, id) = legacy_ref("bob");
    let (_, unknown, _) = legacy_ref("bob");
    let s = session("bob", "web", now, 60, 60, 30);
    f.store
        .import(&id, Some(&key), &s, &p, now)
        .await
        .expect("import");
    assert_eq!(
        f.store.legacy_alias(&key, now).await.expect("alias"),
        Some(id)
    );
    assert_eq!(
        f.store.legacy_alias(&unknown, now).await.expect("none"),
        None
    );
    // A Tessera-shaped reference with the same storage key but another tag
    // is another session.
    assert_eq!(f.store.get(&id, now).await.expect("get"), Some(s.clone()));
    let listed = f
        .store
        .list_by_subject(&subject("bob"), None, now)
        .await
        .expect("list");
    assert_eq!(listed.iter().map(|l| l.id).collect::<Vec<_>>(), vec![id]);

    let mut changed = s.clone();
    changed
        .data
        .insert("step".into(), serde_json::Value::from(2));
    let updated = f.store.update(&id, &changed, now).await.expect("update");
    assert_eq!(updated.version, 2);
    // Importing again keeps the alias and the updated session.
    assert_eq!(
        f.store
            .import(&id, Some(&key), &s, &p, now)
            .await
            .expect("again"),
        Imported::AlreadyPresent
    );
    assert_eq!(
        f.store.legacy_alias(&key, now).await.expect("alias"),
        Some(id)
    );
    assert_eq!(
        f.store.get(&id, now).await.expect("get").map(|s| s.version),
        Some(2)
    );

    // Keep it alive up to its max_life; the alias lasts exactly as long.
    for _ in 0..2 {
        clock.advance_minutes(25);
        f.store
            .get_and_touch(&id, clock.now(), Touch::Yes)
            .await
            .expect("touch")
            .expect("alive");
    }
    let end = Timestamp::from_millis(now.as_millis() + 60 * MIN);
    assert_eq!(
        f.store
            .legacy_alias(&key, Timestamp::from_millis(end.as_millis() - 1))
            .await
            .expect("alias"),
        Some(id)
    );
    assert_eq!(f.store.legacy_alias(&key, end).await.expect("alias"), None);
    assert_eq!(f.store.delete(&id, end).await.expect("delete"), None);
}
