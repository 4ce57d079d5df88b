//! The crate's one error type, and the HTTP answer each error is.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_store::core::ErrorCode;

/// A boxed error from a backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a session operation failed. As a response (`IntoResponse`), each is
/// an HTTP status with a JSON body `{"error": code, "error_description":
/// text}` in the shape the `tessera` server uses; none carries a SID.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request has no live session: no cookie, an unknown, forged or
    /// expired SID, or a session that ended. `401`.
    #[error("not signed in")]
    NotSignedIn,
    /// The application refused a login: a wrong user name or password.
    /// `401`, with the same answer whatever was wrong, so the answer does
    /// not tell which user names exist.
    #[error("wrong user name or password")]
    LoginRefused,
    /// The session kept changing under a `modify` past its retries. `409`.
    #[error("the session changed concurrently; retry")]
    Conflict,
    /// The subject holds its quota of sessions and the policy is
    /// `DENY_LOGIN`. `409`.
    #[error("the subject holds as many sessions as it may")]
    QuotaExhausted,
    /// A value the session model refuses (an empty subject, a bad context,
    /// a session too large for the backend). `400`.
    #[error("refused: {0}")]
    Invalid(String),
    /// The backend did not answer. `503` with `Retry-After`: an outage,
    /// never a logout.
    #[error("the session backend is unavailable")]
    Unavailable {
        /// How long to wait before retrying.
        retry_after: Duration,
        /// What failed.
        #[source]
        source: BoxError,
    },
    /// A value in the session's data is not of the type asked for. `500`.
    #[error("session data `{key}` is not of the type asked for")]
    Data {
        /// The data key.
        key: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The handler uses a session extractor, but the router has no
    /// [`SessionLayer`](crate::SessionLayer). `500`.
    #[error("no SessionLayer on this route")]
    MissingLayer,
    /// Anything else the backend reported. `500`.
    #[error("the session backend failed")]
    Backend(#[source] BoxError),
    /// The application's setup is incomplete: says what is missing and
    /// how to get it (an unset root key, say). Met at start-up, before
    /// any request; `500` if it ever answers one.
    #[error("{0}")]
    Setup(String),
}

impl Error {
    /// [`Error::Unavailable`] with a one-second `Retry-After`, as the
    /// `tessera` server answers.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            retry_after: Duration::from_secs(1),
            source: source.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotSignedIn | Self::LoginRefused => StatusCode::UNAUTHORIZED,
            Self::Conflict | Self::QuotaExhausted => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Data { .. } | Self::MissingLayer | Self::Backend(_) | Self::Setup(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The stable error code of the JSON body: the `tessera` server's
    /// code ([`ErrorCode`]) for the same failure, and `not_signed_in` and
    /// `login_refused`, which the server has no use for.
    ///
    /// [`ErrorCode`]: tessera_store::core::ErrorCode
    pub fn code(&self) -> &'static str {
        let code = match self {
            Self::NotSignedIn => return "not_signed_in",
            Self::LoginRefused => return "login_refused",
            Self::Conflict => ErrorCode::Conflict,
            Self::QuotaExhausted => ErrorCode::QuotaExhausted,
            Self::Invalid(_) => ErrorCode::InvalidRequest,
            Self::Unavailable { .. } => ErrorCode::BackendUnavailable,
            Self::Data { .. } | Self::MissingLayer | Self::Backend(_) | Self::Setup(_) => {
                ErrorCode::InternalError
            }
        };
        code.as_str()
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // The cause goes to the log (it names no SID); the client gets
            // the generic description.
            tracing::error!(error = %self, source = ?std::error::Error::source(&self), "session operation failed");
        }
        let description = match &self {
            Self::Data { .. } | Self::MissingLayer | Self::Backend(_) | Self::Setup(_) => {
                "the session could not be used".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            Json(json!({"error": self.code(), "error_description": description})),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Self::Unavailable { retry_after, .. } = &self {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
        }
        response
    }
}
