//! The contract every session backend implements.

use async_trait::async_trait;
use tessera_core::{Context, Policy, Session, Subject, Timestamp};
use tessera_crypto::{SessionRef, StorageKey};

use crate::{LegacyAlias, StoreError};

/// Whether a read counts as a use of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// Move `last_used` to `now` (the default for a request carrying a SID).
    Yes,
    /// Leave `last_used` alone (`skip_last_used_update=true`).
    Skip,
}

/// What [`SessionStore::create`] did besides storing the new session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Created {
    /// Sessions of the subject closed to make room under the quota
    /// (`CLOSE_OLD_SESSION`), next-expiring first.
    pub closed: Vec<SessionRef>,
}

/// What [`SessionStore::import`] did with a session brought in from
/// elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Stored; the quota may have closed other sessions of the subject.
    Created(Created),
    /// A live session was already stored under the reference; nothing
    /// changed (importing the same session twice is a no-op).
    AlreadyPresent,
    /// The session had already ended at `now`; nothing was stored.
    Expired,
    /// The same SID was imported before and its session has ended since
    /// (logged out, deleted, revoked, expired): nothing was stored, so an
    /// import run again never brings an ended session back. Decided by
    /// [`Sessions::import`](crate::Sessions::import) from the import
    /// marker it leaves; a store's own `import` never returns it.
    EndedSince,
}

/// A session together with the reference it is stored under.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    /// The session's reference (subject tag and storage key).
    pub id: SessionRef,
    /// The session.
    pub session: Session,
}

/// What [`SessionStore::purge`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Expired session records deleted.
    pub sessions: u64,
    /// Subject index entries deleted because their session was gone or
    /// expired.
    pub index_entries: u64,
}

/// What [`SessionStore::delete_all`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevokeReport {
    /// Live sessions ended. Expired and damaged records are deleted too,
    /// without being counted here.
    pub ended: u64,
    /// Records of a newer format, left as they are.
    pub left: u64,
}

impl std::ops::Add for RevokeReport {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            ended: self.ended + other.ended,
            left: self.left + other.left,
        }
    }
}

/// A session backend.
///
/// Sessions are addressed by [`SessionRef`] (a subject tag and the
/// storage key derived from the SID's random part): a store never sees a SID.
/// Every method takes the current time as `now`, so the whole contract can be
/// checked with a mock clock; a store reads no clock of its own except for
/// housekeeping (sweepers, backend-native expiry).
///
/// Common rules:
/// * Expired sessions are invisible: reads treat them as absent and may
///   delete them on the way. A session is expired from its expiry instant
///   on ([`Session::is_expired`]).
/// * "Not there" is `Ok(None)` (or [`StoreError::NotFound`] where a value
///   must be returned); a backend that cannot answer is
///   [`StoreError::Unavailable`]; a record that cannot be decoded is
///   [`StoreError::Corrupt`] and is left in place for inspection. These
///   three must never be confused: an outage is not a logout.
/// * The subject index lists a subject's sessions without scanning the
///   store. It may hold stale entries (for sessions that expired); reads
///   skip them and [`purge`](Self::purge) removes them.
/// * Stored values include claims and data in clear, and sealed credentials;
///   implementations must not log them.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session under `id`, applying the subject's quota
    /// atomically. The subject is never [`Subject::anonymous`]
    /// ([`create_anonymous`](Self::create_anonymous) stores those).
    ///
    /// Create-if-absent: if a live session is stored under `id`, fails with
    /// [`StoreError::AlreadyExists`] and changes nothing. Then, in one atomic
    /// step with respect to every other create for the same subject (also
    /// from other processes sharing the backend), applies
    /// [`tessera_core::decide`] to the subject's live sessions (all contexts):
    /// on `Deny` fails with [`StoreError::QuotaExhausted`] and stores
    /// nothing; on `AdmitAfterClosing` deletes exactly those sessions (and
    /// their index entries) and reports them in [`Created::closed`].
    /// N concurrent creates for one subject never leave more than the quota
    /// alive. The session's `version` is stored as given (1 for a new one).
    async fn create(
        &self,
        id: &SessionRef,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Created, StoreError>;

    /// Stores a new pre-login session (its subject is
    /// [`Subject::anonymous`]) under `id`: no quota decision and no subject
    /// index entry, so it costs one record and nothing else.
    ///
    /// Create-if-absent as [`create`](Self::create): a live session under
    /// `id` is [`StoreError::AlreadyExists`] (an expired one gives way). A
    /// session with a subject is [`StoreError::Invalid`] naming `sub`. The
    /// other operations treat a pre-login session like any other: read,
    /// touch, compare-and-set [`update`](Self::update) (which must not give
    /// it an index entry), [`delete`](Self::delete), expiry, [`count`](Self::count),
    /// [`delete_all`](Self::delete_all) and [`purge`](Self::purge). It is
    /// never listed: no subject names it.
    async fn create_anonymous(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Stores a session brought in from another system (a migration), keeping
    /// its times, version and content as given.
    ///
    /// An already expired session is [`Imported::Expired`] and nothing is
    /// written. With `legacy`, the storage key of the legacy SID the client
    /// holds, first records a [`LegacyAlias`] under it (see
    /// [`put_legacy_alias`](Self::put_legacy_alias)) so that
    /// [`legacy_alias`](Self::legacy_alias) finds `id`. Then behaves exactly
    /// like [`create`](Self::create) (create-if-absent, the quota applied
    /// atomically), except that a live session already under `id` is
    /// [`Imported::AlreadyPresent`] rather than an error, so an import can be
    /// repeated. A [`StoreError::QuotaExhausted`] (`DENY_LOGIN`) leaves an
    /// alias that leads nowhere, which reads as "not found".
    ///
    /// The provided implementation does exactly this on top of the other
    /// methods; a backend overrides it only to do the same in fewer round
    /// trips.
    async fn import(
        &self,
        id: &SessionRef,
        legacy: Option<&StorageKey>,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Imported, StoreError> {
        if session.is_expired(now) {
            return Ok(Imported::Expired);
        }
        if let Some(key) = legacy {
            self.put_legacy_alias(key, &LegacyAlias::for_session(*id, session))
                .await?;
        }
        match self.create(id, session, policy, now).await {
            Ok(created) => Ok(Imported::Created(created)),
            Err(StoreError::AlreadyExists) => Ok(Imported::AlreadyPresent),
            Err(e) => Err(e),
        }
    }

    /// Records (or replaces) the alias stored under a legacy SID's storage
    /// key: where the session imported under that SID lives.
    ///
    /// The alias needs no particular placement (on Redis Cluster it may
    /// live in another slot than the session) and may be forgotten from
    /// [`LegacyAlias::expires`] on (backend-native expiry, or
    /// [`purge`](Self::purge)). Deleting the session does not delete the
    /// alias: an alias whose session is gone simply leads to "not found".
    async fn put_legacy_alias(
        &self,
        legacy: &StorageKey,
        alias: &LegacyAlias,
    ) -> Result<(), StoreError>;

    /// The reference recorded under a legacy SID's storage key, if an
    /// unexpired alias is stored there. One read; the caller then reads the
    /// session itself.
    async fn legacy_alias(
        &self,
        legacy: &StorageKey,
        now: Timestamp,
    ) -> Result<Option<SessionRef>, StoreError>;

    /// Reads a session without touching it. `Ok(None)` if absent or expired.
    ///
    /// Provided as [`get_and_touch`](Self::get_and_touch) with
    /// [`Touch::Skip`]; a backend overrides it only where a read without a
    /// touch is cheaper.
    async fn get(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.get_and_touch(id, now, Touch::Skip).await
    }

    /// Reads a session and, with [`Touch::Yes`], records the use at `now`,
    /// in one backend operation. Returns the session as it is after the
    /// touch; `Ok(None)` if absent or expired (an expired session is never
    /// revived by a touch).
    ///
    /// A store may coalesce touches (persist `last_used` at most once per
    /// window, documented by the store); a lost touch can only make the
    /// session expire earlier, never later. Touching does not change
    /// `version`.
    async fn get_and_touch(
        &self,
        id: &SessionRef,
        now: Timestamp,
        touch: Touch,
    ) -> Result<Option<Session>, StoreError>;

    /// Replaces a live session, compare-and-set on its version.
    ///
    /// `session.version` must equal the stored version, else
    /// [`StoreError::Conflict`] and nothing changes. On success the stored
    /// version becomes `session.version + 1` and the stored session is
    /// returned. Subject and context never change: a `session` whose
    /// subject or context differs from the stored one is
    /// [`StoreError::Invalid`] naming `sub` or `ctx`, and nothing changes
    /// (the subject places the session in its index and quota, the context
    /// decides where its SID is valid). `last_used` never moves backwards
    /// (the larger of the stored and the given value is kept). A missing
    /// session is [`StoreError::NotFound`], an expired one
    /// [`StoreError::Expired`].
    async fn update(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError>;

    /// Deletes a session and its index entry. Really deletes: a later
    /// [`get`](Self::get) returns `Ok(None)` and the subject's list no
    /// longer shows it. Returns the session if it was live, `Ok(None)` if it
    /// was absent or already expired (an expired record is deleted too).
    /// A record that cannot be decoded ([`StoreError::Corrupt`]) is deleted
    /// as well, and the answer is `Ok(None)`: a logout always ends what is
    /// stored under its SID (its index entry, if the subject cannot be
    /// read, is left for [`purge`](Self::purge)).
    async fn delete(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError>;

    /// The live sessions of `subject`, optionally only those in `context`,
    /// found through the subject index (never a scan), ordered by creation
    /// time.
    async fn list_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError>;

    /// Deletes the sessions of `subject` (optionally only in `context`)
    /// through the subject index, never a scan. Returns the references of
    /// the live sessions deleted.
    async fn delete_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError>;

    /// The number of live sessions. May scan; meant for admin and metrics,
    /// not for request paths.
    async fn count(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Ends every session in the store: the administrator's "revoke all",
    /// for instance after an emergency key rotation left sessions no key
    /// can verify. Walks the store page by page (never holding all of it
    /// in memory), deletes each session record — live, expired or damaged
    /// — with its index entry, and counts the live ones. Records of a newer
    /// format ([`StoreError::UnsupportedFormat`]) are left as they are and
    /// counted in [`RevokeReport::left`]. Not atomic: a session created
    /// while it runs may be ended too, or may survive.
    async fn delete_all(&self, now: Timestamp) -> Result<RevokeReport, StoreError>;

    /// Deletes every expired session and every index entry whose session is
    /// gone or expired, and says how many of each it removed.
    async fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError>;

    /// Checks that the backend answers (for readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Applies the quota decision to a subject's stored sessions, for stores
/// that decide in Rust (inside their own lock or transaction).
///
/// Returns the sessions to close, or [`StoreError::QuotaExhausted`] when the
/// login is denied. Expired sessions never count.
pub fn quota_plan(
    existing: &[StoredSession],
    policy: &Policy,
    now: Timestamp,
) -> Result<Vec<SessionRef>, StoreError> {
    let candidates: Vec<tessera_core::Existing<SessionRef>> = existing
        .iter()
        .map(|s| tessera_core::Existing {
            key: s.id,
            expiry: s.session.expiry(),
            signer: s.session.signer,
        })
        .collect();
    match tessera_core::decide(&candidates, policy, now) {
        tessera_core::QuotaDecision::Admit => Ok(Vec::new()),
        tessera_core::QuotaDecision::AdmitAfterClosing(closed) => Ok(closed),
        tessera_core::QuotaDecision::Deny => Err(StoreError::QuotaExhausted {
            quota: policy.quota_per_subject.get(),
        }),
    }
}

/// What [`SessionStore::list_by_subject`] returns from the sessions a store
/// found under a subject's index: the live ones of `subject` (in `context`
/// when given), oldest first (creation time, then reference). Every backend
/// ends its listing here, so they order and filter alike.
pub fn listed(
    found: impl IntoIterator<Item = StoredSession>,
    subject: &Subject,
    context: Option<&Context>,
    now: Timestamp,
) -> Vec<StoredSession> {
    let mut live: Vec<StoredSession> = found
        .into_iter()
        .filter(|s| {
            &s.session.subject == subject
                && !s.session.is_expired(now)
                && context.is_none_or(|c| &s.session.context == c)
        })
        .collect();
    live.sort_by_key(|s| (s.session.creation_time, s.id));
    live
}

/// The compare-and-set rule of [`SessionStore::update`], for stores that
/// check in Rust: `next` may replace `stored` only if `stored` is live at
/// `now`, neither the subject nor the context changes, and `next` carries
/// the stored version. Returns the session to write: `next` with the
/// following version and the later of the two last uses (a touch since the
/// caller read the session is kept).
pub fn compare_and_set(
    stored: &Session,
    next: &Session,
    now: Timestamp,
) -> Result<Session, StoreError> {
    check_update(stored, next, now)?;
    let mut written = next.clone();
    written.version = stored.version + 1;
    // Like the subject, the key that signed the SID never changes.
    written.signer = stored.signer;
    written.last_used = next.last_used.max(stored.last_used);
    Ok(written)
}

/// Why `next` may not replace `stored` at `now`, if it may not: `Expired`,
/// `Invalid` (the subject or the context would change) or `Conflict`. The
/// checks of [`compare_and_set`], for a store whose own write already failed
/// its condition and that now says why.
pub fn check_update(stored: &Session, next: &Session, now: Timestamp) -> Result<(), StoreError> {
    if stored.is_expired(now) {
        return Err(StoreError::Expired);
    }
    let refuse = |field, what| {
        Err(StoreError::Invalid(tessera_core::CoreError::Invalid {
            field,
            reason: format!("the {what} of a session cannot change"),
        }))
    };
    if stored.subject != next.subject {
        return refuse("sub", "subject");
    }
    if stored.context != next.context {
        return refuse("ctx", "context");
    }
    if stored.version != next.version {
        return Err(StoreError::Conflict {
            expected: next.version,
            actual: stored.version,
        });
    }
    Ok(())
}

/// The first check of [`SessionStore::create_anonymous`]: the session must
/// be a pre-login one (its subject [`Subject::anonymous`]).
pub fn check_anonymous(session: &Session) -> Result<(), StoreError> {
    if session.is_anonymous() {
        Ok(())
    } else {
        Err(StoreError::Invalid(tessera_core::CoreError::Invalid {
            field: "sub",
            reason: "a pre-login session has no subject".into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use tessera_core::{Context, Policy, SessionParams, Subject};

    use super::*;

    fn stored(now: Timestamp) -> Session {
        let mut s = Session::start(
            SessionParams::new(Subject::new("alice").unwrap()),
            &Policy::default(),
            now,
        )
        .unwrap();
        s.version = 3;
        s
    }

    #[test]
    fn compare_and_set_bumps_the_version_and_keeps_the_later_use() {
        let start = Timestamp::from_millis(1_000_000);
        let mut old = stored(start);
        let next = old.clone();
        old.last_used = Timestamp::from_millis(1_005_000);
        let written = compare_and_set(&old, &next, Timestamp::from_millis(1_006_000)).unwrap();
        assert_eq!(written.version, 4);
        assert_eq!(written.last_used, old.last_used);
    }

    #[test]
    fn compare_and_set_refuses_each_broken_rule_with_its_error() {
        let now = Timestamp::from_millis(1_000_000);
        let old = stored(now);

        let mut stale = old.clone();
        stale.version = 2;
        assert!(matches!(
            compare_and_set(&old, &stale, now),
            Err(StoreError::Conflict {
                expected: 2,
                actual: 3
            })
        ));

        let mut moved = old.clone();
        moved.subject = Subject::new("bob").unwrap();
        assert!(matches!(
            compare_and_set(&old, &moved, now),
            Err(StoreError::Invalid(tessera_core::CoreError::Invalid {
                field: "sub",
                ..
            }))
        ));

        let mut elsewhere = old.clone();
        elsewhere.context = Context::new("other").unwrap();
        assert!(matches!(
            check_update(&old, &elsewhere, now),
            Err(StoreError::Invalid(tessera_core::CoreError::Invalid {
                field: "ctx",
                ..
            }))
        ));

        let far = Timestamp::from_millis(now.as_millis() + 400 * 24 * 3_600_000);
        assert!(matches!(
            compare_and_set(&old, &old, far),
            Err(StoreError::Expired)
        ));
    }
}
