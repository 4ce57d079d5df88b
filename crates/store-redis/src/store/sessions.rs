//! One session's operations: create (with the quota, in one script), the
//! bounded read with its coalesced touch, compare-and-set update, delete.

use super::*;

impl RedisStore {
    /// Writes a due touch: the touch script, which moves `last_used` to
    /// `now` and the key's expiry with it unless the session changed since
    /// `read` was read.
    pub(super) async fn write_touch(
        &self,
        key_name: String,
        read: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        const WHAT: &str = "recording a session's use";
        let args = vec![
            arg(now.as_millis().to_string()),
            arg(read.version.to_string()),
        ];
        let value = self
            .run(&self.scripts.touch, WHAT, vec![key(key_name)], args)
            .await?;
        let reply = Reply::parse(value, WHAT)?;
        match reply.status() {
            // Gone since the read (a logout, or it expired meanwhile): the
            // read stands; the next one will not find it.
            "ok" | "none" => Ok(()),
            "corrupt" => Err(reply::damaged()),
            "older" => Err(value::older_layout()),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }

    pub(super) async fn create_with_quota(
        &self,
        id: &SessionRef,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        const WHAT: &str = "creating a session";
        check_tag(id, &session.subject)?;
        let rule = match policy.on_quota_exhaustion {
            OnQuotaExhaustion::DenyLogin => "deny",
            OnQuotaExhaustion::CloseOldSession => "close",
        };
        let keys = vec![
            key(self.keys.session(id)),
            key(self.keys.index(&session.subject)),
        ];
        let args = vec![
            arg(now.as_millis().to_string()),
            arg(policy.quota_per_subject.get().to_string()),
            arg(rule),
            Value::Bytes(value::encode(session).into()),
            arg(expiry_arg(session)),
            arg(value::index_score(session)),
            arg(keys::member(&id.storage_key())),
            arg(self.keys.index_prefix(id.tag())),
            arg(policy
                .signers
                .ids()
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")),
        ];
        let reply = Reply::parse(
            self.run(&self.scripts.create, WHAT, keys, args).await?,
            WHAT,
        )?;
        match reply.status() {
            "ok" => {
                let closed = reply
                    .into_values()
                    .into_iter()
                    .map(|m| Self::session_ref(id.tag(), m, WHAT))
                    .collect::<Result<_, _>>()?;
                Ok(Created { closed })
            }
            "exists" => Err(StoreError::AlreadyExists),
            "quota" => Err(StoreError::QuotaExhausted {
                quota: policy.quota_per_subject.get(),
            }),
            "corrupt" => Err(StoreError::Corrupt {
                reason: "a session of this subject has a damaged value; \
                         the quota cannot be decided"
                    .into(),
                source: None,
            }),
            "older" => Err(value::older_layout()),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }

    pub(super) async fn create_unindexed(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        const WHAT: &str = "creating a pre-login session";
        check_anonymous(session)?;
        let args = vec![
            arg(now.as_millis().to_string()),
            Value::Bytes(value::encode(session).into()),
            arg(expiry_arg(session)),
        ];
        let reply = Reply::parse(
            self.run(
                &self.scripts.create_anonymous,
                WHAT,
                vec![key(self.keys.session(id))],
                args,
            )
            .await?,
            WHAT,
        )?;
        match reply.status() {
            "ok" => Ok(()),
            "exists" => Err(StoreError::AlreadyExists),
            "older" => Err(value::older_layout()),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }

    /// One `GET`; the expiry is decided here with `now`. With
    /// [`Touch::Yes`], once the touch window has passed since the stored
    /// last use, one more round trip writes it (the touch script, which
    /// changes nothing if the session was updated or touched since).
    pub(super) async fn read_and_touch(
        &self,
        id: &SessionRef,
        now: Timestamp,
        touch: Touch,
    ) -> Result<Option<Session>, StoreError> {
        const WHAT: &str = "reading a session";
        let client = self.client(WHAT)?;
        let key = self.keys.session(id);
        // At most one byte over the cap: a larger value is refused without
        // reading the rest of it. A missing key reads as the empty string,
        // which no session value is.
        let stored: Value = self
            .bounded_raw(client.getrange(&key, 0, READ_CAP))
            .await
            .map_err(|e| read_error(WHAT, e))?;
        if stored.is_null() || stored.as_bytes().is_some_and(<[u8]>::is_empty) {
            return Ok(None);
        }
        let mut session = value::decode(&reply::bytes(stored, WHAT)?)?;
        if session.is_expired(now) {
            return Ok(None);
        }
        if touch == Touch::Skip {
            return Ok(Some(session));
        }
        let decision = decide_touch(now, session.last_used, self.touch_window);
        if decision == TouchDecision::Write {
            self.write_touch(key, &session, now).await?;
        }
        if decision.moves() {
            session.touch(now);
        }
        Ok(Some(session))
    }

    pub(super) async fn update_versioned(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        const WHAT: &str = "updating a session";
        check_tag(id, &session.subject)?;
        let mut next = session.clone();
        next.version = session.version.checked_add(1).ok_or_else(|| {
            StoreError::Invalid(CoreError::Invalid {
                field: "version",
                reason: "is at its maximum".into(),
            })
        })?;
        let limits = Limits::of(&next);
        let keys = vec![
            key(self.keys.session(id)),
            key(self.keys.index_of(id, &session.subject)),
        ];
        let args = vec![
            arg(now.as_millis().to_string()),
            arg(session.version.to_string()),
            arg(next.version.to_string()),
            Value::Bytes(value::body(&next).into()),
            arg(limits.last_used),
            arg(limits.max_idle),
            arg(limits.hard_expiry),
            arg(keys::subject_hash(&session.subject)),
            arg(session.context.as_str()),
            arg(keys::member(&id.storage_key())),
        ];
        let reply = Reply::parse(
            self.run(&self.scripts.update, WHAT, keys, args).await?,
            WHAT,
        )?;
        match reply.status() {
            "ok" => {
                let [lu] = one(reply.into_values(), WHAT)?;
                let lu: i64 = reply::text(lu, WHAT)?
                    .parse()
                    .map_err(|_| unexpected_reply(WHAT))?;
                next.last_used = Timestamp::from_millis(lu);
                Ok(next)
            }
            "none" => Err(StoreError::NotFound),
            "expired" => Err(StoreError::Expired),
            "conflict" => {
                let [actual] = one(reply.into_values(), WHAT)?;
                let actual = reply::text(actual, WHAT)?
                    .parse()
                    .map_err(|e| StoreError::corrupt("the session's version is not a number", e))?;
                Err(StoreError::Conflict {
                    expected: session.version,
                    actual,
                })
            }
            "subject" => Err(StoreError::Invalid(CoreError::Invalid {
                field: "sub",
                reason: "the subject of a session cannot change".into(),
            })),
            "context" => Err(StoreError::Invalid(CoreError::Invalid {
                field: "ctx",
                reason: "the context of a session cannot change".into(),
            })),
            "corrupt" => Err(reply::damaged()),
            "older" => Err(value::older_layout()),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }

    pub(super) async fn delete_one(
        &self,
        id: &SessionRef,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        const WHAT: &str = "deleting a session";
        let args = vec![
            arg(now.as_millis().to_string()),
            arg(self.keys.index_prefix(id.tag())),
            arg(keys::member(&id.storage_key())),
        ];
        let value = self
            .run(
                &self.scripts.delete,
                WHAT,
                vec![key(self.keys.session(id))],
                args,
            )
            .await?;
        let reply = Reply::parse(value, WHAT)?;
        match reply.status() {
            "ok" => {
                let [stored] = one(reply.into_values(), WHAT)?;
                match value::decode(&reply::bytes(stored, WHAT)?) {
                    Ok(session) => Ok(Some(session)),
                    // The delete happened: a logout must never be blocked by
                    // a damaged record, and nothing else can be returned.
                    Err(e) => {
                        tracing::warn!(error = %e, "deleted a session whose record did not decode");
                        Ok(None)
                    }
                }
            }
            // A session of format 1 is deleted, but cannot be returned.
            "none" | "older" => Ok(None),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }
}

/// The key expiry of `session`'s value as a script argument: ms, or ''
/// when it never expires.
fn expiry_arg(session: &Session) -> String {
    value::key_expiry(session).map_or_else(String::new, |ms| ms.to_string())
}

fn one(values: Vec<Value>, what: &'static str) -> Result<[Value; 1], StoreError> {
    values.try_into().map_err(|_| unexpected_reply(what))
}
