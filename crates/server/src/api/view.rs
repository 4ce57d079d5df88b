//! The JSON shapes of the API's answers, and the wire form of credentials.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
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
    /// `true` for a pre-login session (whose `sub` is empty); absent
    /// otherwise, so signed-in sessions look as in the reference API.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pre_login: bool,
    #[serde(flatten)]
    session: &'a Session,
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials: Option<Value>,
}

impl<'a> SessionView<'a> {
    pub(crate) fn new(id: &SessionRef, session: &'a Session, credentials: Option<Value>) -> Self {
        Self {
            id: id.to_string(),
            pre_login: session.is_anonymous(),
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
    /// As in [`SessionView`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) pre_login: bool,
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

/// Credentials as a request gives them: any JSON value, kept as its JSON
/// text (never parsed into a [`Value`], whose strings could not be wiped)
/// and wiped when dropped. `Debug` is redacted.
pub(crate) struct RequestCredentials(Zeroizing<String>);

impl RequestCredentials {
    /// Whether the value is JSON `null` (no credentials).
    pub(crate) fn is_null(&self) -> bool {
        self.0.as_str() == "null"
    }

    /// The bytes to seal: the value's JSON text, so that any value (a
    /// string, an object) comes back as given.
    pub(crate) fn seal_form(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl<'de> Deserialize<'de> for RequestCredentials {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        // `Box<str>` into `String` keeps the allocation: no copy is left
        // behind unwiped.
        Ok(Self(Zeroizing::new(String::from(Box::<str>::from(raw)))))
    }
}

impl fmt::Debug for RequestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestCredentials(<redacted>)")
    }
}

/// Credentials opened from a session, as JSON: the value stored by
/// [`RequestCredentials::seal_form`]; credentials sealed by another producer come back as a
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
            let given: RequestCredentials = serde_json::from_str(&format!(
                " {} ",
                serde_json::to_string_pretty(&value).unwrap()
            ))
            .unwrap();
            assert!(!given.is_null());
            assert_eq!(opened_form(given.seal_form()).unwrap(), value);
        }
        let null: RequestCredentials = serde_json::from_str("null").unwrap();
        assert!(null.is_null());
        assert_eq!(
            opened_form(b"plain text").unwrap(),
            Value::String("plain text".into())
        );
        assert!(opened_form(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn request_credentials_are_redacted() {
        let given: RequestCredentials =
            serde_json::from_str(r#"{"password": "hunter2-hunter2"}"#).unwrap();
        assert_eq!(format!("{given:?}"), "RequestCredentials(<redacted>)");
    }
}
