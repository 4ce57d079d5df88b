//! Removing the tokenizer's records once their sessions are in Tessera:
//! after an import, the tool's plaintext tokens would otherwise stay in
//! the shared store, working as SIDs while `acceptLegacySIDs` is on, and
//! its credentials would stay sealed under its own (often weak) password.
//!
//! A record is removed only if it still holds exactly what was read: one
//! the tool changed since (a writer still running) is kept and counted.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::{RawRecord, TokenizerSource, dynamodb, local, redis};
use crate::ServerError;
use crate::config::Backend;

/// Where a tokenizer record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A file of the tool's folder.
    File(PathBuf),
    /// A key of the tool's Redis database.
    RedisKey(Vec<u8>),
    /// The `username` of an item of the tool's DynamoDB table.
    DynamoDbItem(String),
}

/// A tokenizer record as it was read. **Secret**: the text holds the
/// tool's token in clear, so `Debug` shows the location only.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Where it is.
    pub location: Location,
    /// Its text when read.
    pub text: Zeroizing<String>,
}

impl fmt::Debug for SourceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceRecord")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl RawRecord {
    /// The record as read, when it could be read.
    pub(super) fn source(&self) -> Option<SourceRecord> {
        let text = self.text.as_ref().ok()?;
        Some(SourceRecord {
            location: self.location.clone(),
            text: text.clone(),
        })
    }
}

/// What [`remove_source_records`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Records removed.
    pub removed: u64,
    /// Records already gone.
    pub gone: u64,
    /// Records changed since they were read, and so kept.
    pub changed: u64,
}

/// Removes `records` from the tokenizer store of `source`, each only if it
/// still holds the text read, and says what it did. An error (no
/// permission, unreachable) stops it; the records removed before stay
/// removed and are counted in the [`Removed`] returned with the error.
pub async fn remove_source_records(
    source: &TokenizerSource,
    records: &[SourceRecord],
) -> (Removed, Option<ServerError>) {
    let mut removed = Removed::default();
    let error = match &source.backend {
        Backend::Local(_) => local::remove(records, &mut removed).await,
        Backend::Redis(config) => redis::remove(config, records, &mut removed).await,
        Backend::DynamoDb(config) => dynamodb::remove(config, records, &mut removed).await,
    }
    .err();
    (removed, error)
}
