//! Tessera's DynamoDB session store.
//!
//! [`DynamoDbStore`] implements the [`SessionStore`](tessera_store::SessionStore)
//! contract on the table the tokenizer documents: **one String partition key
//! named `username` and nothing else**. Sessions (`s#<session ref>`) and
//! per-subject index items (`u#<subject>`) share that key through prefixes.
//!
//! * Create applies the quota in one `TransactWriteItems` guarded by the
//!   subject index's version, retried (bounded, jittered) when a concurrent
//!   login of the same subject wins the race: N concurrent logins never
//!   leave more than the quota alive.
//! * Reads are strongly consistent and hide expired sessions by the `now`
//!   they are given: DynamoDB's TTL deletes late (and emulators never).
//!   Get-and-touch is one conditional `UpdateItem`.
//! * Only [`count`](tessera_store::SessionStore::count) and
//!   [`purge`](tessera_store::SessionStore::purge) scan, page by page within
//!   a read budget.
//! * [`create_table`] creates the table and turns on TTL; connecting
//!   refuses a table of any other key schema.
//!
//! The crate never logs or stores a SID (it only sees storage keys), never
//! logs session contents or credentials, and never scans on a request path.
//! Errors from AWS become [`StoreError::Unavailable`](tessera_store::StoreError::Unavailable)
//! when retrying may help (timeouts, throttling, server faults) and
//! [`StoreError::Backend`](tessera_store::StoreError::Backend) otherwise,
//! keeping the SDK error as their source; an outage never reads as a
//! missing session. The layout, IAM actions and costs are documented in
//! `docs/backends/dynamodb.md`.

mod budget;
mod config;
mod errors;
mod expr;
mod item;
mod store;
mod table;

pub use config::DynamoDbConfig;
pub use errors::DynamoDbError;
pub use store::DynamoDbStore;
pub use table::{TableSetup, TtlState, create_table};

/// The AWS SDK client this crate is built on, for callers that build their
/// own (see [`DynamoDbConfig::sdk_config`]). Feature `unstable-driver`:
/// outside this crate's semver promise, as the SDK's types change with the
/// SDK.
#[cfg(feature = "unstable-driver")]
pub use aws_sdk_dynamodb as sdk;
