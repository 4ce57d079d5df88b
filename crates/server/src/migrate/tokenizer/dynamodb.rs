//! The tokenizer's DynamoDB table: items `{username: S, data: S}`, `data`
//! holding the record as a JSON string. Read with a paged, strongly
//! consistent Scan; items without a string `data` (Tessera's own items, if
//! the table is shared) are not token records.

use tessera_store_dynamodb::DynamoDbConfig;
use tessera_store_dynamodb::sdk::operation::delete_item::DeleteItemError;
use tessera_store_dynamodb::sdk::types::AttributeValue;
use zeroize::Zeroizing;

use super::{Location, RawRecord, Removed, SourceRecord};
use crate::ServerError;

pub(super) async fn read_all(config: &DynamoDbConfig) -> Result<Vec<RawRecord>, ServerError> {
    let client = config.client().await?;
    let mut records = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&config.table)
            .consistent_read(true)
            .limit(i32::try_from(config.scan_page_size).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| ServerError::TokenizerStore {
                backend: "dynamodb",
                what: format!("Scan of table {} failed", config.table),
                source: Some(Box::new(e)),
            })?;
        for item in page.items() {
            let name = match item.get("username") {
                Some(AttributeValue::S(name)) => name.as_str(),
                _ => "(no username)",
            };
            let text = match item.get("data") {
                Some(AttributeValue::S(data)) => Ok(Zeroizing::new(data.clone())),
                // Not the tokenizer's: judged by the record check.
                _ => Ok(Zeroizing::new("{}".to_owned())),
            };
            records.push(RawRecord {
                origin: format!("dynamodb item {name}"),
                location: Location::DynamoDbItem(name.to_owned()),
                // Tessera's sessions, subject indexes and legacy aliases.
                tessera: ["s#", "u#", "l#"].iter().any(|p| name.starts_with(p)),
                text,
            });
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    Ok(records)
}

/// Removes each item whose `data` still holds the text read.
pub(super) async fn remove(
    config: &DynamoDbConfig,
    records: &[SourceRecord],
    removed: &mut Removed,
) -> Result<(), ServerError> {
    let client = config.client().await?;
    for record in records {
        let Location::DynamoDbItem(name) = &record.location else {
            continue;
        };
        let outcome = client
            .delete_item()
            .table_name(&config.table)
            .key("username", AttributeValue::S(name.clone()))
            .condition_expression("#d = :d")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":d", AttributeValue::S(record.text.to_string()))
            .return_values_on_condition_check_failure(
                tessera_store_dynamodb::sdk::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match outcome {
            Ok(_) => removed.removed += 1,
            Err(e) => match e.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(failed)) => {
                    if failed.item().is_some() {
                        removed.changed += 1;
                    } else {
                        removed.gone += 1;
                    }
                }
                _ => {
                    return Err(ServerError::TokenizerStore {
                        backend: "dynamodb",
                        what: format!("DeleteItem on table {} failed", config.table),
                        source: Some(Box::new(e)),
                    });
                }
            },
        }
    }
    Ok(())
}
