//! The conformance suite every [`SessionStore`] runs (feature `testkit`,
//! test-only).
//!
//! A backend's test file calls [`conformance_tests!`](crate::conformance_tests)
//! with an async function returning a fresh, isolated [`Fixture`]; the macro
//! writes one `#[tokio::test]` per behaviour in [`conformance`]. All
//! behaviours are driven by a [`MockClock`], never by sleeping. A new
//! backend is done when the whole suite passes.
//!
//! ```text
//! async fn fixture() -> tessera_store::testkit::Fixture { /* a fresh store */ }
//! tessera_store::conformance_tests!(fixture);
//! ```

mod certificates;
pub mod conformance;
pub mod hostile;
pub mod pre_login;
mod process;

pub use certificates::make_certificates;
pub use process::KillOnDrop;

pub use crate::clock::MockClock;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_core::{
    Context, Lifetime, OnQuotaExhaustion, Policy, Quota, Session, SessionParams, Subject, Timestamp,
};
use tessera_crypto::{StorageKey, SubjectTag};

use crate::{SessionRef, SessionStore};

/// A future returned by [`Fixture::corrupt`].
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A future returning `T`, for the raw accessors of a [`Fixture`].
pub type BoxFutureOf<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How a backend writes a session in its documented layout, without a
/// store: what anyone who can write the backend can produce.
pub type Encoder = fn(&Session) -> Vec<u8>;

/// [`Encoder`] with the claim `deep` replaced by arrays nested `depth`
/// levels deep (built as bytes: no value that deep is ever held).
pub type NestedEncoder = fn(&Session, usize) -> Vec<u8>;

/// What a store writer can do to a backend, bypassing the store: read and
/// write the stored value of a session, and encode a session in the
/// backend's own layout. The hostile-store behaviours
/// ([`hostile`]) use it.
pub struct RawAccess {
    /// The bytes stored for a session (`None` when there are none).
    pub read: Box<dyn Fn(SessionRef) -> BoxFutureOf<Option<Vec<u8>>> + Send + Sync>,
    /// Stores bytes as a session's value; `false` when the backend itself
    /// refuses them (DynamoDB's 400 KB item limit).
    pub write: Box<dyn Fn(SessionRef, Vec<u8>) -> BoxFutureOf<bool> + Send + Sync>,
    /// The backend's encoding of a session.
    pub encode: Encoder,
    /// The same with a claim nested deep.
    pub encode_nested: NestedEncoder,
}

/// [`RawAccess::encode_nested`] for the backends that store
/// [`record`](crate::backend::record)s: a record whose claim `deep` is `depth`
/// nested arrays.
pub fn nested_record(session: &Session, depth: usize) -> Vec<u8> {
    let mut s = session.clone();
    s.claims
        .insert("deep".into(), serde_json::Value::from(NESTED_MARKER));
    let text =
        String::from_utf8(crate::backend::record::encode(&s)).expect("records are JSON text");
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    text.replace(&format!("\"{NESTED_MARKER}\""), &nested)
        .into_bytes()
}

/// The claim value [`nested_record`] and its kind replace.
pub const NESTED_MARKER: &str = "@@nested@@";

/// A fresh store, isolated from every other fixture, and a way to damage
/// one of its records.
pub struct Fixture {
    /// The store under test, empty.
    pub store: Arc<dyn SessionStore>,
    /// Overwrites the stored record of a session with bytes that do not
    /// decode, bypassing the store's API.
    pub corrupt: Box<dyn Fn(SessionRef) -> BoxFuture + Send + Sync>,
    /// Overwrites the stored record of a session with
    /// [`next_format_record`], as a newer Tessera sharing the backend
    /// would have written it, bypassing the store's API and leaving the
    /// rest of what the backend keeps for the session as it was.
    pub newer: Box<dyn Fn(SessionRef) -> BoxFuture + Send + Sync>,
    /// Raw access to the backend, as a store writer has it.
    pub raw: RawAccess,
}

/// A record one format ahead of what this build reads: the
/// `{"format":N` envelope every format keeps, then content this build
/// knows nothing of.
pub fn next_format_record() -> Vec<u8> {
    format!(
        "{{\"format\":{},\"written_by\":\"a newer Tessera\"}}",
        crate::backend::record::FORMAT + 1
    )
    .into_bytes()
}

/// A variable `cargo xtask test` sets for the tests that need a real
/// service (Redis, the DynamoDB emulator, the SQL tool). Missing, it is a
/// clear failure naming the variable, never a silent skip.
///
/// # Panics
///
/// When `name` is not set.
#[expect(
    clippy::disallowed_methods,
    reason = "test support: the services' addresses come from the test command's environment"
)]
pub fn service_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the tests that need the real services run with \
             `cargo xtask test`, which installs and starts them and sets it \
             (or `cargo xtask services`, then export what it prints)"
        )
    })
}

/// A name no other test, process or run uses:
/// `<label>-<process id>-<counter>-<nanoseconds>`, for key prefixes,
/// table names and subjects of tests sharing one service.
#[expect(
    clippy::disallowed_methods,
    reason = "test support: the wall clock only makes names unique across runs"
)]
pub fn unique(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{label}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A unique session reference for `subject` (same subject tag as a real
/// SID of that subject would carry).
pub fn session_ref(subject: &str) -> SessionRef {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag = SubjectTag::of(subject);
    let mut key16 = [0u8; 16];
    key16[..2].copy_from_slice(tag.as_bytes());
    key16[2..10].copy_from_slice(&n.to_be_bytes());
    key16[10..14].copy_from_slice(&std::process::id().to_be_bytes());
    SessionRef::new(tag, StorageKey::from_sid_key_bytes(&key16))
}

/// A unique legacy SID (the shape of the tokenizer's `uuid4().hex`) and the
/// reference a session of `subject` imported under it is stored under.
pub fn legacy_ref(subject: &str) -> (String, StorageKey, SessionRef) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let sid = format!(
        "{:016x}{:08x}{:08x}",
        n,
        std::process::id(),
        0x1e6a_c1d5_u32
    );
    let key = StorageKey::from_legacy_sid(&sid);
    (sid, key, SessionRef::new(SubjectTag::of(subject), key))
}

/// A session of `subject` in `context` started at `now`, with the three
/// lifetimes in minutes (negative: unlimited).
pub fn session(
    subject: &str,
    context: &str,
    now: Timestamp,
    max_life: i64,
    auth_life: i64,
    max_idle: i64,
) -> Session {
    let mut p = SessionParams::new(Subject::new(subject).expect("valid subject"));
    p.context = Context::new(context).expect("valid context");
    p.max_life = Some(Lifetime::from_minutes("max_life", max_life).expect("valid"));
    p.auth_life = Some(Lifetime::from_minutes("auth_life", auth_life).expect("valid"));
    p.max_idle = Some(Lifetime::from_minutes("max_idle", max_idle).expect("valid"));
    p.data
        .insert("note".into(), serde_json::Value::from("conformance"));
    Session::start(p, &Policy::default(), now).expect("valid session")
}

/// A unique reference of a pre-login session: a tag of its own (as a
/// pre-login SID carries, unrelated to any subject) and a unique storage
/// key.
pub fn pre_login_ref() -> SessionRef {
    let base = session_ref("pre-login");
    let key = base.storage_key();
    let bytes = key.as_bytes();
    SessionRef::new(SubjectTag::from_bytes([bytes[30] ^ 0x5a, bytes[31]]), key)
}

/// A pre-login session started at `now` holding `data`, with the default
/// policy's pre-login lifetimes.
pub fn pre_login_session(
    now: Timestamp,
    data: serde_json::Map<String, serde_json::Value>,
) -> Session {
    Session::start_anonymous(
        Context::default(),
        None,
        None,
        data,
        &Policy::default(),
        now,
    )
    .expect("valid pre-login session")
}

/// A policy with the given quota and exhaustion rule.
pub fn policy(quota: i64, on_exhaustion: OnQuotaExhaustion) -> Policy {
    Policy {
        quota_per_subject: Quota::new("quotaPerSubject", quota).expect("valid quota"),
        on_quota_exhaustion: on_exhaustion,
        ..Policy::default()
    }
}

/// Writes one `#[tokio::test]` per conformance behaviour, each calling
/// `$fixture().await` for a fresh store. The calling crate needs `tokio`
/// (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:path) => {
        $crate::conformance_tests!(@each $fixture;
            create_get_delete_round_trip,
            create_is_create_if_absent,
            max_life_ends_the_session,
            auth_life_ends_the_session,
            idle_time_ends_the_session,
            touch_moves_idle_expiry,
            skip_touch_leaves_idle_expiry,
            update_is_compare_and_set,
            update_never_changes_subject_or_context,
            deleting_a_corrupt_record_removes_it,
            records_of_a_newer_format_are_left_alone,
            delete_all_ends_every_session_but_newer_records,
            sessions_of_keys_no_longer_held_hold_no_quota_slot,
            a_hard_expiry_before_1970_has_passed,
            quota_deny_login,
            quota_close_old_session_closes_next_expiring,
            expired_sessions_do_not_count_toward_quota,
            concurrent_creates_never_exceed_quota_deny,
            concurrent_creates_never_exceed_quota_close,
            concurrent_updates_exactly_one_wins,
            list_and_delete_by_subject_and_context,
            delete_really_deletes,
            purge_counts,
            count_live_sessions,
            corrupt_record_is_a_typed_error,
            import_keeps_times_and_is_idempotent,
            import_skips_expired_sessions,
            import_applies_the_quota_deny_login,
            import_applies_the_quota_close_old_session,
            import_under_a_legacy_sid_is_found_through_its_alias,
        );
        $crate::conformance_tests!(@hostile $fixture;
            hostile_altered_fields_are_not_served,
            hostile_a_record_copied_from_another_key_is_not_served,
            hostile_deep_nesting_is_refused_without_a_crash,
            hostile_a_value_over_the_size_cap_is_refused,
            hostile_a_truncated_record_is_not_served,
            hostile_an_unknown_format_is_not_served,
            hostile_an_unsigned_record_is_served_only_in_the_upgrade_window,
            hostile_a_forged_record_blocks_no_login_after_a_subject_revoke,
        );
        $crate::conformance_tests!(@pre_login $fixture;
            pre_login_sessions_have_no_quota_and_no_index,
            pre_login_login_carries_the_data_and_ends_the_old_sid,
            pre_login_is_consumed_by_one_login_only,
            pre_login_survives_a_refused_login,
        );
    };
    (@each $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::testkit::conformance::$name($fixture().await).await;
            }
        )*
    };
    (@pre_login $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::testkit::pre_login::$name($fixture().await).await;
            }
        )*
    };
    (@hostile $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::testkit::hostile::$name($fixture().await).await;
            }
        )*
    };
}
