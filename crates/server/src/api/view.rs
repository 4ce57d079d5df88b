//! The JSON shapes of the API's answers, and the wire form of credentials.

use serde::Serialize;
use serde_json::Value;
use tessera_core::Session;
use tessera_store::{SessionRef, StoredSession};
use zeroize::Zeroizing;

use super::error::ApiError;

/// A session as `GET`, `PUT` and `DELETE /sessions` return it: its admin
/// `id`, then the session's JSON (`sub`, `ctx`, times in seconds, lifetimes
/// in minutes, ...), then `credentials` when they were asked for (`null`
/// if the session has none).
#[derive(Serialize)]
pub(crate) struct SessionView<'a> {
    id: String,
    #[serde(flatten)]
    session: &'a Session,
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials: Option<Value>,
}

impl<'a> SessionView<'a> {
    pub(crate) fn new(id: &SessionRef, session: &'a Session, credentials: Option<Value>) -> Self {
        Self {
            id: id.to_string(),
            session,
            credentials,
        }
    }
}

/// The answer to `POST /sessions`. The SID is borrowed from the service's
/// wiped-on-drop [`Sid`](tessera_crypto::Sid), not copied.
#[derive(Serialize)]
pub(crate) struct Created<'a> {
    pub(crate) sid: &'a str,
    pub(crate) id: String,
    pub(crate) session: &'a Session,
    /// Admin ids of the sessions closed to make room under the quota.
    pub(crate) closed: Vec<String>,
}

/// A session in a listing: its `id` and the session, never its SID.
#[derive(Serialize)]
pub(crate) struct Listed<'a> {
    pub(crate) id: String,
    pub(crate) session: &'a Session,
}

impl<'a> From<&'a StoredSession> for Listed<'a> {
    fn from(s: &'a StoredSession) -> Self {
        Self {
            id: s.id.to_string(),
            session: &s.session,
        }
    }
}

/// The bytes sealed for credentials given as a JSON value: its JSON text,
/// so that any value (a string, an object) comes back exactly as given.
pub(crate) fn seal_form(credentials: &Value) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    serde_json::to_vec(credentials)
        .map(Zeroizing::new)
        .map_err(|_| ApiError::internal())
}

/// Credentials opened from a session, as JSON: the value stored by
/// [`seal_form`]; credentials sealed by another producer come back as a
/// string if they are UTF-8 text.
pub(crate) fn opened_form(plain: &[u8]) -> Result<Value, ApiError> {
    if let Ok(value) = serde_json::from_slice::<Value>(plain) {
        return Ok(value);
    }
    if let Ok(text) = std::str::from_utf8(plain) {
        return Ok(Value::String(text.to_owned()));
    }
    tracing::error!("stored credentials are neither JSON nor text");
    Err(ApiError::internal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_as_given() {
        for value in [
            Value::String("p@ss \"word\"".into()),
            serde_json::json!({"user": "u", "password": "p"}),
            serde_json::json!([1, 2]),
        ] {
            let sealed = seal_form(&value).unwrap();
            assert_eq!(opened_form(&sealed).unwrap(), value);
        }
        assert_eq!(
            opened_form(b"plain text").unwrap(),
            Value::String("plain text".into())
        );
        assert!(opened_form(&[0xff, 0xfe]).is_err());
    }
}
