//! [`DynamoDbStore`]: the [`SessionStore`] contract on one DynamoDB table.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, KeysAndAttributes, Put, ReturnConsumedCapacity,
    ReturnValue, ReturnValuesOnConditionCheckFailure, Select, TransactWriteItem, Update,
    WriteRequest,
};
use tessera_core::{Context, Policy, Session, Subject, Timestamp};
use tessera_crypto::{SessionRef, StorageKey};
use tessera_store::{
    Created, LegacyAlias, PurgeReport, SessionStore, StoreError, StoredSession, Touch,
    check_unchanged, quota_plan,
};

use crate::budget::{ReadBudget, backoff, random_version};
use crate::errors::{self, GaveUp};
use crate::item::{self, INDEX_BOUND, Index, Item, KEY, KeyKind, n, s};
use crate::{DynamoDbConfig, DynamoDbError, expr, table};

/// Keys per BatchGetItem request (DynamoDB's limit).
const BATCH_GET_MAX: usize = 100;
/// Items per BatchWriteItem request (DynamoDB's limit).
const BATCH_WRITE_MAX: usize = 25;
/// Rounds a batch call retries its unprocessed keys or items.
const BATCH_ROUNDS: u32 = 8;
/// Backoff of retries after losing a race or being throttled.
const BACKOFF_BASE: Duration = Duration::from_millis(5);
const BACKOFF_CAP: Duration = Duration::from_millis(250);
/// Read units charged per scanned item when the endpoint does not report
/// consumed capacity: the price of one item of up to 4 KB read eventually
/// consistently, an upper bound for session items.
const FALLBACK_UNITS_PER_ITEM: f64 = 0.5;

/// Sessions in one DynamoDB table of the tokenizer's shape (see the crate
/// docs and `docs/backends/dynamodb.md` for the item layout).
///
/// Reads are strongly consistent and filter expired items, since DynamoDB's
/// TTL deletes lazily; create is one transaction guarded by the subject
/// index's version; get-and-touch is one conditional UpdateItem; only
/// [`count`](SessionStore::count) and [`purge`](SessionStore::purge) scan,
/// within a read budget.
#[derive(Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    create_attempts: u32,
    scan_page_size: i32,
    budget: ReadBudget,
    creating: SubjectTurns,
}

/// One turn at a time per subject for this store's creates.
///
/// Every create of a subject commits against the subject's index item, so
/// concurrent creates of one subject can only succeed one after another;
/// racing them lets all but one fail and start over. Within one process
/// they queue here instead, so only creates from different processes race
/// (and [`DynamoDbStore::create`]'s bounded retry is left for those).
#[derive(Debug, Default)]
struct SubjectTurns(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl SubjectTurns {
    /// Entries kept before those of subjects nobody waits for are dropped.
    const PRUNE_AT: usize = 1024;

    /// The lock of `subject`, shared with every create of it in progress.
    fn of(&self, subject: &Subject) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(turn) = turns.get(subject.as_str()).and_then(Weak::upgrade) {
            return turn;
        }
        if turns.len() >= Self::PRUNE_AT {
            turns.retain(|_, turn| turn.strong_count() > 0);
        }
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        turns.insert(subject.as_str().to_owned(), Arc::downgrade(&turn));
        turn
    }
}

enum UpdateOutcome {
    Updated,
    /// A condition failed; the stored item as it was, if any.
    Failed(Option<Item>),
    /// The subject index changed under us.
    IndexContended,
}

impl DynamoDbStore {
    /// Connects with `config` and checks the table's shape.
    pub async fn open(config: &DynamoDbConfig) -> Result<Self, DynamoDbError> {
        let client = config.client().await?;
        Self::with_client(client, config).await
    }

    /// A store on a client built by the caller (for example from
    /// [`DynamoDbConfig::sdk_config`] with extra interceptors), with the
    /// table and limits of `config`. Checks the table's shape.
    pub async fn with_client(
        client: Client,
        config: &DynamoDbConfig,
    ) -> Result<Self, DynamoDbError> {
        config.validate()?;
        table::verify_table(&client, &config.table).await?;
        Ok(Self {
            client,
            table: config.table.clone(),
            create_attempts: config.create_attempts,
            scan_page_size: i32::try_from(config.scan_page_size).unwrap_or(i32::MAX),
            budget: ReadBudget::new(config.max_read_units_per_second),
            creating: SubjectTurns::default(),
        })
    }

    /// The SDK client, for administrative tools.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn read_index(&self, subject: &Subject) -> Result<Index, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::index_key(subject))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| errors::sdk("reading the subject index", e))?;
        Index::decode(out.item())
    }

    /// Consistent reads of session items, in chunks of 100 keys, retrying
    /// unprocessed keys. Missing items are simply absent from the result.
    async fn batch_get(
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
    async fn batch_delete(&self, keys: Vec<String>) -> Result<(), StoreError> {
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
    async fn remove_index_entries(
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

    /// One Scan page, charged to the read budget.
    async fn scan_page(
        &self,
        start: Option<Item>,
        configure: impl FnOnce(
            aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
        )
            -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
    ) -> Result<ScanOutput, StoreError> {
        let request = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(self.scan_page_size)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start);
        let out = configure(request)
            .send()
            .await
            .map_err(|e| errors::sdk("scanning the table", e))?;
        let units = out
            .consumed_capacity()
            .and_then(aws_sdk_dynamodb::types::ConsumedCapacity::capacity_units)
            .unwrap_or_else(|| f64::from(out.scanned_count()) * FALLBACK_UNITS_PER_ITEM);
        self.budget.charge(units).await;
        Ok(out)
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
        let (stored, gone) = self.sessions_of(&listed).await?;
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

    async fn get_item(&self, id: &SessionRef) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::session_key(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| errors::sdk("reading a session", e))?;
        Ok(out.item)
    }

    /// The live sessions of an index (all of its stored sessions, live or
    /// not, and the refs whose item is gone).
    async fn sessions_of(
        &self,
        index: &Index,
    ) -> Result<(Vec<StoredSession>, Vec<SessionRef>), StoreError> {
        let ids: Vec<SessionRef> = index.entries.keys().copied().collect();
        let items = self.batch_get(&ids, None).await?;
        let mut stored = Vec::with_capacity(items.len());
        let mut gone = Vec::new();
        for id in ids {
            match items.get(&id) {
                Some(it) => stored.push(StoredSession {
                    id,
                    session: item::decode_session(it)?,
                }),
                None => gone.push(id),
            }
        }
        Ok((stored, gone))
    }

    /// Removes the stale entries of the index items found on one scan
    /// page: entries whose bound has passed, and (checked with one batch
    /// read for the whole page) entries whose session is gone or expired.
    async fn purge_indexes(
        &self,
        indexes: Vec<(String, Index)>,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let uncertain: Vec<SessionRef> = indexes
            .iter()
            .flat_map(|(_, index)| index.entries.iter())
            .filter(|(_, bound)| **bound > now.as_millis())
            .map(|(id, _)| *id)
            .collect();
        let items = self
            .batch_get(&uncertain, Some("#username, #hx, #ix"))
            .await?;
        let mut removed = 0;
        for (key, index) in indexes {
            let mut dead = Vec::new();
            for (id, bound) in &index.entries {
                let gone = *bound <= now.as_millis()
                    || match items.get(id) {
                        None => true,
                        Some(it) => item::helpers_expired(it, now)?,
                    };
                if gone {
                    dead.push(*id);
                }
            }
            removed += self.drop_index_entries(key, &index, &dead).await?;
        }
        Ok(removed)
    }

    /// Removes `dead` from an index item if it is unchanged since read
    /// (deleting the item when nothing would be left); how many entries
    /// were removed.
    async fn drop_index_entries(
        &self,
        index_key: String,
        index: &Index,
        dead: &[SessionRef],
    ) -> Result<u64, StoreError> {
        if dead.is_empty() {
            return Ok(0);
        }
        let Some(version) = index.version else {
            return Ok(0);
        };
        let done = if dead.len() == index.entries.len() {
            let condition = "#ver = :expected";
            let sent = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(item::key(index_key)))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(expr::names(&[condition])))
                .set_expression_attribute_values(expr::values([(":expected", n(version))]))
                .send()
                .await;
            match sent {
                Ok(_) => true,
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(DeleteItemError::ConditionalCheckFailedException(_))
                    ) =>
                {
                    false
                }
                Err(e) => return Err(errors::sdk("deleting an empty subject index", e)),
            }
        } else {
            self.remove_index_entries(index_key, dead, Some(version))
                .await?
        };
        // A lost race leaves the entries for the next purge.
        Ok(if done { dead.len() as u64 } else { 0 })
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
    fn new(next: &Session, expected: u64, now: Timestamp, new_bound: Option<i64>) -> Self {
        let (set, remove, mut values) = update_parts(next);
        let mut update = format!("SET {set}");
        let mut condition = String::from(
            "attribute_exists(#username) AND #v = :expected AND #lu <= :a_lu \
             AND #hx > :now AND #ix > :now AND #sub = :a_sub AND #cx = :a_cx",
        );
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

/// The condition that the index is still the one read: same version, or
/// still absent.
fn index_condition(
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

fn cancellation(
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

#[async_trait]
impl SessionStore for DynamoDbStore {
    async fn create(
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

    /// One PutItem; DynamoDB's TTL removes the alias after its expiry (and
    /// reads ignore it from then on, TTL or not).
    async fn put_legacy_alias(
        &self,
        legacy: &StorageKey,
        alias: &LegacyAlias,
    ) -> Result<(), StoreError> {
        let mut it = item::key(item::legacy_alias_key(legacy));
        let text = String::from_utf8(alias.encode())
            .map_err(|e| StoreError::backend("encoding a legacy SID alias", e))?;
        it.insert(item::REC.to_owned(), s(text));
        if let Some(at) = alias.expires {
            it.insert(item::TTL.to_owned(), n(item::secs_ceil(at.as_millis())));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(it))
            .send()
            .await
            .map_err(|e| errors::sdk("writing a legacy SID alias", e))?;
        Ok(())
    }

    async fn legacy_alias(
        &self,
        legacy: &StorageKey,
        now: Timestamp,
    ) -> Result<Option<SessionRef>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::legacy_alias_key(legacy))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| errors::sdk("reading a legacy SID alias", e))?;
        let Some(it) = out.item else {
            return Ok(None);
        };
        let text = it
            .get(item::REC)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| StoreError::Corrupt {
                reason: "legacy SID alias item has no `rec` string".into(),
                source: None,
            })?;
        let alias = LegacyAlias::decode(text.as_bytes())?;
        Ok((!alias.is_expired(now)).then_some(alias.id))
    }

    async fn get(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let Some(it) = self.get_item(id).await? else {
            return Ok(None);
        };
        let session = item::decode_session(&it)?;
        Ok((!session.is_expired(now)).then_some(session))
    }

    async fn get_and_touch(
        &self,
        id: &SessionRef,
        now: Timestamp,
        touch: Touch,
    ) -> Result<Option<Session>, StoreError> {
        if touch == Touch::Skip {
            return self.get(id, now).await;
        }
        // Moves last use and idle expiry, and recomputes ttl: for a finite
        // max_idle `tb` is absent and ttl = now_s + mis; for an unlimited
        // one `mis` is absent and ttl stays tb.
        let update = "SET #lu = :now, #ix = #mi + :now, #ttl = if_not_exists(#tb, :now_s) + if_not_exists(#mis, :zero)";
        let condition = "attribute_exists(#username) AND #hx > :now AND #ix > :now AND #lu < :now";
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::session_key(id))))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr::names(&[update, condition])))
            .set_expression_attribute_values(expr::values([
                (":now", n(now.as_millis())),
                (":now_s", n(item::secs_ceil(now.as_millis()))),
                (":zero", n(0)),
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

    async fn update(
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
                    if stored.is_expired(now) {
                        return Err(StoreError::Expired);
                    }
                    check_unchanged(&stored, session)?;
                    if stored.version != session.version {
                        return Err(StoreError::Conflict {
                            expected: session.version,
                            actual: stored.version,
                        });
                    }
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

    async fn delete(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::session_key(id))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| errors::sdk("deleting a session", e))?;
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

    async fn list_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError> {
        let index = self.read_index(subject).await?;
        let (stored, _) = self.sessions_of(&index).await?;
        let mut live: Vec<StoredSession> = stored
            .into_iter()
            .filter(|s| !s.session.is_expired(now))
            .filter(|s| context.is_none_or(|c| &s.session.context == c))
            .collect();
        live.sort_by_key(|s| (s.session.creation_time, s.id));
        Ok(live)
    }

    async fn delete_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        let index = self.read_index(subject).await?;
        let (stored, gone) = self.sessions_of(&index).await?;
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

    async fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
        let filter = "begins_with(#username, :prefix) AND #hx > :now AND #ix > :now";
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .scan_page(start, |scan| {
                    scan.select(Select::Count)
                        .filter_expression(filter)
                        .set_expression_attribute_names(Some(expr::names(&[filter])))
                        .set_expression_attribute_values(expr::values([
                            (":prefix", s("s#")),
                            (":now", n(now.as_millis())),
                        ]))
                })
                .await?;
            total += u64::try_from(out.count()).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    async fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        let projection = "#username, #hx, #ix, #s, #ver";
        let mut report = PurgeReport::default();
        let mut start = None;
        loop {
            let out = self
                .scan_page(start, |scan| {
                    scan.projection_expression(projection)
                        .set_expression_attribute_names(Some(expr::names(&[projection])))
                })
                .await?;
            let mut expired = Vec::new();
            let mut indexes = Vec::new();
            for it in out.items() {
                let Some(key) = it.get(KEY).and_then(|k| k.as_s().ok()) else {
                    continue;
                };
                match item::key_kind(key) {
                    KeyKind::Session => {
                        // Expiry is final: a touch or update never revives
                        // an expired item, so deleting unconditionally is
                        // safe.
                        if item::helpers_expired(it, now)? {
                            expired.push(key.clone());
                        }
                    }
                    KeyKind::Index => indexes.push((key.clone(), Index::decode(Some(it))?)),
                    KeyKind::Other => {}
                }
            }
            report.sessions += expired.len() as u64;
            self.batch_delete(expired).await?;
            report.index_entries += self.purge_indexes(indexes, now).await?;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(report);
            }
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key("ping#".to_owned())))
            .projection_expression("#username")
            .expression_attribute_names("#username", KEY)
            .send()
            .await
            .map_err(|e| errors::sdk("reading from the table", e))?;
        Ok(())
    }
}
