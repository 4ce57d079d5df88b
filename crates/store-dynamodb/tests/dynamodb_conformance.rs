//! The DynamoDB store passes the conformance suite against the emulator
//! (`cargo xtask test` starts it), one table per test.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use tessera_store::testkit::{Fixture, next_format_record};
use tessera_store_dynamodb::sdk::types::AttributeValue;

async fn fixture() -> Fixture {
    let (store, _) = common::fresh_store("conf").await;
    let client = store.client().clone();
    let table = store.table().to_owned();
    let overwrite = move |id: tessera_store::SessionRef, rec: String| {
        let client = client.clone();
        let table = table.clone();
        Box::pin(async move {
            client
                .update_item()
                .table_name(table)
                .set_key(Some(HashMap::from([(
                    "username".to_owned(),
                    AttributeValue::S(format!("s#{id}")),
                )])))
                .update_expression("SET rec = :rec")
                .expression_attribute_values(":rec", AttributeValue::S(rec))
                .send()
                .await
                .expect("overwrite rec");
        }) as tessera_store::testkit::BoxFuture
    };
    let ahead = overwrite.clone();
    Fixture {
        store: Arc::new(store),
        corrupt: Box::new(move |id| overwrite(id, "{\"format\":1,\"sub\":".into())),
        newer: Box::new(move |id| {
            let record = String::from_utf8(next_format_record()).expect("UTF-8");
            ahead(id, record)
        }),
    }
}

tessera_store::conformance_tests!(fixture);
