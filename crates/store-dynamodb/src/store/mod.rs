//! [`DynamoDbStore`]: the [`SessionStore`] contract on one DynamoDB table.
//!
//! The trait implementation below only dispatches; each job lives in its
//! own module: `create`, `update` (compare-and-set and touch), `delete`,
//! `scan` (count and purge), `batch` (batched calls with their retries)
//! and `alias` (legacy SID aliases).

mod alias;
mod batch;
mod create;
mod delete;
mod scan;
mod update;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use tessera_core::{Context, Policy, Session, Subject, Timestamp, TouchWindow};
use tessera_crypto::{SessionRef, StorageKey};
use tessera_store::{
    Created, LegacyAlias, PurgeReport, RevokeReport, SessionStore, StoreError, StoredSession, Touch,
};

use crate::budget::ReadBudget;
use crate::errors;
use crate::item::{self, Index, Item, KEY};
use crate::{DynamoDbConfig, DynamoDbError, table};

/// Backoff of retries after losing a race or being throttled.
const BACKOFF_BASE: Duration = Duration::from_millis(5);
const BACKOFF_CAP: Duration = Duration::from_millis(250);
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
    touch_window: TouchWindow,
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

impl DynamoDbStore {
    /// Connects with `config` and checks the table's shape.
    ///
    /// ```
    /// use tessera_store_dynamodb::{DynamoDbConfig, DynamoDbStore, create_table};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tessera_store_dynamodb::DynamoDbError> {
    /// let mut config = DynamoDbConfig::new("sessions");
    /// config.aws_region_name = Some("eu-west-1".into());
    /// # // `cargo xtask test` starts a DynamoDB endpoint and names it here.
    /// # config.endpoint_url = std::env::var("TESSERA_TEST_DYNAMODB_ENDPOINT").ok();
    /// # config.aws_access_key = Some("testing".into());
    /// # config.aws_secret_key = Some("testing".into());
    /// # config.table = format!("doctest-{}", std::process::id());
    /// // Once per deployment (or `tessera dynamodb create-table`):
    /// create_table(&config).await?;
    /// let store = DynamoDbStore::open(&config).await?;
    /// # drop(store);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(config: &DynamoDbConfig) -> Result<Self, DynamoDbError> {
        let client = config.sdk_client().await?;
        Self::on_client(client, config).await
    }

    /// A store on a client built by the caller (for example from
    /// [`DynamoDbConfig::sdk_config`] with extra interceptors), with the
    /// table and limits of `config`. Checks the table's shape.
    ///
    /// Feature `unstable-driver`: outside this crate's semver promise, as
    /// the SDK's types change with the SDK.
    #[cfg(feature = "unstable-driver")]
    pub async fn with_client(
        client: Client,
        config: &DynamoDbConfig,
    ) -> Result<Self, DynamoDbError> {
        Self::on_client(client, config).await
    }

    async fn on_client(client: Client, config: &DynamoDbConfig) -> Result<Self, DynamoDbError> {
        config.validate()?;
        table::verify_table(&client, &config.table).await?;
        warn_unless_ttl(&client, &config.table).await;
        Ok(Self {
            client,
            table: config.table.clone(),
            create_attempts: config.create_attempts,
            scan_page_size: i32::try_from(config.scan_page_size).unwrap_or(i32::MAX),
            budget: ReadBudget::new(config.max_read_units_per_second),
            creating: SubjectTurns::default(),
            touch_window: TouchWindow::from_millis(
                u64::try_from(config.touch_window.as_millis()).unwrap_or(u64::MAX),
            ),
        })
    }

    /// The SDK client, for administrative tools and tests (feature
    /// `unstable-driver`, as [`DynamoDbConfig::sdk_config`]).
    #[cfg(feature = "unstable-driver")]
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
        self.create_session(id, session, policy, now).await
    }

    async fn create_anonymous(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.create_unindexed(id, session, now).await
    }

    async fn put_legacy_alias(
        &self,
        legacy: &StorageKey,
        alias: &LegacyAlias,
    ) -> Result<(), StoreError> {
        self.put_alias(legacy, alias).await
    }

    async fn legacy_alias(
        &self,
        legacy: &StorageKey,
        now: Timestamp,
    ) -> Result<Option<SessionRef>, StoreError> {
        self.read_alias(legacy, now).await
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
        self.touch(id, now, touch).await
    }

    async fn update(
        &self,
        id: &SessionRef,
        session: &Session,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        self.update_session(id, session, now).await
    }

    async fn delete(&self, id: &SessionRef, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.delete_one(id, now).await
    }

    async fn list_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<StoredSession>, StoreError> {
        let index = self.read_index(subject).await?;
        let (stored, _) = self.sessions_of(&index, true).await?;
        Ok(tessera_store::backend::listed(
            stored, subject, context, now,
        ))
    }

    async fn delete_by_subject(
        &self,
        subject: &Subject,
        context: Option<&Context>,
        now: Timestamp,
    ) -> Result<Vec<SessionRef>, StoreError> {
        self.delete_subject(subject, context, now).await
    }

    async fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.count_live(now).await
    }

    async fn delete_all(&self, now: Timestamp) -> Result<RevokeReport, StoreError> {
        self.delete_everything(now).await
    }

    async fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        self.purge_expired(now).await
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

/// Warns when the table's native expiry is off: the store still hides
/// expired sessions and purge removes them, but nothing else does. The
/// setting is read once, at open; a server without
/// `dynamodb:DescribeTimeToLive` says so at debug level and goes on.
async fn warn_unless_ttl(client: &Client, table: &str) {
    match table::ttl_state(client, table).await {
        Ok(table::TtlState::OnTtl) => {}
        Ok(table::TtlState::Off) => tracing::warn!(
            table,
            "TTL is off on the table: expired sessions stay in it until a purge removes them; \
             `tessera dynamodb create-table` turns it on for `ttl`"
        ),
        Ok(table::TtlState::OtherAttribute(attribute)) => tracing::warn!(
            table,
            attribute,
            "TTL is on for another attribute than `ttl`: expired sessions stay in the table until \
             a purge removes them"
        ),
        Err(e) => tracing::debug!(table, error = %e, "cannot read the table's TTL setting"),
    }
}
