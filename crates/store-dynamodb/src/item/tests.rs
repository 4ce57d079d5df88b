use tessera_core::{Lifetime, Policy, SessionParams};
use tessera_crypto::{StorageKey, SubjectTag};

use super::*;

fn session(max_life: i64, max_idle: i64) -> Session {
    let mut p = SessionParams::new(Subject::new("alice").unwrap());
    p.max_life = Some(Lifetime::from_minutes("max_life", max_life).unwrap());
    p.auth_life = Some(Lifetime::Unlimited);
    p.max_idle = Some(Lifetime::from_minutes("max_idle", max_idle).unwrap());
    Session::start(
        p,
        &Policy::default(),
        Timestamp::from_millis(1_700_000_000_500),
    )
    .unwrap()
}

fn id() -> SessionRef {
    SessionRef::new(
        SubjectTag::of("alice"),
        StorageKey::from_sid_key_bytes(&[7; 16]),
    )
}

#[test]
fn keys_are_prefixed_and_parse_back() {
    let key = session_key(&id());
    assert!(key.starts_with("s#") && key.len() == 2 + 69, "{key}");
    assert_eq!(session_ref_of_key(&key), Some(id()));
    let index = index_key(&Subject::new("bob").unwrap());
    assert!(index.starts_with("u#") && index.len() == 2 + 64, "{index}");
    assert!(!index.contains("bob"), "the subject is hashed");
}

#[test]
fn ttl_is_the_expiry_rounded_up_to_seconds() {
    assert_eq!(secs_ceil(1_000), 1);
    assert_eq!(secs_ceil(1_001), 2);
    assert_eq!(secs_ceil(-1), 0);
    let s = session(60, 10);
    // Idle expiry: created at ...000.5 s + 600 s.
    assert_eq!(session_ttl(&s), 1_700_000_601);
    let never = session(-1, -1);
    assert_eq!(session_ttl(&never), FOREVER_MS / 1_000);
}

#[test]
fn items_round_trip_and_carry_the_right_helpers() {
    let s = session(60, 10);
    let item = session_item(&id(), &s, hard_expiry_ms(&s)).unwrap();
    assert_eq!(decode_session(&item).unwrap(), s);
    assert!(item.contains_key(MAX_IDLE_SECS) && !item.contains_key(TTL_BASE));
    let unlimited_idle = session(60, -1);
    let item = session_item(&id(), &unlimited_idle, 0).unwrap();
    assert!(!item.contains_key(MAX_IDLE_SECS) && item.contains_key(TTL_BASE));
    assert_eq!(
        number(&item, IDLE_EXPIRY).unwrap(),
        Some(unlimited_idle.last_used.as_millis() + FOREVER_MS)
    );
}

#[test]
fn lu_attribute_moves_last_used_forward_only() {
    let s = session(60, 10);
    let mut item = session_item(&id(), &s, 0).unwrap();
    item.insert(LAST_USED.into(), n(s.last_used.as_millis() + 5));
    assert_eq!(
        decode_session(&item).unwrap().last_used.as_millis(),
        s.last_used.as_millis() + 5
    );
    item.insert(LAST_USED.into(), n(0));
    assert_eq!(decode_session(&item).unwrap().last_used, s.last_used);
}

#[test]
fn oversized_sessions_are_refused() {
    let mut s = session(60, 10);
    s.data.insert(
        "blob".into(),
        serde_json::Value::from("x".repeat(MAX_ITEM_BYTES)),
    );
    let err = session_item(&id(), &s, 0).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooLarge {
                limit: MAX_ITEM_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn damaged_items_are_corrupt() {
    let s = session(60, 10);
    let mut item = session_item(&id(), &s, 0).unwrap();
    item.insert(REC.into(), AttributeValue::S("garbage".into()));
    assert!(matches!(
        decode_session(&item),
        Err(StoreError::Corrupt { .. })
    ));
    item.remove(REC);
    assert!(matches!(
        decode_session(&item),
        Err(StoreError::Corrupt { .. })
    ));
    let mut index = Index::default();
    index.entries.insert(id(), 5);
    let mut item = index.item(&Subject::new("alice").unwrap(), 3);
    assert_eq!(Index::decode(Some(&item)).unwrap().entries, index.entries);
    item.insert(INDEX_SESSIONS.into(), AttributeValue::S("x".into()));
    assert!(Index::decode(Some(&item)).is_err());
}
