//! The local store's operations on one subject or one session, each under
//! the subject's lock where it must be: create with the quota, touch,
//! compare-and-set update, delete, list and delete by subject.

use tessera_core::{Context, Policy, Session, Subject, Timestamp};
use tessera_crypto::SessionRef;
use tessera_store::backend::{compare_and_set, listed, quota_plan, record};
use tessera_store::{Created, StoreError, StoredSession};

use super::Inner;
use crate::files::{
    RecordReadError, io_error, read_optional, read_record, remove_optional, sync_dir, write_atomic,
};
use crate::index;
use crate::layout::SubjectKey;

impl Inner {
    pub(crate) fn read_session(&self, id: &SessionRef) -> Result<Option<Session>, StoreError> {
        match read_record(&self.layout.session(id)) {
            Ok(found) => found.map(|bytes| record::decode(&bytes)).transpose(),
            Err(RecordReadError::Io(e)) => Err(io_error("reading a session file", e)),
            Err(RecordReadError::Unsafe(reason)) => Err(StoreError::Corrupt {
                reason: format!("the session file {id} {reason}"),
                source: None,
            }),
        }
    }

    pub(crate) fn write_session(
        &self,
        id: &SessionRef,
        session: &Session,
    ) -> Result<(), StoreError> {
        write_atomic(&self.layout.session(id), &record::encode(session))
            .map_err(|e| io_error("writing a session file", e))
    }

    pub(crate) fn remove_session(&self, id: &SessionRef) -> Result<bool, StoreError> {
        remove_optional(&self.layout.session(id))
            .map_err(|e| io_error("removing a session file", e))
    }

    pub(crate) fn read_index(&self, key: &SubjectKey) -> Result<Vec<SessionRef>, StoreError> {
        match read_optional(&self.layout.index(key))
            .map_err(|e| io_error("reading a subject index", e))?
        {
            Some(bytes) => index::decode(&bytes).map(|(_, refs)| refs),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn write_index(
        &self,
        subject: &Subject,
        key: &SubjectKey,
        refs: &[SessionRef],
    ) -> Result<(), StoreError> {
        let path = self.layout.index(key);
        if refs.is_empty() {
            if remove_optional(&path).map_err(|e| io_error("removing a subject index", e))?
                && let Some(dir) = path.parent()
            {
                sync_dir(dir).map_err(|e| io_error("syncing a subject index folder", e))?;
            }
            return Ok(());
        }
        write_atomic(&path, &index::encode(subject, refs))
            .map_err(|e| io_error("writing a subject index", e))
    }

    /// The subject's sessions per its index: `(live, expired or missing)`.
    pub(crate) fn sessions_of(
        &self,
        key: &SubjectKey,
        now: Timestamp,
    ) -> Result<(Vec<StoredSession>, Vec<SessionRef>), StoreError> {
        let mut live = Vec::new();
        let mut dead = Vec::new();
        for id in self.read_index(key)? {
            match self.read_session(&id)? {
                Some(session) if !session.is_expired(now) => {
                    live.push(StoredSession { id, session });
                }
                _ => dead.push(id),
            }
        }
        Ok((live, dead))
    }

    pub(crate) fn create(
        &self,
        id: &SessionRef,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        let key = SubjectKey::of(&session.subject);
        let _lock = self.stripes.lock(&self.layout, key.stripe())?;
        if let Some(existing) = self.read_session(id)? {
            if !existing.is_expired(now) {
                return Err(StoreError::AlreadyExists);
            }
            self.remove_session(id)?;
        }
        let (live, dead) = self.sessions_of(&key, now)?;
        let closed = quota_plan(&live, policy, now)?;
        // Order matters for crash safety: closed and expired files go first,
        // then the index (which already lists the new session), then the new
        // file. A crash at any point leaves only index entries without files,
        // which readers skip and purge removes; never a live session missing
        // from its index, which would escape the quota.
        for gone in closed.iter().chain(&dead) {
            self.remove_session(gone)?;
        }
        let mut refs: Vec<SessionRef> = live
            .iter()
            .map(|s| s.id)
            .filter(|r| !closed.contains(r))
            .collect();
        refs.push(*id);
        self.write_index(&session.subject, &key, &refs)?;
        self.write_session(id, session)?;
        Ok(Created { closed })
    }

    /// Stores a pre-login session: its file alone, under the stripe of its
    /// storage key (it has no subject to share a stripe with, and no index).
    pub(crate) fn create_anonymous(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let _lock = self
            .stripes
            .lock(&self.layout, stripe_of(id, &session.subject))?;
        if let Some(existing) = self.read_session(id)? {
            if !existing.is_expired(now) {
                return Err(StoreError::AlreadyExists);
            }
            self.remove_session(id)?;
        }
        self.write_session(id, session)
    }

    /// Writes a touch under the subject lock, re-reading first so that a
    /// concurrent update is never overwritten with an older body.
    pub(crate) fn persist_touch(
        &self,
        id: &SessionRef,
        subject: &Subject,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let _lock = self.stripes.lock(&self.layout, stripe_of(id, subject))?;
        if let Some(mut fresh) = self.read_session(id)?
            && !fresh.is_expired(now)
            && fresh.last_used < now
        {
            fresh.touch(now);
            self.write_session(id, &fresh)?;
        }
        Ok(())
    }

    pub(crate) fn update(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let subject = self.read_session(id)?.ok_or(StoreError::NotFound)?.subject;
        let _lock = self.stripes.lock(&self.layout, stripe_of(id, &subject))?;
        let stored = self.read_session(id)?.ok_or(StoreError::NotFound)?;
        let next = compare_and_set(&stored, session, now)?;
        self.write_session(id, &next)?;
        Ok(next)
    }

    pub(crate) fn delete(
        &self,
        id: &SessionRef,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let session = match self.read_session(id) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(None),
            // Ending a session whose file is damaged removes the file: the
            // caller wants it gone, and there is nothing to return. A file
            // of a newer format is left alone (the error says so): an
            // older server never destroys what it cannot read.
            Err(StoreError::Corrupt { .. }) => {
                self.remove_session(id)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let _lock = self
            .stripes
            .lock(&self.layout, stripe_of(id, &session.subject))?;
        // Read again under the lock: of two deletes racing, only the one
        // that removes the file returns the session, and it returns the
        // session as it was at the end (not as an update found it before).
        let session = match self.read_session(id) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(None),
            Err(StoreError::Corrupt { .. }) => {
                self.remove_session(id)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if !self.remove_session(id)? {
            return Ok(None);
        }
        if session.is_anonymous() {
            return Ok((!session.is_expired(now)).then_some(session));
        }
        let key = SubjectKey::of(&session.subject);
        let refs: Vec<SessionRef> = self
            .read_index(&key)?
            .into_iter()
            .filter(|r| r != id)
            .collect();
        self.write_index(&session.subject, &key, &refs)?;
        Ok((!session.is_expired(now)).then_some(session))
    }

    pub(crate) fn list(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError> {
        // A listing skips records it cannot decode (a logout by subject
        // still removes them); a newer format is refused.
        let mut found = Vec::new();
        for id in self.read_index(&SubjectKey::of(subject))? {
            match self.read_session(&id) {
                Ok(Some(session)) => found.push(StoredSession { id, session }),
                Ok(None) | Err(StoreError::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(listed(found, subject, context, now))
    }

    pub(crate) fn delete_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        let key = SubjectKey::of(subject);
        let _lock = self.stripes.lock(&self.layout, key.stripe())?;
        let (live, dead) = self.sessions_of(&key, now)?;
        let mut deleted = Vec::new();
        let mut kept = Vec::new();
        for s in live {
            if context.is_none_or(|c| &s.session.context == c) {
                self.remove_session(&s.id)?;
                deleted.push(s.id);
            } else {
                kept.push(s.id);
            }
        }
        for id in &dead {
            self.remove_session(id)?;
        }
        self.write_index(subject, &key, &kept)?;
        Ok(deleted)
    }
}

/// The lock stripe guarding a session: its subject's, or for a pre-login
/// session (no subject) the first byte of its storage key.
fn stripe_of(id: &SessionRef, subject: &Subject) -> u8 {
    if subject.is_anonymous() {
        id.storage_key().as_bytes()[0]
    } else {
        SubjectKey::of(subject).stripe()
    }
}
