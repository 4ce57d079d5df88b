//! What the DynamoDB tests share: the emulator's endpoint and a fresh
//! table per test.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tessera_store_dynamodb::{DynamoDbConfig, DynamoDbStore, create_table};

pub(crate) const ENDPOINT_VAR: &str = "TESSERA_TEST_DYNAMODB_ENDPOINT";

/// The emulator's endpoint. A missing variable fails the test: skipping
/// would let a broken backend pass unnoticed.
pub(crate) fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VAR} is not set. Run the tests with `cargo xtask test`, which starts \
             the DynamoDB emulator (moto) and sets it."
        )
    })
}

/// A table name no other test (or earlier run) uses.
pub(crate) fn unique_table(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!(
        "tessera-{label}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings for `table` on `endpoint` with explicit region and static
/// keys, so nothing ever asks the instance metadata service.
pub(crate) fn config_for(endpoint: &str, table: &str) -> DynamoDbConfig {
    let mut c = DynamoDbConfig::new(table);
    c.endpoint_url = Some(endpoint.to_owned());
    c.aws_region_name = Some("us-east-1".into());
    c.aws_access_key = Some("testing".into());
    c.aws_secret_key = Some("testing".into());
    c
}

/// A fresh table (created with the crate's own `create_table`) and a store
/// on it.
pub(crate) async fn fresh_store(label: &str) -> (DynamoDbStore, DynamoDbConfig) {
    let config = config_for(&endpoint(), &unique_table(label));
    create_table(&config).await.expect("create table");
    let store = DynamoDbStore::open(&config).await.expect("connect");
    (store, config)
}
