//! The `Sessions` service: the API an application uses.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use tessera_core::{
    Ceilings, Context, KeyGeneration, Lifetime, Policy, RecordMac, SealedBlob, Session,
    SessionParams, Signers, Subject, Timestamp,
};
use tessera_crypto::{
    Credentials, LegacySids, MasterKeys, RecordKeys, SealBinding, SealedCredentials, Sealer,
    SecureRandom, Sid, SidKeys, StorageKey, SubjectTag, VerifiedSid,
};

use crate::backend::record;
use crate::{
    Clock, Imported, LegacyAlias, PurgeReport, RevokeReport, SessionRef, SessionStore,
    SessionsError, StoreError, StoredSession, Touch,
};

/// How many times a subject-wide change retries a session that another
/// writer updated in between.
const CAS_RETRIES: usize = 8;

/// How far a stored `last_used` may lie after `now` (another server's
/// clock running ahead) before the record is refused as tampered with.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60_000;

/// Service settings besides the keys.
#[derive(Debug, Clone, Copy)]
pub struct SessionsConfig {
    /// Lifetimes and quota.
    pub policy: Policy,
    /// Whether legacy SIDs (of the systems Tessera replaces) are looked up
    /// among imported sessions (`acceptLegacySIDs`).
    pub legacy_sids: LegacySids,
    /// Whether a stored record without a MAC (written by a Tessera before
    /// 0.2, which did not sign records) is served. On during an upgrade,
    /// so that nobody is logged out; every such read is counted
    /// ([`RecordChecks::unsigned`]) and re-signs at the session's next
    /// update. Off once the store holds only signed records: then an
    /// unsigned record is refused like a forged one (`acceptUnsignedRecords`).
    pub accept_unsigned_records: bool,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            legacy_sids: LegacySids::Reject,
            accept_unsigned_records: true,
        }
    }
}

/// Counts of what the record check found since start-up.
#[derive(Debug, Default)]
pub struct RecordChecks {
    refused: AtomicU64,
    unsigned: AtomicU64,
}

impl RecordChecks {
    /// Records refused: a MAC that does not verify (a record changed,
    /// moved to another key or made without the keys, or signed by a
    /// password no longer configured), a `last_used` in the future, or no
    /// MAC while unsigned records are refused.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Unsigned records served (while `acceptUnsignedRecords` is on).
    pub fn unsigned(&self) -> u64 {
        self.unsigned.load(Ordering::Relaxed)
    }
}

/// A session just created.
pub struct NewSession {
    /// The SID to hand to the client. Secret: never log it.
    pub sid: Sid,
    /// The admin-visible reference of the session (not a SID).
    pub id: SessionRef,
    /// The session as stored.
    pub session: Session,
    /// Sessions of the subject closed to make room (`CLOSE_OLD_SESSION`).
    pub closed: Vec<SessionRef>,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("sid", &self.sid)
            .field("id", &self.id)
            .field("session", &self.session)
            .field("closed", &self.closed)
            .finish()
    }
}

/// What [`Sessions::import`] did with one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The reference the session is (or would have been) stored under.
    pub id: SessionRef,
    /// Whether the client's SID is a legacy one (usable only while
    /// `acceptLegacySIDs` is on).
    pub legacy: bool,
    /// What the store did.
    pub imported: Imported,
}

/// The parts of a session an update may replace; `None` keeps the current
/// value. Subject, context, the times and the lifetimes are not changeable;
/// a caller that sends them back as it read them (a client that writes the
/// whole session object) puts them in `unchanged`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionChanges {
    /// New `data`.
    pub data: Option<Map<String, Value>>,
    /// New `claims`.
    pub claims: Option<Map<String, Value>>,
    /// New `acr` (`Some(None)` removes it).
    pub acr: Option<Option<String>>,
    /// New `amr`.
    pub amr: Option<Vec<String>>,
    /// Read-only values as the caller read them: each must equal the stored
    /// one, or the update is refused naming the field.
    pub unchanged: ReadOnlyFields,
}

/// A session's read-only values, as a caller read them; `None` for one it
/// did not send.
///
/// `last_used` is not here: every read moves it, so a caller's copy is
/// always stale and proves nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOnlyFields {
    /// `sub`.
    pub subject: Option<Subject>,
    /// `ctx`.
    pub context: Option<Context>,
    /// `creation_time`.
    pub creation_time: Option<Timestamp>,
    /// `auth_time`.
    pub auth_time: Option<Timestamp>,
    /// `max_life`.
    pub max_life: Option<Lifetime>,
    /// `auth_life`.
    pub auth_life: Option<Lifetime>,
    /// `max_idle`.
    pub max_idle: Option<Lifetime>,
}

impl ReadOnlyFields {
    /// The first field that differs from `session`, by its JSON name.
    ///
    /// Times compare at the second, the precision the JSON carries.
    fn first_changed(&self, session: &Session) -> Option<&'static str> {
        let secs = |t: Timestamp| t.as_millis().div_euclid(1000);
        let differs = |given: Option<Timestamp>, stored: Timestamp| {
            given.is_some_and(|g| secs(g) != secs(stored))
        };
        if self.subject.as_ref().is_some_and(|s| *s != session.subject) {
            Some("sub")
        } else if self.context.as_ref().is_some_and(|c| *c != session.context) {
            Some("ctx")
        } else if differs(self.creation_time, session.creation_time) {
            Some("creation_time")
        } else if differs(self.auth_time, session.auth_time) {
            Some("auth_time")
        } else if self.max_life.is_some_and(|l| l != session.max_life) {
            Some("max_life")
        } else if self.auth_life.is_some_and(|l| l != session.auth_life) {
            Some("auth_life")
        } else if self.max_idle.is_some_and(|l| l != session.max_idle) {
            Some("max_idle")
        } else {
            None
        }
    }
}

/// Sessions: policy, SIDs, sealing and a store, put together.
///
/// Every method reads the clock once and passes that instant down, so one
/// call sees one consistent `now`.
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    config: SessionsConfig,
    sid_keys: SidKeys,
    sealer: Sealer,
    record_keys: RecordKeys,
    checks: Arc<RecordChecks>,
    /// The key generation that signs new SIDs.
    signer: KeyGeneration,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn SecureRandom>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Sessions`] with the defaults an application wants: the
/// default [`Policy`], legacy SIDs refused, the system clock and the
/// operating system's random generator. See [`Sessions::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct SessionsBuilder<'k> {
    store: Arc<dyn SessionStore>,
    keys: &'k MasterKeys,
    config: SessionsConfig,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn SecureRandom>,
}

impl fmt::Debug for SessionsBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionsBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SessionsBuilder<'_> {
    /// Lifetimes and quota (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.config.policy = policy;
        self
    }

    /// Whether legacy SIDs are looked up among imported sessions (default:
    /// refused).
    pub fn legacy_sids(mut self, legacy_sids: LegacySids) -> Self {
        self.config.legacy_sids = legacy_sids;
        self
    }

    /// Whether records written before records were signed are served
    /// (default: yes, for upgrades; see
    /// [`SessionsConfig::accept_unsigned_records`]).
    pub fn accept_unsigned_records(mut self, accept: bool) -> Self {
        self.config.accept_unsigned_records = accept;
        self
    }

    /// Where time comes from (default: [`SystemClock`](crate::SystemClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where SIDs' randomness comes from (default:
    /// [`SystemRandom`](crate::SystemRandom)).
    pub fn rng(mut self, rng: Arc<dyn SecureRandom>) -> Self {
        self.rng = rng;
        self
    }

    /// The service.
    pub fn build(self) -> Sessions {
        Sessions::new(self.store, self.config, self.keys, self.clock, self.rng)
    }
}

impl Sessions {
    /// A builder over `store` with `keys` and every other setting at its
    /// default.
    ///
    /// ```
    /// use tessera_store::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // 64 hex digits from `openssl rand -hex 32`, kept as a secret.
    /// let root = RootKey::from_hex(
    ///     "5f1e0c9a7b3d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b",
    /// )?;
    /// let keys = MasterKeys::from_root_keys(&root, &[]);
    /// let sessions = Sessions::builder(MemoryStore::new(), &keys).build();
    ///
    /// let login = sessions
    ///     .create(SessionParams::new(Subject::new("alice")?), None)
    ///     .await?;
    /// let read = sessions
    ///     .get(login.sid.expose_secret(), None, Touch::Yes)
    ///     .await?;
    /// assert_eq!(read.session.subject.as_str(), "alice");
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(store: impl SessionStore + 'static, keys: &MasterKeys) -> SessionsBuilder<'_> {
        SessionsBuilder {
            store: Arc::new(store),
            keys,
            config: SessionsConfig::default(),
            clock: Arc::new(crate::SystemClock),
            rng: Arc::new(crate::SystemRandom::new()),
        }
    }

    /// Builds the service from every part; [`Sessions::builder`] fills in
    /// the usual ones. `keys` come from the deployment's safe password
    /// (derived once at start-up) or its root key.
    pub fn new(
        store: Arc<dyn SessionStore>,
        config: SessionsConfig,
        keys: &MasterKeys,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn SecureRandom>,
    ) -> Self {
        let mut config = config;
        let generations: Vec<KeyGeneration> = keys
            .generation_ids()
            .into_iter()
            .map(KeyGeneration::new)
            .collect();
        // Sessions signed by a key no longer held stop holding quota slots.
        config.policy.signers = Signers::new(generations.iter().copied()).unwrap_or_default();
        Self {
            store,
            config,
            sid_keys: keys.sid_keys(),
            sealer: keys.sealer(),
            record_keys: keys.record_keys(),
            checks: Arc::default(),
            signer: generations[0],
            clock,
            rng,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.config.policy
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// What the record check has found since start-up.
    pub fn record_checks(&self) -> &RecordChecks {
        &self.checks
    }

    /// Signs `session` as the record stored under `id`.
    fn sign(&self, id: &SessionRef, session: &mut Session) {
        session.record_mac = None;
        let mac = self.record_keys.sign(&record::mac_message(id, session));
        session.record_mac = Some(RecordMac::new(mac.to_vec()));
    }

    /// Signs `session` as the store will write it on an update: with the
    /// next version (the store bumps it; the rest it keeps as given).
    fn sign_update(&self, id: &SessionRef, session: &mut Session) -> Result<(), StoreError> {
        let version = session.version;
        session.version = version.checked_add(1).ok_or_else(|| {
            StoreError::Invalid(tessera_core::CoreError::Invalid {
                field: "version",
                reason: "is at its maximum".into(),
            })
        })?;
        self.sign(id, session);
        session.version = version;
        Ok(())
    }

    /// The one check of every record a store hands back, before anything
    /// uses it: its MAC verifies under a configured password for the key it
    /// was read from (or it has none and unsigned records are accepted),
    /// and its last use is not in the future. A record that fails is
    /// [`StoreError::Corrupt`], naming the key (never the content), and is
    /// counted.
    pub fn check_record(
        &self,
        id: &SessionRef,
        session: Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let refuse = |reason: &str| {
            self.checks.refused.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::Corrupt {
                reason: format!("the record stored under {id} {reason}"),
                source: None,
            })
        };
        match &session.record_mac {
            Some(mac) => {
                if self
                    .record_keys
                    .verify(&record::mac_message(id, &session), mac.as_bytes())
                    .is_err()
                {
                    return refuse(
                        "fails its MAC check (changed, moved from another key, made without \
                         the keys, or signed by a password no longer configured)",
                    );
                }
            }
            None if self.config.accept_unsigned_records => {
                self.checks.unsigned.fetch_add(1, Ordering::Relaxed);
            }
            None => return refuse("has no MAC, and unsigned records are refused"),
        }
        if session.last_used.as_millis() > now.as_millis().saturating_add(MAX_CLOCK_SKEW_MS) {
            return refuse("has a last use in the future");
        }
        Ok(session)
    }

    /// [`Sessions::check_record`] for a read that may have found nothing.
    fn checked(
        &self,
        id: &SessionRef,
        found: Option<Session>,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        found.map(|s| self.check_record(id, s, now)).transpose()
    }

    /// The sessions of a listing whose records pass the check; the others
    /// are skipped (and counted).
    fn checked_list(&self, listed: Vec<StoredSession>, now: Timestamp) -> Vec<StoredSession> {
        listed
            .into_iter()
            .filter_map(|s| {
                let id = s.id;
                self.check_record(&id, s.session, now)
                    .ok()
                    .map(|session| StoredSession { id, session })
            })
            .collect()
    }

    /// Starts a session for a login, applying the subject's quota, and
    /// seals `credentials` (if any) to it.
    pub async fn create(
        &self,
        params: SessionParams,
        credentials: Option<&[u8]>,
    ) -> Result<NewSession, SessionsError> {
        if params.subject.is_anonymous() {
            return Err(invalid("sub", "must not be empty"));
        }
        let now = self.clock.now();
        let tag = SubjectTag::of(params.subject.as_str());
        let (sid, id) = self
            .sid_keys
            .mint(tag, self.rng.as_ref())
            .map_err(SessionsError::Credentials)?;
        let mut session = Session::start(params, &self.config.policy, now)?;
        session.signer = Some(self.signer);
        if let Some(plain) = credentials {
            self.seal_into(&mut session, &id, plain)?;
        }
        self.sign(&id, &mut session);
        let created = self
            .store
            .create(&id, &session, &self.config.policy, now)
            .await?;
        Ok(NewSession {
            sid,
            id,
            session,
            closed: created.closed,
        })
    }

    /// Starts a pre-login session: no subject, no quota, only `data`, with
    /// the policy's pre-login lifetimes ([`tessera_core::PreLogin`]) unless
    /// `max_life` or `max_idle` is given. Its SID works like any other
    /// until [`Sessions::create_from_anonymous`] turns it into a signed-in
    /// session (or it expires, or it is ended).
    ///
    /// Its subject tag is random: pre-login sessions spread over Redis
    /// Cluster slots like signed-in ones, and nothing in the SID says
    /// whether anyone has signed in.
    pub async fn create_anonymous(
        &self,
        context: Context,
        max_life: Option<Lifetime>,
        max_idle: Option<Lifetime>,
        data: Map<String, Value>,
    ) -> Result<NewSession, SessionsError> {
        let now = self.clock.now();
        let mut tag = [0_u8; 2];
        self.rng
            .fill(&mut tag)
            .map_err(|e| SessionsError::Credentials(e.into()))?;
        let (sid, id) = self
            .sid_keys
            .mint(SubjectTag::from_bytes(tag), self.rng.as_ref())
            .map_err(SessionsError::Credentials)?;
        let mut session =
            Session::start_anonymous(context, max_life, max_idle, data, &self.config.policy, now)?;
        session.signer = Some(self.signer);
        self.sign(&id, &mut session);
        self.store.create_anonymous(&id, &session, now).await?;
        Ok(NewSession {
            sid,
            id,
            session,
            closed: Vec::new(),
        })
    }

    /// Signs a subject in from a pre-login session: a new session for
    /// `params` (the quota applied as by [`Sessions::create`]) under a new
    /// SID, holding the pre-login session's data with `params.data` laid
    /// over it. The pre-login session ends first, so its SID is worth
    /// nothing after the login (no session fixation), and it is consumed
    /// once: of two logins carrying it at the same time, one wins and the
    /// other is [`StoreError::NotFound`].
    ///
    /// The pre-login session must be live, in `params.context`
    /// ([`SessionsError::WrongContext`] otherwise) and without a subject (a
    /// signed-in session is [`StoreError::Invalid`] naming `SID`). When the
    /// login itself fails (the quota under `DENY_LOGIN`, a backend error),
    /// the pre-login session is stored back as it was, so the caller may
    /// try again; only if the backend fails that too is it lost.
    pub async fn create_from_anonymous(
        &self,
        anonymous_sid: &str,
        mut params: SessionParams,
        credentials: Option<&[u8]>,
    ) -> Result<NewSession, SessionsError> {
        let anonymous = self.resolve(anonymous_sid).await?;
        let read = self
            .live_in_context(&anonymous, &params.context, self.clock.now())
            .await?;
        if !read.is_anonymous() {
            return Err(invalid(
                "SID",
                "names a signed-in session; only a pre-login session is carried into a login",
            ));
        }
        let now = self.clock.now();
        // The delete is the one step that consumes it; what it returns is
        // the data as it was at the end.
        let ended = self
            .store
            .delete(&anonymous, now)
            .await?
            .and_then(|s| self.check_record(&anonymous, s, now).ok())
            .ok_or(StoreError::NotFound)?;
        let given = std::mem::take(&mut params.data);
        params.data = ended.data.clone();
        params.data.extend(given);
        match self.create(params, credentials).await {
            Ok(new) => Ok(new),
            Err(e) => {
                // Put back as it was (its record still verifies under its
                // own key), so the cart survives a refused login.
                let _ = self
                    .store
                    .create_anonymous(&anonymous, &ended, self.clock.now())
                    .await;
                Err(e)
            }
        }
    }

    /// Verifies a SID and returns its reference.
    ///
    /// A Tessera SID is verified (its HMAC) before any store access. A
    /// legacy SID is refused before any store access while
    /// `acceptLegacySIDs` is off; while it is on, its alias is read (one
    /// store lookup) and a legacy SID nothing was imported under is
    /// [`StoreError::NotFound`].
    pub async fn resolve(&self, sid: &str) -> Result<SessionRef, SessionsError> {
        match self
            .sid_keys
            .resolve(sid, self.config.legacy_sids)
            .map_err(SessionsError::InvalidSid)?
        {
            VerifiedSid::Tessera(id) => Ok(id),
            // A session imported under a legacy SID is stored under that
            // SID's own storage key; the alias only adds the subject tag. An
            // alias that leads anywhere else was not written by Tessera.
            VerifiedSid::Legacy(key) => {
                match self.store.legacy_alias(&key, self.clock.now()).await? {
                    Some(id) if id.storage_key() == key => Ok(id),
                    Some(id) => {
                        self.checks.refused.fetch_add(1, Ordering::Relaxed);
                        Err(StoreError::Corrupt {
                        reason: format!(
                            "the legacy SID alias stored under {key} leads to another key ({id})"
                        ),
                        source: None,
                    }
                    .into())
                    }
                    None => Err(StoreError::NotFound.into()),
                }
            }
        }
    }

    /// Brings in a live session from another system under the SID its
    /// client already holds, keeping its times, and seals `credentials`
    /// (plaintext, if any) to it under this deployment's keys.
    ///
    /// `sid` is either a Tessera SID, which must verify under the configured
    /// keys and have been minted for the session's subject, or a legacy SID
    /// ([`tessera_crypto::is_legacy_sid`]), accepted here whatever
    /// `acceptLegacySIDs` says (the result tells the caller, who may warn).
    /// The session's `version` is reset to 1 and its `credentials` replaced.
    /// See [`SessionStore::import`] for what the store does: the quota
    /// applies, an expired session is skipped, and a repeated import changes
    /// nothing. Each stored session leaves an import marker (an alias under
    /// [`StorageKey::import_marker`](tessera_crypto::StorageKey::import_marker),
    /// kept until its `max_life` passes); a SID whose marker is there and
    /// whose session is not has ended since, and is
    /// [`Imported::EndedSince`]: an import never brings it back.
    ///
    /// # Errors
    ///
    /// [`SessionsError::InvalidSid`] for a SID that is neither;
    /// [`StoreError::Invalid`] for times in the future, a `last_used` before
    /// the creation, or a Tessera SID of another subject;
    /// [`StoreError::AlreadyExists`] when a live session of another subject
    /// was already imported under the same legacy SID;
    /// [`StoreError::QuotaExhausted`] under `DENY_LOGIN`; and any store error.
    pub async fn import(
        &self,
        sid: &str,
        mut session: Session,
        credentials: Option<&[u8]>,
    ) -> Result<ImportOutcome, SessionsError> {
        if session.is_anonymous() {
            return Err(invalid("sub", "must not be empty"));
        }
        let now = self.clock.now();
        let tag = SubjectTag::of(session.subject.as_str());
        let (id, legacy) = match self
            .sid_keys
            .resolve(sid, LegacySids::Accept)
            .map_err(SessionsError::InvalidSid)?
        {
            VerifiedSid::Tessera(id) if id.tag() == tag => (id, None),
            VerifiedSid::Tessera(_) => {
                return Err(invalid("sub", "is not the subject this SID was minted for"));
            }
            VerifiedSid::Legacy(key) => (SessionRef::new(tag, key), Some(key)),
        };
        check_imported_times(&session, now)?;
        // Imported before? The marker outlives the session (deleting a
        // session never deletes an alias), so a session that ended since
        // stays ended, whatever the file now says about it.
        let marker = id.storage_key().import_marker();
        if let Some(earlier) = self.store.legacy_alias(&marker, now).await? {
            let imported = match self.store.get(&earlier, now).await? {
                Some(_) if earlier == id => Imported::AlreadyPresent,
                Some(_) => return Err(StoreError::AlreadyExists.into()),
                None => Imported::EndedSince,
            };
            return Ok(ImportOutcome {
                id,
                legacy: legacy.is_some(),
                imported,
            });
        }
        if let Some(key) = &legacy {
            self.check_alias_is_free(key, &id, now).await?;
        }
        session.version = 1;
        session.credentials = None;
        if let Some(plain) = credentials {
            self.seal_into(&mut session, &id, plain)?;
        }
        self.sign(&id, &mut session);
        let imported = self
            .store
            .import(&id, legacy.as_ref(), &session, &self.config.policy, now)
            .await?;
        if matches!(imported, Imported::Created(_) | Imported::AlreadyPresent) {
            // Only once the session is stored: a session the quota refused
            // was never imported, and a later run may still bring it in.
            self.store
                .put_legacy_alias(&marker, &LegacyAlias::for_session(id, &session))
                .await?;
        }
        Ok(ImportOutcome {
            id,
            legacy: legacy.is_some(),
            imported,
        })
    }

    /// Refuses to point a legacy SID's alias away from a live session of
    /// another subject imported under the same SID.
    async fn check_alias_is_free(
        &self,
        key: &StorageKey,
        id: &SessionRef,
        now: Timestamp,
    ) -> Result<(), SessionsError> {
        match self.store.legacy_alias(key, now).await? {
            Some(existing) if existing != *id => {
                if self.store.get(&existing, now).await?.is_some() {
                    return Err(StoreError::AlreadyExists.into());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The live session behind a SID, touched unless `touch` is
    /// [`Touch::Skip`]. With `context`, a session of another context is
    /// [`SessionsError::WrongContext`] and is left as it was: a SID presented
    /// in the wrong context is no use of the session.
    ///
    /// Without `context` this is one store operation. With it and
    /// [`Touch::Yes`], the context is checked on a read that does not touch
    /// before the touching read (contexts never change, so nothing can come
    /// between the two that would change the answer).
    pub async fn get(
        &self,
        sid: &str,
        context: Option<&Context>,
        touch: Touch,
    ) -> Result<StoredSession, SessionsError> {
        let id = self.resolve(sid).await?;
        let now = self.clock.now();
        if let (Some(context), Touch::Yes) = (context, touch) {
            self.live_in_context(&id, context, now).await?;
        }
        let found = self.store.get_and_touch(&id, now, touch).await?;
        let session = self.checked(&id, found, now)?.ok_or(StoreError::NotFound)?;
        check_context(&session, context)?;
        Ok(StoredSession { id, session })
    }

    /// The live session under `id`, which must be in `context`.
    async fn live_in_context(
        &self,
        id: &SessionRef,
        context: &Context,
        now: Timestamp,
    ) -> Result<Session, SessionsError> {
        let found = self.store.get(id, now).await?;
        let session = self.checked(id, found, now)?.ok_or(StoreError::NotFound)?;
        check_context(&session, Some(context))?;
        Ok(session)
    }

    /// Opens the credentials sealed in a session, if it has any.
    pub fn open_credentials(
        &self,
        stored: &StoredSession,
    ) -> Result<Option<Credentials>, SessionsError> {
        let Some(blob) = &stored.session.credentials else {
            return Ok(None);
        };
        let binding = SealBinding::new(stored.id.storage_key(), stored.session.subject.as_str());
        self.sealer
            .open(
                &SealedCredentials::from_bytes(blob.as_bytes().to_vec()),
                &binding,
            )
            .map(Some)
            .map_err(SessionsError::Credentials)
    }

    /// Replaces parts of the session behind a SID, compare-and-set.
    ///
    /// With `expected_version` (an `If-Match`), a session updated since is
    /// a [`StoreError::Conflict`]. Without it, the update applies to the
    /// version just read (still failing rather than overwriting a concurrent
    /// update).
    ///
    /// With `context`, a session of another context is
    /// [`SessionsError::WrongContext`] and nothing changes.
    pub async fn update(
        &self,
        sid: &str,
        context: Option<&Context>,
        expected_version: Option<u64>,
        changes: SessionChanges,
    ) -> Result<Session, SessionsError> {
        let id = self.resolve(sid).await?;
        self.update_by_id(&id, context, expected_version, changes)
            .await
    }

    /// [`Sessions::update`] for a reference already resolved with
    /// [`Sessions::resolve`].
    pub async fn update_by_id(
        &self,
        id: &SessionRef,
        context: Option<&Context>,
        expected_version: Option<u64>,
        changes: SessionChanges,
    ) -> Result<Session, SessionsError> {
        let id = *id;
        let now = self.clock.now();
        let found = self.store.get(&id, now).await?;
        let mut session = self.checked(&id, found, now)?.ok_or(StoreError::NotFound)?;
        check_context(&session, context)?;
        if let Some(expected) = expected_version
            && expected != session.version
        {
            return Err(StoreError::Conflict {
                expected,
                actual: session.version,
            }
            .into());
        }
        apply(&mut session, changes)?;
        self.sign_update(&id, &mut session)?;
        Ok(self.store.update(&id, &session, now).await?)
    }

    /// Seals `plain` as `session`'s credentials, bound to its storage key
    /// and subject.
    fn seal_into(
        &self,
        session: &mut Session,
        id: &SessionRef,
        plain: &[u8],
    ) -> Result<(), SessionsError> {
        let binding = SealBinding::new(id.storage_key(), session.subject.as_str());
        let sealed = self
            .sealer
            .seal(plain, &binding, self.rng.as_ref())
            .map_err(SessionsError::Credentials)?;
        session.credentials = Some(SealedBlob::new(sealed.as_bytes().to_vec()));
        Ok(())
    }

    /// Ends the session behind a SID; returns it if it was live.
    ///
    /// With `context`, a session of another context is
    /// [`SessionsError::WrongContext`] and is not ended.
    pub async fn end(
        &self,
        sid: &str,
        context: Option<&Context>,
    ) -> Result<Option<Session>, SessionsError> {
        let id = self.resolve(sid).await?;
        self.end_by_id(&id, context).await
    }

    /// Ends a session by its reference (from [`Sessions::resolve`], or the
    /// admin-visible id), with the same `context` rule as [`Sessions::end`].
    pub async fn end_by_id(
        &self,
        id: &SessionRef,
        context: Option<&Context>,
    ) -> Result<Option<Session>, SessionsError> {
        let now = self.clock.now();
        if let Some(context) = context {
            match self.live_in_context(id, context, now).await {
                Ok(_) => {}
                Err(SessionsError::Store(StoreError::NotFound)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let ended = self.store.delete(id, now).await?;
        // Ended either way; a record that fails the check is not handed out.
        Ok(ended.and_then(|s| self.check_record(id, s, now).ok()))
    }

    /// The live sessions of a subject, optionally in one context, except
    /// those whose SID was signed by a key this service no longer holds
    /// (after a rotation that dropped a password): nothing can use them,
    /// and they hold no quota slot. They stay stored until they expire, a
    /// delete by subject, or [`Sessions::end_every_session`].
    pub async fn list(
        &self,
        subject: &Subject,
        context: Option<&Context>,
    ) -> Result<Vec<StoredSession>, SessionsError> {
        let now = self.clock.now();
        let found = self.store.list_by_subject(subject, context, now).await?;
        let mut listed = self.checked_list(found, now);
        // Signed by a key no longer held: nothing can present its SID.
        listed.retain(|s| self.config.policy.signers.counts(s.session.signer));
        Ok(listed)
    }

    /// Ends all sessions of a subject (optionally in one context).
    pub async fn end_all(
        &self,
        subject: &Subject,
        context: Option<&Context>,
    ) -> Result<Vec<SessionRef>, SessionsError> {
        Ok(self
            .store
            .delete_by_subject(subject, context, self.clock.now())
            .await?)
    }

    /// Records a fresh authentication of `subject` in all its sessions: sets
    /// `auth_time` (default: now) and, if given, a new `auth_life`. Returns
    /// the sessions as updated.
    pub async fn set_subject_auth(
        &self,
        subject: &Subject,
        auth_time: Option<Timestamp>,
        auth_life: Option<Lifetime>,
    ) -> Result<Vec<StoredSession>, SessionsError> {
        let now = self.clock.now();
        let auth_time = auth_time.unwrap_or(now);
        if auth_time > now {
            return Err(invalid("auth_time", "is in the future"));
        }
        if let Some(life) = auth_life {
            Ceilings::check("auth_life", life, self.config.policy.ceilings.auth_life)?;
        }
        let mut updated = Vec::new();
        let found = self.store.list_by_subject(subject, None, now).await?;
        for stored in self.checked_list(found, now) {
            let mut current = stored.session;
            for attempt in 0.. {
                let mut next = current.clone();
                next.auth_time = auth_time;
                if let Some(life) = auth_life {
                    next.auth_life = life;
                }
                self.sign_update(&stored.id, &mut next)?;
                match self.store.update(&stored.id, &next, now).await {
                    Ok(s) => {
                        updated.push(StoredSession {
                            id: stored.id,
                            session: s,
                        });
                        break;
                    }
                    Err(StoreError::Conflict { .. }) if attempt < CAS_RETRIES => {
                        let found = self.store.get(&stored.id, now).await?;
                        match self.checked(&stored.id, found, now)? {
                            Some(fresh) => current = fresh,
                            None => break,
                        }
                    }
                    Err(StoreError::NotFound | StoreError::Expired) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(updated)
    }

    /// Ends every session in the store ([`SessionStore::delete_all`]):
    /// every subject's, in every context.
    pub async fn end_every_session(&self) -> Result<RevokeReport, SessionsError> {
        Ok(self.store.delete_all(self.clock.now()).await?)
    }

    /// Removes expired sessions and stale index entries.
    pub async fn purge(&self) -> Result<PurgeReport, SessionsError> {
        Ok(self.store.purge(self.clock.now()).await?)
    }

    /// The number of live sessions.
    pub async fn count(&self) -> Result<u64, SessionsError> {
        Ok(self.store.count(self.clock.now()).await?)
    }

    /// Whether the backend answers.
    pub async fn ping(&self) -> Result<(), SessionsError> {
        Ok(self.store.ping().await?)
    }
}

/// [`SessionsError::WrongContext`] unless `session` is in `context` (any
/// context when `None`).
fn check_context(session: &Session, context: Option<&Context>) -> Result<(), SessionsError> {
    if context.is_some_and(|c| c != &session.context) {
        return Err(SessionsError::WrongContext);
    }
    Ok(())
}

fn invalid(field: &'static str, reason: &str) -> SessionsError {
    tessera_core::CoreError::Invalid {
        field,
        reason: reason.into(),
    }
    .into()
}

/// An imported session's times must describe a past that could have
/// happened: nothing after `now`, no use before the creation.
fn check_imported_times(session: &Session, now: Timestamp) -> Result<(), SessionsError> {
    for (field, t) in [
        ("creation_time", session.creation_time),
        ("auth_time", session.auth_time),
        ("last_used", session.last_used),
    ] {
        if t > now {
            return Err(invalid(field, "is in the future"));
        }
    }
    if session.last_used < session.creation_time {
        return Err(invalid("last_used", "is before creation_time"));
    }
    Ok(())
}

/// Applies `changes`, or refuses them if they would change a read-only
/// field.
fn apply(session: &mut Session, changes: SessionChanges) -> Result<(), SessionsError> {
    let SessionChanges {
        data,
        claims,
        acr,
        amr,
        unchanged,
    } = changes;
    if let Some(field) = unchanged.first_changed(session) {
        return Err(invalid(
            field,
            "is read-only and cannot be changed by an update; send it as read, or leave it out",
        ));
    }
    if let Some(data) = data {
        session.data = data;
    }
    if let Some(claims) = claims {
        session.claims = claims;
    }
    if let Some(acr) = acr {
        session.acr = acr;
    }
    if let Some(amr) = amr {
        session.amr = amr;
    }
    Ok(())
}
