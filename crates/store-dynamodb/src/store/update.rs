//! Compare-and-set updates and the get-and-touch write.

use super::BACKOFF_BASE;
use super::BACKOFF_CAP;
use super::DynamoDbStore;
use super::create::{cancellation, index_condition};
use crate::budget::{backoff, random_version};
use crate::errors;
use crate::errors::GaveUp;
use crate::expr;
use crate::item;
use crate::item::{INDEX_BOUND, Index, Item, n};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use std::collections::HashMap;
use tessera_core::{Session, Timestamp, TouchDecision, decide_touch};
use tessera_crypto::SessionRef;
use tessera_store::backend::check_update;
use tessera_store::{SessionStore, StoreError, Touch};

enum UpdateOutcome {
    Updated,
    /// A condition failed; the stored item as it was, if any.
    Failed(Option<Item>),
    /// The subject index changed under us.
    IndexContended,
}

impl DynamoDbStore {
    pub(super) async fn update_session(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let hard = item::hard_expiry_ms(session);
        let mut known_last_used = session.last_used;
        let mut new_bound = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > self.create_attempts {
                return Err(StoreError::unavailable(
                    "updating a session",
                    GaveUp(format!(
                        "no consistent outcome after {} attempts",
                        self.create_attempts
                    )),
                ));
            }
            let mut next = session.clone();
            next.version = session.version + 1;
            next.last_used = known_last_used;
            item::session_item(id, &next, hard)?;
            match self
                .try_update(id, session.version, &next, now, new_bound)
                .await?
            {
                UpdateOutcome::Updated => return Ok(next),
                UpdateOutcome::IndexContended => {
                    tokio::time::sleep(backoff(attempt, BACKOFF_BASE, BACKOFF_CAP)).await;
                }
                UpdateOutcome::Failed(None) => return Err(StoreError::NotFound),
                UpdateOutcome::Failed(Some(old)) => {
                    let stored = item::decode_session(&old)?;
                    check_update(&stored, session, now)?;
                    if stored.last_used > known_last_used {
                        // Touched since the caller read it: keep the later use.
                        known_last_used = stored.last_used;
                        continue;
                    }
                    let bound = item::number(&old, INDEX_BOUND)?.unwrap_or(0);
                    if bound < hard && new_bound.is_none() {
                        // The update extends the hard expiry beyond what the
                        // subject index knows: update both atomically.
                        new_bound = Some(hard);
                        continue;
                    }
                    return Err(StoreError::Corrupt {
                        reason: "the session item's helper attributes disagree with its record"
                            .into(),
                        source: None,
                    });
                }
            }
        }
    }

    pub(super) async fn touch(
        &self,
        id: &SessionRef,
        now: Timestamp,
        touch: Touch,
    ) -> Result<Option<Session>, StoreError> {
        // One strongly consistent read; the write only once the window
        // has passed since the stored last use (the same decision as every
        // other store's).
        let Some(mut session) = SessionStore::get(self, id, now).await? else {
            return Ok(None);
        };
        if touch == Touch::Skip {
            return Ok(Some(session));
        }
        match decide_touch(now, session.last_used, self.touch_window) {
            TouchDecision::Unchanged => return Ok(Some(session)),
            TouchDecision::Coalesced => {
                session.touch(now);
                return Ok(Some(session));
            }
            TouchDecision::Write => {}
        }
        // Moves last use and idle expiry, and recomputes ttl: for a finite
        // max_idle `tb` is absent and ttl = now_s + mis; for an unlimited
        // one `mis` is absent and ttl stays tb.
        let update = "SET #lu = :now, #ix = #mi + :now, #ttl = if_not_exists(#tb, :now_s) + if_not_exists(#mis, :zero)";
        let condition = format!(
            "attribute_exists(#username) AND #hx > :now AND #ix > :now AND #lu < :now AND {}",
            expr::OWN_FORMAT
        );
        let [own, any] = expr::own_format_values();
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::session_key(id))))
            .update_expression(update)
            .condition_expression(&condition)
            .set_expression_attribute_names(Some(expr::names(&[update, condition.as_str()])))
            .set_expression_attribute_values(expr::values([
                (":now", n(now.as_millis())),
                (":now_s", n(item::secs_ceil(now.as_millis()))),
                (":zero", n(0)),
                own,
                any,
            ]))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let it = match sent {
            Ok(out) => out.attributes,
            Err(e) => match e.as_service_error() {
                // Absent, expired, or already used at or after `now`: the
                // old item (if any) tells which.
                Some(UpdateItemError::ConditionalCheckFailedException(ccf)) => ccf.item().cloned(),
                _ => return Err(errors::sdk("touching a session", e)),
            },
        };
        let Some(it) = it else {
            return Ok(None);
        };
        let session = item::decode_session(&it)?;
        Ok((!session.is_expired(now)).then_some(session))
    }

    /// One attempt of [`SessionStore::update`]. Without `new_bound`, one
    /// conditional UpdateItem that also checks that the index entry's bound
    /// still covers the new hard expiry; with it, one transaction that
    /// raises the bound in the subject index too.
    async fn try_update(
        &self,
        id: &SessionRef,
        expected: u64,
        next: &Session,
        now: Timestamp,
        new_bound: Option<i64>,
    ) -> Result<UpdateOutcome, StoreError> {
        let parts = UpdateExpr::new(next, expected, now, new_bound);
        if let Some(bound) = new_bound {
            return self.update_with_index(id, next, parts, bound).await;
        }
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::session_key(id))))
            .update_expression(parts.update)
            .condition_expression(parts.condition)
            .set_expression_attribute_names(Some(parts.names))
            .set_expression_attribute_values(Some(parts.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(UpdateOutcome::Updated),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(ccf)) => {
                    let old = match ccf.item() {
                        Some(item) => Some(item.clone()),
                        // Endpoints that do not return the old item.
                        None => self.get_item(id).await?,
                    };
                    Ok(UpdateOutcome::Failed(old))
                }
                _ => Err(errors::sdk("updating a session", e)),
            },
        }
    }

    /// The session update and the index rewrite, in one transaction.
    async fn update_with_index(
        &self,
        id: &SessionRef,
        next: &Session,
        parts: UpdateExpr,
        bound: i64,
    ) -> Result<UpdateOutcome, StoreError> {
        let index = self.read_index(&next.subject).await?;
        let mut entries = index.entries.clone();
        let old = entries.get(id).copied().unwrap_or(0);
        entries.insert(*id, old.max(bound));
        let new_index = Index {
            version: None,
            entries,
        }
        .item(
            &next.subject,
            index.version.map_or_else(random_version, |v| v + 1),
        );
        let (index_condition, index_values) = index_condition(index.version);
        let session_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item::key(item::session_key(id))))
            .update_expression(parts.update)
            .condition_expression(parts.condition)
            .set_expression_attribute_names(Some(parts.names))
            .set_expression_attribute_values(Some(parts.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::backend("building an update", e))?;
        let index_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(new_index))
            .condition_expression(index_condition)
            .set_expression_attribute_names(Some(expr::names(&[index_condition])))
            .set_expression_attribute_values(index_values)
            .build()
            .map_err(|e| StoreError::backend("building an update", e))?;
        let sent = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(session_update).build())
            .transact_items(TransactWriteItem::builder().put(index_put).build())
            .send()
            .await;
        let Err(e) = sent else {
            return Ok(UpdateOutcome::Updated);
        };
        let Some(reasons) = cancellation(&e) else {
            return Err(errors::sdk("updating a session and its index", e));
        };
        let mut reasons = reasons.into_iter();
        match reasons.next() {
            Some((Some(code), old)) if code == "ConditionalCheckFailed" => {
                let old = match old {
                    Some(item) => Some(item),
                    None => self.get_item(id).await?,
                };
                Ok(UpdateOutcome::Failed(old))
            }
            _ => Ok(UpdateOutcome::IndexContended),
        }
    }
}

fn version_number(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The SET clause, the attribute to REMOVE, and the values of an update
/// that rewrites a session's record and helpers (not its key, not its
/// index bound).
fn update_parts(session: &Session) -> (String, &'static str, HashMap<String, AttributeValue>) {
    let (attrs, absent) = item::session_attributes(session);
    let mut set = Vec::with_capacity(attrs.len());
    let mut values = HashMap::with_capacity(attrs.len() + 4);
    for (name, value) in attrs {
        set.push(format!("#{name} = :a_{name}"));
        values.insert(format!(":a_{name}"), value);
    }
    (set.join(", "), absent, values)
}

/// The expressions of a session update: rewrite the record and helpers
/// if the stored session is live, at version `expected`, not used later
/// than `next`, and (without a new bound) covered by its index entry.
struct UpdateExpr {
    update: String,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl UpdateExpr {
    pub(super) fn new(
        next: &Session,
        expected: u64,
        now: Timestamp,
        new_bound: Option<i64>,
    ) -> Self {
        let (set, remove, mut values) = update_parts(next);
        let mut update = format!("SET {set}");
        let mut condition = String::from(
            "attribute_exists(#username) AND #v = :expected AND #lu <= :a_lu \
             AND #hx > :now AND #ix > :now AND #sub = :a_sub AND #cx = :a_cx AND ",
        );
        condition.push_str(expr::OWN_FORMAT);
        for (name, value) in expr::own_format_values() {
            values.insert(name.into(), value);
        }
        match new_bound {
            Some(bound) => {
                update.push_str(", #ih = :bound");
                values.insert(":bound".into(), n(bound));
            }
            None => condition.push_str(" AND #ih >= :a_hx"),
        }
        update.push_str(" REMOVE #");
        update.push_str(remove);
        values.insert(":expected".into(), n(version_number(expected)));
        values.insert(":now".into(), n(now.as_millis()));
        let names = expr::names(&[&update, &condition]);
        Self {
            update,
            condition,
            names,
            values,
        }
    }
}
