//! Batched reads and writes within DynamoDB's limits, retrying what
//! comes back unprocessed, and the subject index's bookkeeping.

use super::BACKOFF_BASE;
use super::BACKOFF_CAP;
use super::DynamoDbStore;
use crate::budget::backoff;
use crate::errors;
use crate::errors::GaveUp;
use crate::expr;
use crate::item;
use crate::item::{Index, Item, KEY, n};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, WriteRequest};
use std::collections::HashMap;
use tessera_crypto::SessionRef;
use tessera_store::{StoreError, StoredSession};

/// Keys per BatchGetItem request (DynamoDB's limit).
const BATCH_GET_MAX: usize = 100;
/// Items per BatchWriteItem request (DynamoDB's limit).
const BATCH_WRITE_MAX: usize = 25;
/// Rounds a batch call retries its unprocessed keys or items.
const BATCH_ROUNDS: u32 = 8;

impl DynamoDbStore {
    /// Consistent reads of session items, in chunks of 100 keys, retrying
    /// unprocessed keys. Missing items are simply absent from the result.
    pub(super) async fn batch_get(
        &self,
        ids: &[SessionRef],
        projection: Option<&str>,
    ) -> Result<HashMap<SessionRef, Item>, StoreError> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_GET_MAX) {
            let mut keys: Vec<Item> = chunk
                .iter()
                .map(|id| item::key(item::session_key(id)))
                .collect();
            let mut round = 0;
            while !keys.is_empty() {
                round += 1;
                if round > BATCH_ROUNDS {
                    return Err(StoreError::unavailable(
                        "reading sessions in a batch",
                        GaveUp(format!(
                            "keys still unprocessed after {BATCH_ROUNDS} rounds"
                        )),
                    ));
                }
                if round > 1 {
                    tokio::time::sleep(backoff(round, BACKOFF_BASE, BACKOFF_CAP)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .set_projection_expression(projection.map(str::to_owned))
                    .set_expression_attribute_names(projection.map(|p| expr::names(&[p])))
                    .build()
                    .map_err(|e| StoreError::backend("building a batch read", e))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| errors::sdk("reading sessions in a batch", e))?;
                for it in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let Some(id) = it
                        .get(KEY)
                        .and_then(|k| k.as_s().ok())
                        .and_then(|k| item::session_ref_of_key(k))
                    {
                        found.insert(id, it.clone());
                    }
                }
                if let Some(rest) = out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    keys = rest.keys().to_vec();
                }
            }
        }
        Ok(found)
    }

    /// Deletes items by key value, in chunks of 25, retrying unprocessed
    /// items.
    pub(super) async fn batch_delete(&self, keys: Vec<String>) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(item::key(k.clone())))
                                .build()
                                .expect("the key is set"),
                        )
                        .build()
                })
                .collect();
            let mut round = 0;
            while !requests.is_empty() {
                round += 1;
                if round > BATCH_ROUNDS {
                    return Err(StoreError::unavailable(
                        "deleting sessions in a batch",
                        GaveUp(format!(
                            "items still unprocessed after {BATCH_ROUNDS} rounds"
                        )),
                    ));
                }
                if round > 1 {
                    tokio::time::sleep(backoff(round, BACKOFF_BASE, BACKOFF_CAP)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(|e| errors::sdk("deleting sessions in a batch", e))?;
                if let Some(rest) = out.unprocessed_items().and_then(|u| u.get(&self.table)) {
                    requests = rest.clone();
                }
            }
        }
        Ok(())
    }

    /// Removes entries from an index item and bumps its version (so a
    /// create that read the old index retries). `expected` makes the
    /// removal conditional on the version read; a lost race returns
    /// `Ok(false)`.
    pub(super) async fn remove_index_entries(
        &self,
        index_key: String,
        ids: &[SessionRef],
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        if ids.is_empty() {
            return Ok(true);
        }
        let paths: Vec<String> = (0..ids.len()).map(|i| format!("#s.#r{i}")).collect();
        let update = format!("REMOVE {} SET #ver = #ver + :one", paths.join(", "));
        let condition = if expected.is_some() {
            "#ver = :expected"
        } else {
            "attribute_exists(#username)"
        };
        let mut names = expr::names(&[&update, condition]);
        for (i, id) in ids.iter().enumerate() {
            names.insert(format!("#r{i}"), id.to_string());
        }
        let mut values = HashMap::from([(":one".to_owned(), n(1))]);
        if let Some(v) = expected {
            values.insert(":expected".to_owned(), n(v));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(item::key(index_key.clone())))
                .update_expression(update.clone())
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(true),
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(_)) => return Ok(false),
                    // A create's transaction holds the index item right now.
                    Some(UpdateItemError::TransactionConflictException(_))
                        if attempt < BATCH_ROUNDS =>
                    {
                        tokio::time::sleep(backoff(attempt, BACKOFF_BASE, BACKOFF_CAP)).await;
                    }
                    _ => return Err(errors::sdk("removing subject index entries", e)),
                },
            }
        }
    }

    /// The live sessions of an index (all of its stored sessions, live or
    /// not, and the refs whose item is gone).
    ///
    /// With `skip_damaged` (a listing), items whose record does not decode
    /// are left out instead of failing the whole answer.
    pub(super) async fn sessions_of(
        &self,
        index: &Index,
        skip_damaged: bool,
    ) -> Result<(Vec<StoredSession>, Vec<SessionRef>), StoreError> {
        let ids: Vec<SessionRef> = index.entries.keys().copied().collect();
        let items = self.batch_get(&ids, None).await?;
        let mut stored = Vec::with_capacity(items.len());
        let mut gone = Vec::new();
        for id in ids {
            match items.get(&id).map(item::decode_session) {
                Some(Ok(session)) => stored.push(StoredSession { id, session }),
                Some(Err(StoreError::Corrupt { .. })) if skip_damaged => {}
                Some(Err(e)) => return Err(e),
                None => gone.push(id),
            }
        }
        Ok((stored, gone))
    }
}
