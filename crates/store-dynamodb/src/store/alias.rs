//! Aliases of imported legacy SIDs.

use super::DynamoDbStore;
use crate::errors;
use crate::item;
use crate::item::{n, s};
use tessera_core::Timestamp;
use tessera_crypto::{SessionRef, StorageKey};
use tessera_store::{LegacyAlias, StoreError};

impl DynamoDbStore {
    /// One PutItem; DynamoDB's TTL removes the alias after its expiry (and
    /// reads ignore it from then on, TTL or not).
    pub(super) async fn put_alias(
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

    pub(super) async fn read_alias(
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
}
