//! The API's error responses: `{"error": "<code>", "error_description":
//! "<text>"}` with the status that fits, and the mapping from store errors.
//!
//! Descriptions are fixed texts or built from values the server controls
//! (field names, limits, versions): never from a SID, a token or a request
//! body, so an error response can be logged and shown anywhere.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::ErrorCode;
use tessera_store::{SessionsError, StoreError};

use super::metrics;
use crate::json_error::{self, JsonProblem};

/// One error response.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    description: Cow<'static, str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: ErrorCode,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
        }
    }

    /// `400 invalid_request`: the request is well-formed JSON (or has no
    /// body) but does not fit the operation.
    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            description,
        )
    }

    /// `400 invalid_json`: the body is not JSON.
    pub(crate) fn invalid_json(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, description)
    }

    /// `400 missing_sid`.
    pub(crate) fn missing_sid() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MissingSid,
            "this operation needs the session ID in a `SID` request header",
        )
    }

    /// `400 invalid_sid`: one answer for a malformed, forged, retired or
    /// refused legacy SID, so a caller learns nothing about which check
    /// failed.
    pub(crate) fn invalid_sid() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidSid,
            "the SID is not a valid session ID",
        )
    }

    /// `401 invalid_token`: the same body for a missing, malformed or wrong
    /// token.
    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            "a valid API bearer token is required",
        )
    }

    /// `404 not_found` for a session.
    pub(crate) fn session_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no live session matches",
        )
    }

    /// `415 unsupported_media_type`.
    pub(crate) fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "the body must be JSON, sent with `Content-Type: application/json`",
        )
    }

    /// `413 body_too_large`.
    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// `503 timeout`: the request took longer than `request_timeout`.
    pub(crate) fn timeout() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Timeout,
            "the request took longer than the server's time limit",
        )
    }

    /// `500 internal_error` with a generic description; the cause goes to
    /// the log, not to the caller.
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "the server could not complete the request",
        )
    }

    /// `503 backend_unavailable`, sent with `Retry-After`.
    pub(crate) fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::BackendUnavailable,
            "the session backend is not answering; try again shortly",
        )
    }

    /// The error code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> ErrorCode {
        self.code
    }

    /// A generic error of the given status, for responses produced outside
    /// the handlers (e.g. `405` from the router).
    pub(crate) fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::new(status, ErrorCode::NotFound, "no such endpoint"),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                status,
                ErrorCode::MethodNotAllowed,
                "this endpoint does not accept that method",
            ),
            StatusCode::UNAUTHORIZED => Self::unauthorized(),
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                status,
                ErrorCode::BodyTooLarge,
                "the request body is too large",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::unsupported_media_type(),
            StatusCode::SERVICE_UNAVAILABLE => Self::unavailable(),
            s if s.is_client_error() => {
                Self::new(status, ErrorCode::InvalidRequest, "the request was refused")
            }
            _ => Self::internal(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code.as_str(),
            error_description: &self.description,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // After these the request body is left unread (or read only to be
        // discarded): the connection cannot carry another request.
        if self.status == StatusCode::PAYLOAD_TOO_LARGE || self.code == ErrorCode::Timeout {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        // The code, for the access log.
        response.extensions_mut().insert(self.code);
        response
    }
}

impl From<SessionsError> for ApiError {
    /// The service's own refusals, then the store's errors as
    /// [`From<StoreError>`] maps them.
    fn from(error: SessionsError) -> Self {
        match error {
            SessionsError::InvalidSid(_) => Self::invalid_sid(),
            SessionsError::WrongContext => Self::session_not_found(),
            SessionsError::Store(e) => e.into(),
            other => {
                metrics::backend_error("other");
                tracing::error!(error = %other, "request failed");
                Self::internal()
            }
        }
    }
}

impl From<StoreError> for ApiError {
    /// Maps a store error to its response. Outages stay outages (`503`),
    /// never "not found"; internal failures are logged and answered with a
    /// generic description.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound | StoreError::Expired => Self::session_not_found(),
            StoreError::QuotaExhausted { quota } => {
                metrics::quota_denied();
                Self::new(
                    StatusCode::CONFLICT,
                    ErrorCode::QuotaExhausted,
                    format!(
                        "the subject already has the maximum of {quota} live sessions \
                         and the policy is DENY_LOGIN"
                    ),
                )
            }
            StoreError::Conflict { .. } => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "the session was changed by another request; read it again and retry",
            ),
            // Core errors name the field and the rule, never the value.
            StoreError::Invalid(e) => Self::invalid_request(e.to_string()),
            StoreError::TooLarge { size, limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::SessionTooLarge,
                format!("the session would take {size} bytes; the backend stores at most {limit}"),
            ),
            StoreError::Unavailable { .. } => {
                metrics::backend_error("unavailable");
                tracing::warn!(error = %Chain(&error), "session backend unavailable");
                Self::unavailable()
            }
            StoreError::Backend { .. } => {
                metrics::backend_error("backend");
                tracing::error!(error = %Chain(&error), "session backend error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::BackendError,
                    "the session backend failed to complete the request",
                )
            }
            StoreError::UnsupportedFormat { found, supported } => {
                metrics::backend_error("newer_format");
                tracing::error!(
                    error = %error,
                    "a session record of a newer format was left as it is; upgrade this server"
                );
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::NewerRecordFormat,
                    format!(
                        "the session was written by a newer Tessera (record format {found}; this \
                         server reads up to {supported}) and was left as it is; retry on an \
                         upgraded server"
                    ),
                )
            }
            StoreError::Corrupt { .. } => {
                metrics::backend_error("corrupt");
                // The top-level message only: a decoder's error may quote
                // stored claims or data.
                tracing::error!(error = %error, "unreadable session record");
                Self::internal()
            }
            other => {
                metrics::backend_error("other");
                tracing::error!(error = %other, "request failed");
                Self::internal()
            }
        }
    }
}

/// Displays an error with its chain of sources, `: `-separated.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// The API error for a JSON decoding error: `invalid_json` when the body is
/// not JSON, `invalid_request` when it has the wrong shape. The description
/// quotes nothing from the body ([`crate::json_error`]).
pub(crate) fn describe_json_error(error: &serde_json::Error) -> ApiError {
    match json_error::describe(error, true) {
        (JsonProblem::Syntax, text) => ApiError::invalid_json(format!("the body is {text}")),
        (JsonProblem::Shape, text) => ApiError::invalid_request(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Sample {
        name: String,
        #[serde(default)]
        data: serde_json::Map<String, serde_json::Value>,
    }

    fn describe(json: &str) -> ApiError {
        describe_json_error(&serde_json::from_str::<Sample>(json).unwrap_err())
    }

    #[test]
    fn type_errors_do_not_quote_the_value() {
        let e = describe(r#"{"name": "n", "data": "s3cr3t-value"}"#);
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(!e.description.contains("s3cr3t"), "{}", e.description);
        assert!(
            e.description.contains("expected a map"),
            "{}",
            e.description
        );
    }

    #[test]
    fn syntax_unknown_and_missing_fields() {
        assert_eq!(describe("{").code, ErrorCode::InvalidJson);
        assert_eq!(describe("").code, ErrorCode::InvalidJson);
        let unknown = describe(r#"{"name": "n", "sid": 1}"#);
        assert!(
            unknown
                .description
                .starts_with("unknown field `sid`, expected `name` or `data`"),
            "{}",
            unknown.description
        );
        let secret_key = describe(r#"{"name": "n", "AbC.dEf-123": 1}"#);
        assert!(
            !secret_key.description.contains("AbC"),
            "{}",
            secret_key.description
        );
        assert!(secret_key.description.contains("expected `name` or `data`"));
        let missing = describe("{}");
        assert!(missing.description.starts_with("missing field `name`"));
    }
}
