//! The item layout: how sessions and subject indexes are stored in the
//! tokenizer's one-key table, and the codec between items and the model.
//!
//! Both kinds of item share the String partition key `username`:
//!
//! * a session is `s#<session ref>` (`<tag hex>-<storage key hex>`) with
//!   the record ([`tessera_store::backend::record`]) in `rec` and numeric helpers
//!   that let conditions and TTL work without reading the record;
//! * a subject's index is `u#<subject hash>` ([`SubjectHash`], 64 hex
//!   characters): a map `s` from session ref to the
//!   hard-expiry bound of that session, and a version `ver` that every
//!   change bumps, so a create that read the index can commit only if
//!   nobody changed it since.
//!
//! * the alias of an imported legacy SID is `l#<legacy storage key hex>`
//!   with the alias record ([`tessera_store::LegacyAlias`]) in `rec` and a
//!   `ttl` at its expiry, if it has one.
//!
//! All instants are milliseconds since the epoch except `ttl` (and `tb`,
//! `mis`), which are seconds as DynamoDB's TTL wants them. "Never" is
//! [`FOREVER_MS`], so every condition is a plain comparison.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use tessera_core::{Session, Subject, Timestamp};
use tessera_crypto::{SessionRef, StorageKey, SubjectHash};
use tessera_store::StoreError;
use tessera_store::backend::record;

/// An item as the SDK represents it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The table's only key attribute.
pub(crate) const KEY: &str = "username";
/// Session: the encoded record (S, or B when written by other tools).
pub(crate) const REC: &str = "rec";
/// Session: the subject, so a delete knows which index to fix without
/// decoding the record.
pub(crate) const SUB: &str = "sub";
/// Session: the context, so an update can be refused for changing it
/// without decoding the record.
pub(crate) const CONTEXT: &str = "cx";
/// Session: the token of the create that wrote it, so a retried create
/// recognises its own write.
pub(crate) const CREATE_TOKEN: &str = "ct";
/// Session: last use (ms). Touches move it without rewriting `rec`.
pub(crate) const LAST_USED: &str = "lu";
/// Session: hard expiry, the earlier of the `max_life` and `auth_life`
/// terms (ms).
pub(crate) const HARD_EXPIRY: &str = "hx";
/// Session: `max_idle` (ms).
pub(crate) const MAX_IDLE: &str = "mi";
/// Session: idle expiry, `lu + mi` (ms).
pub(crate) const IDLE_EXPIRY: &str = "ix";
/// Session with a finite `max_idle`: `max_idle` in seconds, for `ttl`.
pub(crate) const MAX_IDLE_SECS: &str = "mis";
/// Session with an unlimited `max_idle`: its fixed `ttl` (seconds).
pub(crate) const TTL_BASE: &str = "tb";
/// Both kinds: DynamoDB TTL, epoch seconds.
pub(crate) const TTL: &str = "ttl";
/// Session: compare-and-set version (the record's version).
pub(crate) const VERSION: &str = "v";
/// Session: the hard-expiry bound its index entry carries (ms).
pub(crate) const INDEX_BOUND: &str = "ih";
/// Index: version for optimistic locking.
pub(crate) const INDEX_VERSION: &str = "ver";
/// Index: map of session ref to hard-expiry bound (ms).
pub(crate) const INDEX_SESSIONS: &str = "s";

/// "Never" for instants: 10^15 ms, in the year 33658. Far beyond any
/// finite expiry (lifetimes are at most 100 years), small enough that
/// `now + FOREVER_MS` still fits an `i64`.
pub(crate) const FOREVER_MS: i64 = 1_000_000_000_000_000;

/// DynamoDB's item size limit.
pub(crate) const MAX_ITEM_BYTES: usize = 400 * 1024;

const SESSION_PREFIX: &str = "s#";
const INDEX_PREFIX: &str = "u#";
const LEGACY_PREFIX: &str = "l#";

/// The key value of a session item.
pub(crate) fn session_key(id: &SessionRef) -> String {
    format!("{SESSION_PREFIX}{id}")
}

/// The key value of a subject's index item: the subject's one-way hash,
/// so that the table's keys do not name who has sessions.
pub(crate) fn index_key(subject: &Subject) -> String {
    format!(
        "{INDEX_PREFIX}{}",
        SubjectHash::of(subject.as_str()).to_hex()
    )
}

/// The key value of a legacy SID's alias item.
pub(crate) fn legacy_alias_key(legacy: &StorageKey) -> String {
    format!("{LEGACY_PREFIX}{legacy}")
}

/// What kind of item a key value names.
pub(crate) enum KeyKind {
    Session,
    Index,
    Other,
}

pub(crate) fn key_kind(key: &str) -> KeyKind {
    if key.starts_with(SESSION_PREFIX) {
        KeyKind::Session
    } else if key.starts_with(INDEX_PREFIX) {
        KeyKind::Index
    } else {
        KeyKind::Other
    }
}

/// The session ref of a session item's key value.
pub(crate) fn session_ref_of_key(key: &str) -> Option<SessionRef> {
    key.strip_prefix(SESSION_PREFIX)?.parse().ok()
}

/// A key map for Get/Update/Delete.
pub(crate) fn key(value: String) -> Item {
    HashMap::from([(KEY.to_owned(), AttributeValue::S(value))])
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// Epoch seconds, rounded up, of an instant in ms.
pub(crate) fn secs_ceil(ms: i64) -> i64 {
    ms.div_euclid(1_000) + i64::from(ms.rem_euclid(1_000) != 0)
}

/// The hard expiry (ms), or [`FOREVER_MS`].
pub(crate) fn hard_expiry_ms(session: &Session) -> i64 {
    session
        .hard_expiry()
        .at()
        .map_or(FOREVER_MS, Timestamp::as_millis)
}

fn max_idle_ms(session: &Session) -> Option<i64> {
    session
        .max_idle
        .minutes()
        .map(|m| i64::from(m.get()) * 60_000)
}

/// A session's current expiry as a `ttl` value: epoch seconds rounded up,
/// or `FOREVER_MS / 1000` (a TTL that never fires) for a session that never
/// expires.
pub(crate) fn session_ttl(session: &Session) -> i64 {
    secs_ceil(
        session
            .expiry()
            .at()
            .map_or(FOREVER_MS, Timestamp::as_millis),
    )
}

/// The attributes of a session item other than its key and its index
/// bound, and the helper attribute it must not have.
///
/// A session with a finite `max_idle` carries `mis` and no `tb`; one with
/// an unlimited `max_idle` carries `tb` and no `mis`. That lets a touch
/// compute `ttl = if_not_exists(tb, :now_s) + if_not_exists(mis, 0)` in one
/// UpdateItem without knowing which kind it touches.
pub(crate) fn session_attributes(
    session: &Session,
) -> (Vec<(&'static str, AttributeValue)>, &'static str) {
    let encoded = record::encode(session);
    let rec = String::from_utf8(encoded).expect("records are JSON text");
    let last_used = session.last_used.as_millis();
    let idle = max_idle_ms(session);
    let mut attrs = vec![
        (REC, AttributeValue::S(rec)),
        (SUB, s(session.subject.as_str())),
        (CONTEXT, s(session.context.as_str())),
        (LAST_USED, n(last_used)),
        (HARD_EXPIRY, n(hard_expiry_ms(session))),
        (MAX_IDLE, n(idle.unwrap_or(FOREVER_MS))),
        (
            IDLE_EXPIRY,
            n(last_used.saturating_add(idle.unwrap_or(FOREVER_MS))),
        ),
        (TTL, n(session_ttl(session))),
        (
            VERSION,
            n(i64::try_from(session.version).unwrap_or(i64::MAX)),
        ),
    ];
    let absent = if let Some(idle) = idle {
        attrs.push((MAX_IDLE_SECS, n(idle / 1_000)));
        TTL_BASE
    } else {
        attrs.push((TTL_BASE, n(session_ttl(session))));
        MAX_IDLE_SECS
    };
    (attrs, absent)
}

/// A whole session item, refused up front when it would exceed DynamoDB's
/// item size limit.
pub(crate) fn session_item(
    id: &SessionRef,
    session: &Session,
    index_bound_ms: i64,
) -> Result<Item, StoreError> {
    let (attrs, _) = session_attributes(session);
    let mut item: Item = attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    item.insert(KEY.to_owned(), s(session_key(id)));
    item.insert(INDEX_BOUND.to_owned(), n(index_bound_ms));
    check_size(&item)?;
    Ok(item)
}

/// Refuses an item over [`MAX_ITEM_BYTES`].
pub(crate) fn check_size(item: &Item) -> Result<(), StoreError> {
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge {
            size,
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(())
}

/// An item's size as DynamoDB counts it (names plus values), rounded up:
/// numbers count one byte per digit, which is never less than DynamoDB's
/// own count.
pub(crate) fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::Ss(l) | AttributeValue::Ns(l) => l.iter().map(String::len).sum(),
        _ => 1,
    }
}

/// A numeric attribute; `Ok(None)` if absent, corrupt if not a number.
pub(crate) fn number(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|e| StoreError::corrupt(format!("attribute `{name}` is not an integer"), e)),
        Some(_) => Err(StoreError::Corrupt {
            reason: format!("attribute `{name}` is not a number"),
            source: None,
        }),
    }
}

/// The session a session item holds: the record, with `last_used` from
/// the `lu` attribute that touches move.
pub(crate) fn decode_session(item: &Item) -> Result<Session, StoreError> {
    let mut session = match item.get(REC) {
        Some(AttributeValue::S(text)) => record::decode(text.as_bytes())?,
        Some(AttributeValue::B(bytes)) => record::decode(bytes.as_ref())?,
        _ => {
            return Err(StoreError::Corrupt {
                reason: "session item has no `rec` string or binary attribute".into(),
                source: None,
            });
        }
    };
    if let Some(lu) = number(item, LAST_USED)? {
        session.touch(Timestamp::from_millis(lu));
    }
    Ok(session)
}

/// Whether a session item's record is of a newer format than this build
/// reads (see [`record::format_of`]).
pub(crate) fn is_of_newer_format(item: &Item) -> bool {
    item.get(REC)
        .and_then(|rec| rec.as_s().ok())
        .and_then(|rec| record::format_of(rec.as_bytes()))
        .is_some_and(|format| format > record::FORMAT)
}

/// Whether a session item is expired at `now` by its helper attributes
/// (what conditions and scans see).
pub(crate) fn helpers_expired(item: &Item, now: Timestamp) -> Result<bool, StoreError> {
    let now = now.as_millis();
    let hard = number(item, HARD_EXPIRY)?.unwrap_or(FOREVER_MS);
    let idle = number(item, IDLE_EXPIRY)?.unwrap_or(FOREVER_MS);
    Ok(hard <= now || idle <= now)
}

/// A subject's index as read.
#[derive(Debug, Default, Clone)]
pub(crate) struct Index {
    /// `None` when the index item does not exist.
    pub(crate) version: Option<i64>,
    /// Session ref to hard-expiry bound (ms).
    pub(crate) entries: BTreeMap<SessionRef, i64>,
}

impl Index {
    pub(crate) fn decode(item: Option<&Item>) -> Result<Self, StoreError> {
        let Some(item) = item else {
            return Ok(Self::default());
        };
        let version = number(item, INDEX_VERSION)?.ok_or_else(|| StoreError::Corrupt {
            reason: "subject index item has no `ver`".into(),
            source: None,
        })?;
        let mut entries = BTreeMap::new();
        match item.get(INDEX_SESSIONS) {
            None => {}
            Some(AttributeValue::M(map)) => {
                for (k, v) in map {
                    let id: SessionRef = k.parse().map_err(|e| {
                        StoreError::corrupt("subject index holds a bad session ref", e)
                    })?;
                    let AttributeValue::N(bound) = v else {
                        return Err(StoreError::Corrupt {
                            reason: "subject index entry is not a number".into(),
                            source: None,
                        });
                    };
                    let bound = bound.parse::<i64>().map_err(|e| {
                        StoreError::corrupt("subject index entry is not an integer", e)
                    })?;
                    entries.insert(id, bound);
                }
            }
            Some(_) => {
                return Err(StoreError::Corrupt {
                    reason: "subject index `s` is not a map".into(),
                    source: None,
                });
            }
        }
        Ok(Self {
            version: Some(version),
            entries,
        })
    }

    /// The item for this index under a new version; its `ttl` is the
    /// latest hard-expiry bound, so TTL removes it only once every session
    /// it lists has ended.
    pub(crate) fn item(&self, subject: &Subject, version: i64) -> Item {
        let latest = self.entries.values().copied().max().unwrap_or(0);
        let map = self
            .entries
            .iter()
            .map(|(id, bound)| (id.to_string(), n(*bound)))
            .collect();
        HashMap::from([
            (KEY.to_owned(), s(index_key(subject))),
            (INDEX_VERSION.to_owned(), n(version)),
            (INDEX_SESSIONS.to_owned(), AttributeValue::M(map)),
            (TTL.to_owned(), n(secs_ceil(latest))),
        ])
    }
}

#[cfg(test)]
mod tests;
