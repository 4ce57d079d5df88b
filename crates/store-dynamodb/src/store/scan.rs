//! Count and purge: the only operations that scan, within the read
//! budget.

use super::DynamoDbStore;
use crate::errors;
use crate::expr;
use crate::item;
use crate::item::{Index, Item, KEY, KeyKind, n, s};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, Select};
use tessera_core::Timestamp;
use tessera_crypto::SessionRef;
use tessera_store::{PurgeReport, RevokeReport, StoreError};

/// Read units charged per scanned item when the endpoint does not report
/// consumed capacity: the price of one item of up to 4 KB read eventually
/// consistently, an upper bound for session items.
const FALLBACK_UNITS_PER_ITEM: f64 = 0.5;

impl DynamoDbStore {
    pub(super) async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
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

    /// Deletes every session item but those of a newer format, one scan
    /// page at a time (batched deletes within the write budget), then runs
    /// [`Self::purge_expired`] to drop the index entries left without a
    /// session.
    pub(super) async fn delete_everything(
        &self,
        now: Timestamp,
    ) -> Result<RevokeReport, StoreError> {
        let filter = "begins_with(#username, :prefix)";
        let projection = "#username, #hx, #ix, #rec";
        let mut report = RevokeReport::default();
        let mut start = None;
        loop {
            let out = self
                .scan_page(start, |scan| {
                    scan.filter_expression(filter)
                        .projection_expression(projection)
                        .set_expression_attribute_names(Some(expr::names(&[filter, projection])))
                        .set_expression_attribute_values(expr::values([(":prefix", s("s#"))]))
                })
                .await?;
            let mut doomed = Vec::new();
            for it in out.items() {
                let Some(key) = it.get(KEY).and_then(|k| k.as_s().ok()) else {
                    continue;
                };
                if !matches!(item::key_kind(key), KeyKind::Session) {
                    continue;
                }
                if item::is_of_newer_format(it) {
                    report.left += 1;
                    continue;
                }
                // Damaged helper attributes count as not live.
                if !item::helpers_expired(it, now).unwrap_or(true) {
                    report.ended += 1;
                }
                doomed.push(key.clone());
            }
            self.batch_delete(doomed).await?;
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        self.purge_expired(now).await?;
        Ok(report)
    }

    pub(super) async fn purge_expired(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        let projection = "#username, #hx, #ix, #s, #ver, #rec";
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
                        // A record of a newer format is left alone, expired
                        // or not: its writer decides.
                        if !item::is_of_newer_format(it) && item::helpers_expired(it, now)? {
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
