//! The DynamoDB store passes the conformance suite against the emulator
//! (`cargo xtask test` starts it), one table per test.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use tessera_store::testkit::Fixture;
use tessera_store_dynamodb::sdk::types::AttributeValue;

async fn fixture() -> Fixture {
    let (store, _) = common::fresh_store("conf").await;
    let client = store.client().clone();
    let table = store.table().to_owned();
    Fixture {
        store: Arc::new(store),
        corrupt: Box::new(move |id| {
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
                    .update_expression("SET rec = :garbage")
                    .expression_attribute_values(
                        ":garbage",
                        AttributeValue::S("{\"format\":1,\"sub\":".into()),
                    )
                    .send()
                    .await
                    .expect("overwrite rec");
            })
        }),
    }
}

tessera_store::conformance_tests!(fixture);
