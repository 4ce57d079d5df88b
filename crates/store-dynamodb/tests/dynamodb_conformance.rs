//! The DynamoDB store passes the conformance suite against the emulator
//! (`cargo xtask test` starts it), one table per test.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use tessera_store::backend::record;
use tessera_store::testkit::{Fixture, RawAccess, nested_record, next_format_record};
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
    let (reader, writer) = (store.client().clone(), store.client().clone());
    let (read_table, write_table) = (store.table().to_owned(), store.table().to_owned());
    let key = |id: tessera_store::SessionRef| {
        Some(HashMap::from([(
            "username".to_owned(),
            AttributeValue::S(format!("s#{id}")),
        )]))
    };
    Fixture {
        store: Arc::new(store),
        corrupt: Box::new(move |id| overwrite(id, "{\"format\":1,\"sub\":".into())),
        newer: Box::new(move |id| {
            let record = String::from_utf8(next_format_record()).expect("UTF-8");
            ahead(id, record)
        }),
        raw: RawAccess {
            read: Box::new(move |id| {
                let (client, table) = (reader.clone(), read_table.clone());
                Box::pin(async move {
                    let out = client
                        .get_item()
                        .table_name(table)
                        .set_key(key(id))
                        .consistent_read(true)
                        .send()
                        .await
                        .expect("read an item");
                    match out.item().and_then(|item| item.get("rec")) {
                        Some(AttributeValue::S(text)) => Some(text.clone().into_bytes()),
                        Some(AttributeValue::B(bytes)) => Some(bytes.as_ref().to_vec()),
                        _ => None,
                    }
                })
            }),
            write: Box::new(move |id, bytes| {
                let (client, table) = (writer.clone(), write_table.clone());
                Box::pin(async move {
                    // Text when it is text, as the store writes; raw bytes
                    // (a truncated character, say) as a binary attribute.
                    let rec = match String::from_utf8(bytes) {
                        Ok(text) => AttributeValue::S(text),
                        Err(e) => AttributeValue::B(e.into_bytes().into()),
                    };
                    client
                        .update_item()
                        .table_name(table)
                        .set_key(key(id))
                        .update_expression("SET rec = :rec")
                        .expression_attribute_values(":rec", rec)
                        .send()
                        .await
                        .is_ok()
                })
            }),
            encode: record::encode,
            encode_nested: nested_record,
        },
    }
}

tessera_store::conformance_tests!(fixture);
