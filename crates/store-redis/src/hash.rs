//! The fields of a session hash, and reading script replies.
//!
//! | field | holds |
//! |-------|-------|
//! | `rec` | the record ([`tessera_store::record`]), as written at create or update |
//! | `lu`  | last use, ms since the epoch (the one field a touch writes) |
//! | `mi`  | `max_idle` in ms, `-1` unlimited |
//! | `hx`  | hard expiry (the earlier of the `max_life` and `auth_life` ends), ms, negative before 1970; `never` when there is none |
//! | `v`   | version, for compare-and-set |
//! | `sh`  | the subject hash, naming the subject index |
//! | `cx`  | the context |
//! | `kg`  | the key generation that signed the SID, when known (the record holds it too) |
//!
//! The numbers let the scripts decide expiry and quota without decoding the
//! record. `lu` and `v` override the record's copies when reading.

use fred::types::Value;
use tessera_core::{Lifetime, Session, Timestamp};
use tessera_store::{StoreError, record};

const MILLIS_PER_MINUTE: i64 = 60_000;

/// The `hx` of a session with no hard expiry. A word, not a number, so
/// that no instant (a negative one before 1970 included) can be read as
/// "never".
pub(crate) const NEVER: &str = "never";

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

fn lifetime_ms(lifetime: Lifetime) -> i64 {
    lifetime
        .minutes()
        .map_or(-1, |m| i64::from(m.get()) * MILLIS_PER_MINUTE)
}

/// A script's reply: its status word and the values after it.
pub(crate) struct Reply {
    status: String,
    values: Vec<Value>,
}

impl Reply {
    /// Splits `{status, values...}`.
    pub(crate) fn parse(value: Value, what: &'static str) -> Result<Self, StoreError> {
        let Value::Array(mut values) = value else {
            return Err(crate::errors::unexpected_reply(what));
        };
        if values.is_empty() {
            return Ok(Self {
                status: String::new(),
                values,
            });
        }
        let status = values.remove(0).into_string().unwrap_or_default();
        Ok(Self { status, values })
    }

    /// The status word (`ok`, `none`, ...), empty for a bare list.
    pub(crate) fn status(&self) -> &str {
        &self.status
    }

    /// The values after the status.
    pub(crate) fn into_values(self) -> Vec<Value> {
        self.values
    }
}

/// A string value of a reply.
pub(crate) fn text(value: Value, what: &'static str) -> Result<String, StoreError> {
    value
        .into_string()
        .ok_or_else(|| crate::errors::unexpected_reply(what))
}

/// A bytes value of a reply.
pub(crate) fn bytes(value: Value, what: &'static str) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::Bytes(b) => Ok(b.to_vec()),
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        _ => Err(crate::errors::unexpected_reply(what)),
    }
}

/// An integer value of a reply.
pub(crate) fn integer(value: &Value, what: &'static str) -> Result<i64, StoreError> {
    match value {
        Value::Integer(i) => Ok(*i),
        _ => Err(crate::errors::unexpected_reply(what)),
    }
}

/// Rebuilds a session from `rec`, `lu` and `v` as the scripts return them.
pub(crate) fn session(rec: &[u8], last_used: &str, version: &str) -> Result<Session, StoreError> {
    let mut session = record::decode(rec)?;
    session.last_used = Timestamp::from_millis(number(last_used, "lu")?);
    session.version = version
        .parse()
        .map_err(|e| StoreError::corrupt("the session hash's version field is not a number", e))?;
    Ok(session)
}

fn number(text: &str, field: &'static str) -> Result<i64, StoreError> {
    text.parse().map_err(|e| {
        StoreError::corrupt(
            format!("the session hash's `{field}` field is not a number"),
            e,
        )
    })
}

/// The error for a `{'newer', format}` reply: the record is of a format
/// this build does not read, and the script left it as it was.
pub(crate) fn newer(reply: Reply, what: &'static str) -> StoreError {
    let found = reply.into_values().first().and_then(|v| match v {
        Value::Integer(i) => u64::try_from(*i).ok(),
        other => other.as_string().and_then(|s| s.parse().ok()),
    });
    match found {
        Some(found) => StoreError::UnsupportedFormat {
            found,
            supported: record::FORMAT,
        },
        None => crate::errors::unexpected_reply(what),
    }
}

/// The error for a hash whose numeric fields are damaged.
pub(crate) fn damaged() -> StoreError {
    StoreError::Corrupt {
        reason: "the session hash's expiry fields are missing or not numbers".into(),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use tessera_core::{Policy, SessionParams, Subject};

    use super::*;

    #[test]
    fn limits_are_milliseconds_with_minus_one_for_unlimited() {
        let mut p = SessionParams::new(Subject::new("a").unwrap());
        p.max_life = Some(Lifetime::minutes_const(10));
        p.auth_life = Some(Lifetime::Unlimited);
        p.max_idle = Some(Lifetime::Unlimited);
        let now = Timestamp::from_millis(1_000);
        let s = Session::start(p, &Policy::default(), now).unwrap();
        assert_eq!(
            Limits::of(&s),
            Limits {
                last_used: "1000".into(),
                max_idle: "-1".into(),
                hard_expiry: (1_000 + 10 * 60_000).to_string(),
            }
        );
    }
}
