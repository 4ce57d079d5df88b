//! Deleting one session, or every session of a subject.

use super::DynamoDbStore;
use crate::errors;
use crate::expr;
use crate::item;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use tessera_core::{Context, Session, Subject, Timestamp};
use tessera_crypto::SessionRef;
use tessera_store::StoreError;

impl DynamoDbStore {
    pub(super) async fn delete_one(
        &self,
        id: &SessionRef,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::session_key(id))))
            .condition_expression(expr::OWN_FORMAT)
            .set_expression_attribute_names(Some(expr::names(&[expr::OWN_FORMAT])))
            .set_expression_attribute_values(expr::values(expr::own_format_values()))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => match e.as_service_error() {
                // Left alone: the record is of a newer format, which the
                // old item's record says.
                Some(DeleteItemError::ConditionalCheckFailedException(ccf)) => {
                    return Err(newer_than_this_build(ccf.item()));
                }
                _ => return Err(errors::sdk("deleting a session", e)),
            },
        };
        let Some(old) = out.attributes else {
            return Ok(None);
        };
        let decoded = item::decode_session(&old);
        let subject = match old.get(item::SUB).and_then(|v| v.as_s().ok()) {
            Some(sub) => Subject::new(sub.clone()).ok(),
            None => decoded.as_ref().ok().map(|s| s.subject.clone()),
        };
        if let Some(subject) = subject {
            self.remove_index_entries(item::index_key(&subject), &[*id], None)
                .await?;
        }
        match decoded {
            Ok(session) => Ok((!session.is_expired(now)).then_some(session)),
            Err(e) => {
                // The caller asked for it gone, and it is; there is no
                // session to return.
                tracing::warn!(error = %e, "deleted a session item whose record did not decode");
                Ok(None)
            }
        }
    }

    pub(super) async fn delete_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        let index = self.read_index(subject).await?;
        let (stored, gone) = self.sessions_of(&index, false).await?;
        let mut doomed = Vec::new();
        let mut live = Vec::new();
        for st in &stored {
            if context.is_none_or(|c| &st.session.context == c) {
                doomed.push(st.id);
                if !st.session.is_expired(now) {
                    live.push((st.session.creation_time, st.id));
                }
            }
        }
        self.batch_delete(doomed.iter().map(item::session_key).collect())
            .await?;
        let mut unlisted = doomed;
        unlisted.extend(gone);
        self.remove_index_entries(item::index_key(subject), &unlisted, None)
            .await?;
        live.sort();
        Ok(live.into_iter().map(|(_, id)| id).collect())
    }
}

/// The error for a session item that failed [`expr::OWN_FORMAT`]: the
/// format its record declares, when the item came back with the failure.
fn newer_than_this_build(old: Option<&item::Item>) -> StoreError {
    let found = old
        .and_then(|it| it.get(item::REC))
        .and_then(|rec| rec.as_s().ok())
        .and_then(|rec| tessera_store::backend::record::format_of(rec.as_bytes()));
    StoreError::UnsupportedFormat {
        found: found.unwrap_or(tessera_store::backend::record::FORMAT + 1),
        supported: tessera_store::backend::record::FORMAT,
    }
}
