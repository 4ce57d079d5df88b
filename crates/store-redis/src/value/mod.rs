//! The stored form of a session in Redis: one string value per session.
//!
//! ```text
//! "TS" <format: one byte> <MessagePack map>
//! ```
//!
//! The three-byte header lets every build, this one and later ones, tell
//! a value of a newer format (left alone: [`StoreError::UnsupportedFormat`])
//! from a damaged one before decoding anything. A create encodes the
//! whole value here ([`encode`]); the scripts that rewrite a value (update,
//! touch) decode and re-encode it with Redis's `cmsgpack`. The map has
//! one-letter keys:
//!
//! | key | holds |
//! |-----|-------|
//! | `l` | last use, ms since the epoch (what a due touch rewrites) |
//! | `m` | `max_idle` in ms, `-1` unlimited |
//! | `h` | hard expiry (the earlier of the `max_life` and `auth_life` ends), ms, negative before 1970; the string `never` when there is none |
//! | `v` | version, for compare-and-set |
//! | `s` | the subject hash, naming the subject index |
//! | `c` | the context |
//! | `k` | the key generation that signed the SID; absent when unknown |
//! | `b` | the rest of the session, a MessagePack map of its own ([`body`]) that the scripts carry but never open |
//!
//! The numbers let the scripts decide expiry, quota and compare-and-set
//! without opening the body, and let a reader decide liveness with its own
//! `now` after one plain `GET`.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use tessera_core::{
    Context, KeyGeneration, Lifetime, RecordMac, SealedBlob, Session, Subject, Timestamp,
};
use tessera_store::StoreError;
use tessera_store::backend::record;

mod encode;
pub(crate) use encode::encode;
#[cfg(feature = "testkit")]
pub(crate) use encode::encode_nested;

/// The first two bytes of every value, before its format byte.
pub(crate) const MAGIC: &[u8; 2] = b"TS";

/// The value format this build writes, and the newest it reads. Format 1
/// was Tessera 0.1's hash of separate fields, which this build refuses
/// ([`older_layout`]).
pub(crate) const FORMAT: u8 = 2;

/// The `hx` of a session with no hard expiry. A word, not a number, so
/// that no instant (a negative one before 1970 included) can be read as
/// "never".
pub(crate) const NEVER: &str = "never";

const MILLIS_PER_MINUTE: i64 = 60_000;

/// The body: what only the reader needs. Short names keep it small.
#[derive(Serialize, Deserialize)]
struct Body {
    /// Subject.
    s: Subject,
    /// Creation time, ms.
    c: i64,
    /// Authentication time, ms; absent when it is the creation time (a
    /// session started at login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<i64>,
    /// `max_life`, minutes (`-1` unlimited).
    ml: Lifetime,
    /// `auth_life`, minutes (`-1` unlimited).
    al: Lifetime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
    /// Claims.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    cl: Map<String, Value>,
    /// Data.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    d: Map<String, Value>,
    /// Sealed credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cr: Option<serde_bytes::ByteBuf>,
    /// The record's MAC (`tessera_store::backend::record::mac_message`); absent in
    /// values written before records were signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    g: Option<serde_bytes::ByteBuf>,
}

/// The map the scripts write, as read back.
#[derive(Deserialize)]
struct Outer {
    /// Last use.
    #[serde(rename = "l")]
    lu: i64,
    /// `max_idle`, ms.
    #[serde(rename = "m")]
    mi: i64,
    /// Hard expiry.
    #[serde(rename = "h", deserialize_with = "hard_expiry")]
    hx: Option<i64>,
    v: u64,
    /// Context.
    #[serde(rename = "c")]
    cx: Context,
    /// Key generation.
    #[serde(rename = "k", default)]
    kg: Option<u32>,
    b: serde_bytes::ByteBuf,
}

/// `hx`: an instant in ms, or the word [`NEVER`]; anything else is damage.
fn hard_expiry<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Hx {
        At(i64),
        Word(String),
    }
    match Hx::deserialize(deserializer)? {
        Hx::At(ms) => Ok(Some(ms)),
        Hx::Word(w) if w == NEVER => Ok(None),
        Hx::Word(w) => Err(serde::de::Error::custom(format!(
            "`h` is neither an instant nor `{NEVER}`: {w:?}"
        ))),
    }
}

/// The numeric fields of a session, as script arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `lu`.
    pub(crate) last_used: String,
    /// `mi`.
    pub(crate) max_idle: String,
    /// `hx`.
    pub(crate) hard_expiry: String,
}

impl Limits {
    pub(crate) fn of(session: &Session) -> Self {
        Self {
            last_used: session.last_used.as_millis().to_string(),
            max_idle: lifetime_ms(session.max_idle).to_string(),
            hard_expiry: session
                .hard_expiry()
                .at()
                .map_or_else(|| NEVER.to_owned(), |t| t.as_millis().to_string()),
        }
    }
}

/// When the key of `session`'s value expires, in ms (never before 1 ms,
/// as an instant before 1970 has passed as surely): the earlier of its
/// hard expiry and its idle end, as the scripts' `tessera_expiry`; `None`
/// when it never expires.
pub(crate) fn key_expiry(session: &Session) -> Option<i64> {
    let hard = session.hard_expiry().at().map(Timestamp::as_millis);
    let max_idle = lifetime_ms(session.max_idle);
    let idle = (max_idle >= 0).then(|| session.last_used.as_millis().saturating_add(max_idle));
    let at = match (hard, idle) {
        (Some(h), Some(i)) => Some(h.min(i)),
        (h, i) => h.or(i),
    };
    at.map(|ms| ms.max(1))
}

/// The score of `session` in its subject's index: its hard expiry in ms,
/// `+inf` when it has none (the scripts' `tessera_score`).
pub(crate) fn index_score(session: &Session) -> String {
    session
        .hard_expiry()
        .at()
        .map_or_else(|| "+inf".to_owned(), |t| t.as_millis().to_string())
}

fn lifetime_ms(lifetime: Lifetime) -> i64 {
    lifetime
        .minutes()
        .map_or(-1, |m| i64::from(m.get()) * MILLIS_PER_MINUTE)
}

/// The body of `session`, the `b` the scripts store as given.
pub(crate) fn body(session: &Session) -> Vec<u8> {
    let body = Body {
        s: session.subject.clone(),
        c: session.creation_time.as_millis(),
        a: (session.auth_time != session.creation_time).then(|| session.auth_time.as_millis()),
        ml: session.max_life,
        al: session.auth_life,
        acr: session.acr.clone(),
        amr: session.amr.clone(),
        cl: session.claims.clone(),
        d: session.data.clone(),
        cr: session
            .credentials
            .as_ref()
            .map(|c| serde_bytes::ByteBuf::from(c.as_bytes().to_vec())),
        g: session
            .record_mac
            .as_ref()
            .map(|m| serde_bytes::ByteBuf::from(m.as_bytes().to_vec())),
    };
    rmp_serde::to_vec_named(&body).expect("a session body always serializes")
}

/// The format a value declares: `Some` when it begins with [`MAGIC`].
pub(crate) fn format_of(value: &[u8]) -> Option<u8> {
    match value {
        [m0, m1, format, ..] if [*m0, *m1] == *MAGIC => Some(*format),
        _ => None,
    }
}

/// Decodes a session value. A value of a newer format is
/// [`StoreError::UnsupportedFormat`]; anything that does not decode is
/// [`StoreError::Corrupt`].
pub(crate) fn decode(value: &[u8]) -> Result<Session, StoreError> {
    let format = format_of(value).ok_or_else(|| StoreError::Corrupt {
        reason: "the session value does not begin with its format header".into(),
        source: None,
    })?;
    if format > FORMAT {
        return Err(StoreError::UnsupportedFormat {
            found: u64::from(format),
            supported: u64::from(FORMAT),
        });
    }
    if format < FORMAT {
        return Err(StoreError::Corrupt {
            reason: format!("session value format {format} does not exist"),
            source: None,
        });
    }
    record::check_msgpack_bounds(value)?;
    let outer: Outer = rmp_serde::from_slice(&value[3..])
        .map_err(|e| StoreError::corrupt("the session value does not decode", e))?;
    record::check_msgpack_bounds(&outer.b)?;
    let body: Body = rmp_serde::from_slice(&outer.b)
        .map_err(|e| StoreError::corrupt("the session body does not decode", e))?;
    let max_idle = if outer.mi < 0 {
        Lifetime::Unlimited
    } else if outer.mi % MILLIS_PER_MINUTE == 0 {
        Lifetime::from_minutes("mi", outer.mi / MILLIS_PER_MINUTE)
            .map_err(|e| StoreError::corrupt("the session's max idle (`m`) is out of range", e))?
    } else {
        return Err(StoreError::Corrupt {
            reason: "the session's max idle (`m`) is not a whole number of minutes".into(),
            source: None,
        });
    };
    let session = Session {
        subject: body.s,
        context: outer.cx,
        creation_time: Timestamp::from_millis(body.c),
        auth_time: Timestamp::from_millis(body.a.unwrap_or(body.c)),
        last_used: Timestamp::from_millis(outer.lu),
        max_life: body.ml,
        auth_life: body.al,
        max_idle,
        acr: body.acr,
        amr: body.amr,
        claims: body.cl,
        data: body.d,
        credentials: body.cr.map(|c| SealedBlob::new(c.into_vec())),
        version: outer.v,
        signer: outer.kg.map(KeyGeneration::new),
        record_mac: body.g.map(|g| RecordMac::new(g.into_vec())),
    };
    // The scripts decide by `hx`; a reader decides by the lifetimes. They
    // must agree, or the two would disagree on when the session ends.
    if session.hard_expiry().at().map(Timestamp::as_millis) != outer.hx {
        return Err(StoreError::Corrupt {
            reason: "the session's hard expiry (`h`) does not match its lifetimes".into(),
            source: None,
        });
    }
    Ok(session)
}

/// The error for a key that holds a Redis hash: a session of format 1,
/// the layout of Tessera 0.1, which this build does not convert.
pub(crate) fn older_layout() -> StoreError {
    StoreError::Corrupt {
        reason: "the key holds a session of value format 1 (Tessera 0.1's hash layout); \
                 this build reads format 2 only: end those sessions \
                 (docs/operations.md, \"Upgrades\")"
            .into(),
        source: None,
    }
}

/// A value of the next format, with content this build cannot read.
#[cfg(test)]
fn next_format_value() -> Vec<u8> {
    let mut value = MAGIC.to_vec();
    value.push(FORMAT + 1);
    value.extend_from_slice(b"written by a newer Tessera");
    value
}

#[cfg(test)]
mod tests;
