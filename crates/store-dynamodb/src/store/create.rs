//! Create: the quota decision on the subject index and the one
//! transaction that writes the session and the new index.

use super::BACKOFF_BASE;
use super::BACKOFF_CAP;
use super::DynamoDbStore;
use crate::budget::{backoff, random_version};
use crate::errors;
use crate::errors::GaveUp;
use crate::expr;
use crate::item;
use crate::item::{Index, Item, n, s};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use std::collections::{BTreeMap, HashMap};
use tessera_core::{Policy, Session, Timestamp};
use tessera_crypto::SessionRef;
use tessera_store::backend::quota_plan;
use tessera_store::{Created, StoreError};

impl DynamoDbStore {
    pub(super) async fn create_session(
        &self,
        id: &SessionRef,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        let bound = item::hard_expiry_ms(session);
        // Refused before any request when it cannot fit.
        let session_item = item::session_item(id, session, bound)?;
        let turn = self.creating.of(&session.subject);
        let _turn = turn.lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > self.create_attempts {
                return Err(StoreError::unavailable(
                    "creating a session",
                    GaveUp(format!(
                        "the subject index kept changing under concurrent logins ({} attempts)",
                        self.create_attempts
                    )),
                ));
            }
            if attempt > 1 {
                tokio::time::sleep(backoff(attempt, BACKOFF_BASE, BACKOFF_CAP)).await;
            }
            let (version, entries, closed) = self.plan_create(id, session, policy, now).await?;
            let mut entries = entries;
            entries.insert(*id, bound);
            let new_index = Index {
                version: None,
                entries,
            }
            .item(
                &session.subject,
                version.map_or_else(random_version, |v| v + 1),
            );
            item::check_size(&new_index)?;
            if self
                .commit_create(
                    id,
                    attempt,
                    session_item.clone(),
                    new_index,
                    version,
                    &closed,
                    now,
                )
                .await?
            {
                return Ok(Created { closed });
            }
        }
    }

    /// Stores a pre-login session: one conditional `PutItem` (absent, or
    /// expired), no index. Its index bound is the largest number, so no
    /// update ever looks for an index it does not have.
    pub(super) async fn create_unindexed(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        tessera_store::backend::check_anonymous(session)?;
        let mut session_item = item::session_item(id, session, i64::MAX)?;
        let token = create_token(id, 1);
        session_item.insert(item::CREATE_TOKEN.to_owned(), s(token.clone()));
        let condition = "attribute_not_exists(#username) OR #hx <= :now OR #ix <= :now";
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr::names(&[condition])))
            .set_expression_attribute_values(expr::values([(":now", n(now.as_millis()))]))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Err(e) = sent else {
            return Ok(());
        };
        match e.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(ccf)) => {
                // The SDK's retry of a put that did land (its answer lost)
                // meets its own write: success.
                let old = match ccf.item() {
                    Some(item) => Some(item.clone()),
                    None => self.get_item(id).await?,
                };
                let theirs = old.as_ref().and_then(|it| it.get(item::CREATE_TOKEN));
                if theirs.and_then(|t| t.as_s().ok()) == Some(&token) {
                    Ok(())
                } else {
                    Err(StoreError::AlreadyExists)
                }
            }
            _ => Err(errors::sdk("creating a pre-login session", e)),
        }
    }

    /// Reads the subject index and applies the quota: the index version
    /// read, the entries to keep (without `id`) and the sessions to close.
    async fn plan_create(
        &self,
        id: &SessionRef,
        session: &Session,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<(Option<i64>, BTreeMap<SessionRef, i64>, Vec<SessionRef>), StoreError> {
        let index = self.read_index(&session.subject).await?;
        let mut entries = index.entries.clone();
        // Entries whose hard-expiry bound has passed are certainly dead; a
        // stale entry for this very id is replaced by the caller.
        entries.retain(|r, b| *b > now.as_millis() && r != id);
        if entries.len() < policy.quota_per_subject.get() {
            // Under the quota even if every listed session were alive.
            return Ok((index.version, entries, Vec::new()));
        }
        // At the quota by the bounds: idle expiry and missing items decide,
        // so read the sessions themselves.
        let listed = Index {
            version: index.version,
            entries: entries.clone(),
        };
        let (stored, gone) = self.sessions_of(&listed, false).await?;
        for g in gone {
            entries.remove(&g);
        }
        let mut live = Vec::with_capacity(stored.len());
        for st in stored {
            if st.session.is_expired(now) {
                entries.remove(&st.id);
            } else {
                live.push(st);
            }
        }
        let closed = quota_plan(&live, policy, now)?;
        for c in &closed {
            entries.remove(c);
        }
        Ok((index.version, entries, closed))
    }

    /// The create transaction: put the session (if absent or expired), put
    /// the index (if unchanged since read), delete the closed sessions.
    /// `Ok(false)` when a concurrent change means planning again.
    /// `attempt` numbers this try of the create: the SDK's own retries of
    /// one attempt (after a timeout, say) carry the same client request
    /// token, so DynamoDB applies the transaction once however often it
    /// arrives.
    #[expect(clippy::too_many_arguments, reason = "one transaction's parts")]
    async fn commit_create(
        &self,
        id: &SessionRef,
        attempt: u32,
        session_item: Item,
        new_index: Item,
        version: Option<i64>,
        closed: &[SessionRef],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let put_condition = "attribute_not_exists(#username) OR #hx <= :now OR #ix <= :now";
        let token = create_token(id, attempt);
        let mut session_item = session_item;
        session_item.insert(item::CREATE_TOKEN.to_owned(), s(token.clone()));
        let put_session = Put::builder()
            .table_name(&self.table)
            .set_item(Some(session_item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .condition_expression(put_condition)
            .set_expression_attribute_names(Some(expr::names(&[put_condition])))
            .set_expression_attribute_values(expr::values([(":now", n(now.as_millis()))]))
            .build()
            .map_err(|e| StoreError::backend("building a create", e))?;
        let (index_cond, index_values) = index_condition(version);
        let put_index = Put::builder()
            .table_name(&self.table)
            .set_item(Some(new_index))
            .condition_expression(index_cond)
            .set_expression_attribute_names(Some(expr::names(&[index_cond])))
            .set_expression_attribute_values(index_values)
            .build()
            .map_err(|e| StoreError::backend("building a create", e))?;
        let mut tx = self
            .client
            .transact_write_items()
            .client_request_token(token.clone())
            .transact_items(TransactWriteItem::builder().put(put_session).build())
            .transact_items(TransactWriteItem::builder().put(put_index).build());
        for c in closed {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(item::key(item::session_key(c))))
                .build()
                .map_err(|e| StoreError::backend("building a create", e))?;
            tx = tx.transact_items(TransactWriteItem::builder().delete(delete).build());
        }
        let Err(e) = tx.send().await else {
            return Ok(true);
        };
        let Some(reasons) = cancellation(&e) else {
            return Err(errors::sdk("creating a session", e));
        };
        if let Some((Some(code), old)) = reasons.first()
            && code == "ConditionalCheckFailed"
        {
            // A retry of an attempt that did commit (its answer lost to a
            // timeout) meets its own write, marked with this attempt's
            // token. That is success, not a clash; an endpoint that does
            // not honour client request tokens gets here.
            let existing = match old {
                Some(item) => Some(item.clone()),
                None => self.get_item(id).await?,
            };
            let theirs = existing.as_ref().and_then(|it| it.get(item::CREATE_TOKEN));
            if theirs.and_then(|t| t.as_s().ok()) == Some(&token) {
                return Ok(true);
            }
            return Err(StoreError::AlreadyExists);
        }
        if reasons.iter().any(|r| retryable(r.0.as_deref())) {
            Ok(false)
        } else {
            Err(errors::sdk("creating a session", e))
        }
    }
}

/// The condition that the index is still the one read: same version, or
/// still absent.
pub(super) fn index_condition(
    version: Option<i64>,
) -> (&'static str, Option<HashMap<String, AttributeValue>>) {
    match version {
        Some(v) => ("#ver = :expected", expr::values([(":expected", n(v))])),
        None => ("attribute_not_exists(#username)", None),
    }
}

/// The cancellation reasons (code and returned item) of a cancelled
/// transaction, or `None` for any other error.
/// The token of one attempt of one create: the same for the SDK's retries
/// of that attempt, different for any other create (another call, another
/// process, a repeated import of the same session). At most 36 characters,
/// DynamoDB's limit for a client request token.
fn create_token(id: &SessionRef, attempt: u32) -> String {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "{}-{:x}-{call:x}-{attempt}",
        &id.storage_key().to_hex()[..12],
        std::process::id()
    )
    .chars()
    .take(36)
    .collect()
}

pub(super) fn cancellation(
    e: &aws_sdk_dynamodb::error::SdkError<
        TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Option<Vec<(Option<String>, Option<Item>)>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| (r.code().map(str::to_owned), r.item().cloned()))
                .collect(),
        ),
        _ => None,
    }
}

/// Whether a cancellation reason means "lost a race or was throttled: try
/// again".
fn retryable(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ConditionalCheckFailed"
                | "TransactionConflict"
                | "ThrottlingError"
                | "ProvisionedThroughputExceeded"
        )
    )
}
