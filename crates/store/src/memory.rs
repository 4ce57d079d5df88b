//! A store in process memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use tessera_core::{
    Context, Policy, Session, Subject, Timestamp, TouchDecision, TouchWindow, decide_touch,
};
use tessera_crypto::{SessionRef, StorageKey};

use crate::backend::record;
use crate::store::{compare_and_set, quota_plan};
use crate::{
    Created, LegacyAlias, PurgeReport, RevokeReport, SessionStore, StoreError, StoredSession, Touch,
};

/// Sessions in process memory, lost on restart.
///
/// For tests and for embedding in a single process where that is
/// acceptable. Records are kept encoded, exactly as the file and network
/// backends keep them, so the memory store exercises the same codec and
/// reports a damaged record the same way. One mutex serialises all
/// operations, which makes every operation (quota decision included)
/// atomic.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<SessionRef, Vec<u8>>,
    index: HashMap<Subject, BTreeSet<SessionRef>>,
    aliases: HashMap<StorageKey, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Overwrites the raw record stored under `id`, for tests of damaged
    /// data and for repair tools. Does not touch the subject index.
    pub fn write_raw(&self, id: &SessionRef, bytes: Vec<u8>) {
        self.lock().records.insert(*id, bytes);
    }

    /// The raw record stored under `id`, for tests and repair tools.
    pub fn read_raw(&self, id: &SessionRef) -> Option<Vec<u8>> {
        self.lock().records.get(id).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change:
        // every mutation below is a single map operation after all checks.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    /// The session under `id`, if stored (expired or not).
    fn load(&self, id: &SessionRef) -> Result<Option<Session>, StoreError> {
        self.records.get(id).map(|b| record::decode(b)).transpose()
    }

    fn remove(&mut self, id: &SessionRef, subject: &Subject) {
        self.records.remove(id);
        if let Some(set) = self.index.get_mut(subject) {
            set.remove(id);
            if set.is_empty() {
                self.index.remove(subject);
            }
        }
    }

    /// The subject's stored sessions (live or expired), skipping index
    /// entries whose record is gone.
    fn of_subject(&self, subject: &Subject) -> Result<Vec<StoredSession>, StoreError> {
        let Some(ids) = self.index.get(subject) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(session) = self.load(id)? {
                out.push(StoredSession { id: *id, session });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(
        &self,
        id: &SessionRef,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        let mut state = self.lock();
        if let Some(existing) = state.load(id)? {
            if !existing.is_expired(now) {
                return Err(StoreError::AlreadyExists);
            }
            state.remove(id, &existing.subject);
        }
        let closed = quota_plan(&state.of_subject(&session.subject)?, policy, now)?;
        for victim in &closed {
            state.remove(victim, &session.subject);
        }
        state.records.insert(*id, record::encode(session));
        state
            .index
            .entry(session.subject.clone())
            .or_default()
            .insert(*id);
        Ok(Created { closed })
    }

    async fn create_anonymous(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        crate::store::check_anonymous(session)?;
        let mut state = self.lock();
        if let Some(existing) = state.load(id)? {
            if !existing.is_expired(now) {
                return Err(StoreError::AlreadyExists);
            }
            state.remove(id, &existing.subject);
        }
        state.records.insert(*id, record::encode(session));
        Ok(())
    }

    async fn put_legacy_alias(
        &self,
        legacy: &StorageKey,
        alias: &LegacyAlias,
    ) -> Result<(), StoreError> {
        self.lock().aliases.insert(*legacy, alias.encode());
        Ok(())
    }

    async fn legacy_alias(
        &self,
        legacy: &StorageKey,
        now: Timestamp,
    ) -> Result<Option<SessionRef>, StoreError> {
        let state = self.lock();
        let Some(bytes) = state.aliases.get(legacy) else {
            return Ok(None);
        };
        let alias = LegacyAlias::decode(bytes)?;
        Ok((!alias.is_expired(now)).then_some(alias.id))
    }

    async fn get_and_touch(
        &self,
        id: &SessionRef,
        now: Timestamp,
        touch: Touch,
    ) -> Result<Option<Session>, StoreError> {
        let mut state = self.lock();
        let Some(mut session) = state.load(id)? else {
            return Ok(None);
        };
        if session.is_expired(now) {
            state.remove(id, &session.subject.clone());
            return Ok(None);
        }
        // Memory writes cost nothing: no window, every move is written.
        if touch == Touch::Yes
            && decide_touch(now, session.last_used, TouchWindow::NONE) == TouchDecision::Write
        {
            session.touch(now);
            state.records.insert(*id, record::encode(&session));
        }
        Ok(Some(session))
    }

    async fn update(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let mut state = self.lock();
        let stored = state.load(id)?.ok_or(StoreError::NotFound)?;
        let next = compare_and_set(&stored, session, now)?;
        state.records.insert(*id, record::encode(&next));
        Ok(next)
    }

    async fn delete(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let mut state = self.lock();
        let session = match state.load(id) {
            Ok(Some(session)) => session,
            Ok(None) => return Ok(None),
            Err(StoreError::Corrupt { .. }) => {
                // The subject cannot be read: drop the record and any index
                // entry naming it.
                state.records.remove(id);
                state.index.retain(|_, set| {
                    set.remove(id);
                    !set.is_empty()
                });
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        state.remove(id, &session.subject);
        Ok((!session.is_expired(now)).then_some(session))
    }

    async fn list_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError> {
        let state = self.lock();
        let mut found = Vec::new();
        for id in state.index.get(subject).into_iter().flatten() {
            // A listing skips records it cannot decode (a logout by
            // subject still removes them); a newer format is refused.
            match state.load(id) {
                Ok(Some(session)) => found.push(StoredSession { id: *id, session }),
                Ok(None) | Err(StoreError::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(crate::backend::listed(found, subject, context, now))
    }

    async fn delete_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        let mut state = self.lock();
        let mut deleted = Vec::new();
        for s in state.of_subject(subject)? {
            if context.is_none_or(|c| &s.session.context == c) {
                state.remove(&s.id, subject);
                if !s.session.is_expired(now) {
                    deleted.push(s.id);
                }
            }
        }
        Ok(deleted)
    }

    async fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let state = self.lock();
        let live = state
            .records
            .values()
            .filter_map(|b| record::decode(b).ok())
            .filter(|s| !s.is_expired(now))
            .count();
        Ok(live as u64)
    }

    async fn delete_all(&self, now: Timestamp) -> Result<RevokeReport, StoreError> {
        let mut state = self.lock();
        let mut report = RevokeReport::default();
        let State { records, index, .. } = &mut *state;
        records.retain(|_, bytes| match record::decode(bytes) {
            Err(StoreError::UnsupportedFormat { .. }) => {
                report.left += 1;
                true
            }
            Ok(session) => {
                report.ended += u64::from(!session.is_expired(now));
                false
            }
            Err(_) => false,
        });
        for ids in index.values_mut() {
            ids.retain(|id| records.contains_key(id));
        }
        index.retain(|_, ids| !ids.is_empty());
        Ok(report)
    }

    async fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        let mut state = self.lock();
        let mut report = PurgeReport::default();
        let expired: Vec<SessionRef> = state
            .records
            .iter()
            .filter(|(_, b)| record::decode(b).is_ok_and(|s| s.is_expired(now)))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            state.records.remove(&id);
            report.sessions += 1;
        }
        let State {
            records,
            index,
            aliases,
        } = &mut *state;
        aliases.retain(|_, b| !LegacyAlias::decode(b).is_ok_and(|a| a.is_expired(now)));
        for ids in index.values_mut() {
            let before = ids.len();
            ids.retain(|id| records.contains_key(id));
            report.index_entries += (before - ids.len()) as u64;
        }
        index.retain(|_, ids| !ids.is_empty());
        Ok(report)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
