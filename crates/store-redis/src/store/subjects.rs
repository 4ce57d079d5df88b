//! A subject's operations, through its index: list and delete.

use super::*;

impl RedisStore {
    pub(super) async fn list_subject(
        &self,
        subject: &Subject,
        context: Option<&tessera_core::Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError> {
        const WHAT: &str = "listing a subject's sessions";
        let tag = SubjectTag::of(subject.as_str());
        let value = self
            .run(
                &self.scripts.list,
                WHAT,
                vec![key(self.keys.index(subject))],
                vec![
                    arg(now.as_millis().to_string()),
                    arg(self.keys.session_prefix(tag)),
                ],
            )
            .await?;
        let Value::Array(values) = value else {
            return Err(unexpected_reply(WHAT));
        };
        if values.len() == 1 && values[0].as_str().as_deref() == Some("older") {
            return Err(value::older_layout());
        }
        if values.len() % 2 != 0 {
            return Err(unexpected_reply(WHAT));
        }
        let mut out = Vec::with_capacity(values.len() / 2);
        let mut values = values.into_iter();
        while let (Some(m), Some(stored)) = (values.next(), values.next()) {
            let id = Self::session_ref(tag, m, WHAT)?;
            // A listing skips values it cannot decode (a logout by subject
            // still removes them); a newer format is refused.
            match value::decode(&reply::bytes(stored, WHAT)?) {
                Ok(session) => out.push(StoredSession { id, session }),
                Err(StoreError::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(tessera_store::backend::listed(out, subject, context, now))
    }

    pub(super) async fn delete_subject(
        &self,
        subject: &Subject,
        context: Option<&tessera_core::Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        const WHAT: &str = "deleting a subject's sessions";
        let tag = SubjectTag::of(subject.as_str());
        let value = self
            .run(
                &self.scripts.delete_subject,
                WHAT,
                vec![key(self.keys.index(subject))],
                vec![
                    arg(now.as_millis().to_string()),
                    arg(self.keys.session_prefix(tag)),
                    arg(context.map_or("", |c| c.as_str())),
                ],
            )
            .await?;
        let reply = Reply::parse(value, WHAT)?;
        match reply.status() {
            "ok" => reply
                .into_values()
                .into_iter()
                .map(|m| Self::session_ref(tag, m, WHAT))
                .collect(),
            "newer" => Err(reply::newer(reply, WHAT)),
            _ => Err(unexpected_reply(WHAT)),
        }
    }
}
