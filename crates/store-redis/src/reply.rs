//! Reading script replies.

use fred::types::Value;
use tessera_store::StoreError;

use crate::value;

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

/// A bytes value of a reply, without copying it.
pub(crate) fn bytes(value: Value, what: &'static str) -> Result<fred::bytes::Bytes, StoreError> {
    match value {
        Value::Bytes(b) => Ok(b),
        Value::String(s) => Ok(s.into_inner()),
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
            supported: u64::from(value::FORMAT),
        },
        None => crate::errors::unexpected_reply(what),
    }
}

/// The error for a session value that does not decode in a script.
pub(crate) fn damaged() -> StoreError {
    StoreError::Corrupt {
        reason: "the session value is damaged: its fields are missing or not numbers".into(),
        source: None,
    }
}
