//! The error codes of the `tessera` server's HTTP API.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The stable code of an error answer of the `tessera` server's HTTP API:
/// the `error` field of its JSON error body
/// (`{"error": "<code>", "error_description": "<text>"}`), as listed in
/// `docs/api.md` ("Errors") and in the OpenAPI document.
///
/// The server answers with it, `tessera-client` reads it
/// (`ClientError::error_code`) and `tessera-axum` decides on it, so the
/// three never compare the text. On the wire it is the snake_case string
/// of [`as_str`](Self::as_str), with serde too. A code this build does not
/// know (from a newer server, or a proxy's own answer) has no variant:
/// [`from_code`](Self::from_code) returns `None` for it.
///
/// ```
/// use tessera_core::ErrorCode;
///
/// assert_eq!(ErrorCode::NotFound.as_str(), "not_found");
/// assert_eq!(ErrorCode::from_code("quota_exhausted"), Some(ErrorCode::QuotaExhausted));
/// assert_eq!("conflict".parse::<ErrorCode>(), Ok(ErrorCode::Conflict));
/// assert_eq!(ErrorCode::from_code("bad_gateway"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// `400`: the request does not fit the operation (unknown or missing
    /// field, wrong type, a value the model refuses, …).
    InvalidRequest,
    /// `400`: the body is not valid JSON.
    InvalidJson,
    /// `400`: the operation needs a `SID` header and there is none.
    MissingSid,
    /// `400`: the SID is malformed, forged, signed by a retired key or a
    /// refused legacy SID (one answer for all).
    InvalidSid,
    /// `401`: no valid bearer token.
    InvalidToken,
    /// `404`: no live session matches (or no such endpoint).
    NotFound,
    /// `405`: the path exists, not with this method.
    MethodNotAllowed,
    /// `409`: an update without `If-Match` raced with another update.
    Conflict,
    /// `409`: `DENY_LOGIN` and the subject is at its quota.
    QuotaExhausted,
    /// `412`: `If-Match` does not match the session's version.
    PreconditionFailed,
    /// `413`: the body is over the server's limit.
    BodyTooLarge,
    /// `413`: the backend cannot store a session that large.
    SessionTooLarge,
    /// `415`: a body that must be JSON is not sent as JSON.
    UnsupportedMediaType,
    /// `431`: the request headers are over the server's limit.
    HeadersTooLarge,
    /// `414`: the path and query are over the server's limit.
    UriTooLong,
    /// `500`: anything else the server could not complete.
    InternalError,
    /// `500`: the backend answered with an error retrying will not fix.
    BackendError,
    /// `503`: the backend did not answer; retry shortly.
    BackendUnavailable,
    /// `503`: the session's record was written by a newer Tessera; an
    /// upgraded server can answer.
    NewerRecordFormat,
    /// `503`: the request took longer than the server's time limit.
    Timeout,
    /// `503`: the server was serving its maximum of connections.
    TooManyConnections,
}

impl ErrorCode {
    /// Every code, in the order of `docs/api.md`'s error table.
    pub const ALL: &'static [Self] = &[
        Self::InvalidJson,
        Self::InvalidRequest,
        Self::MissingSid,
        Self::InvalidSid,
        Self::InvalidToken,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::QuotaExhausted,
        Self::Conflict,
        Self::PreconditionFailed,
        Self::BodyTooLarge,
        Self::SessionTooLarge,
        Self::UnsupportedMediaType,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::BackendError,
        Self::InternalError,
        Self::BackendUnavailable,
        Self::NewerRecordFormat,
        Self::Timeout,
        Self::TooManyConnections,
    ];

    /// The code as the API writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidJson => "invalid_json",
            Self::MissingSid => "missing_sid",
            Self::InvalidSid => "invalid_sid",
            Self::InvalidToken => "invalid_token",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::QuotaExhausted => "quota_exhausted",
            Self::PreconditionFailed => "precondition_failed",
            Self::BodyTooLarge => "body_too_large",
            Self::SessionTooLarge => "session_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::HeadersTooLarge => "headers_too_large",
            Self::UriTooLong => "uri_too_long",
            Self::InternalError => "internal_error",
            Self::BackendError => "backend_error",
            Self::BackendUnavailable => "backend_unavailable",
            Self::NewerRecordFormat => "newer_record_format",
            Self::Timeout => "timeout",
            Self::TooManyConnections => "too_many_connections",
        }
    }

    /// The code written `code`, or `None` for a code this build does not
    /// know.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is no [`ErrorCode`] this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownErrorCode;

impl fmt::Display for UnknownErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an error code of the Tessera API")
    }
}

impl std::error::Error for UnknownErrorCode {}

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::from_code(code).ok_or(UnknownErrorCode)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_code_round_trips_through_text_and_serde() {
        let texts: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(texts.len(), ErrorCode::ALL.len(), "a code is listed twice");
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(code));
            assert_eq!(code.as_str().parse(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn unknown_codes_are_none() {
        assert_eq!(ErrorCode::from_code("bad_gateway"), None);
        assert_eq!(ErrorCode::from_code("NOT_FOUND"), None);
        assert_eq!("".parse::<ErrorCode>(), Err(UnknownErrorCode));
        assert!(serde_json::from_str::<ErrorCode>("\"bad_gateway\"").is_err());
    }
}
