//! The client's one error type.

use std::time::Duration;

use tessera_core::ErrorCode;

/// Why a call failed. Never contains a SID, the API token or credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an API error.
    #[error("the session server answered {status} {code}: {description}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable error code (`not_found`, `conflict`, …), as the server
        /// wrote it; [`ClientError::error_code`] reads it. An answer without
        /// the API's error body (a proxy's) has the status's reason here
        /// (`bad_gateway`).
        code: String,
        /// The human description (may change between versions).
        description: String,
        /// The `Retry-After` of a `503`.
        retry_after: Option<Duration>,
    },
    /// The server could not be reached, or did not answer in time.
    #[error("the session server did not answer")]
    Unreachable(#[source] reqwest::Error),
    /// The server answered something this client cannot read.
    #[error("the session server's answer cannot be read: {reason}")]
    Unexpected {
        /// What was wrong with it.
        reason: String,
    },
    /// The client's own settings are wrong (the base URL, the token).
    #[error("the client is misconfigured: {reason}")]
    Config {
        /// Which setting, and why.
        reason: &'static str,
    },
}

impl ClientError {
    /// The API's error code as text, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The API's error code, if the server answered with one this client
    /// knows (not a proxy's answer, nor a code of a newer server: those are
    /// only in [`code`](Self::code)).
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code().and_then(ErrorCode::from_code)
    }

    /// Whether the server or its backend is unavailable for now: no answer,
    /// or a `503`. Retrying later may help; this is never a logout.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Api { status: 503, .. })
    }

    /// Whether an update lost a race: `409 conflict` or `412
    /// precondition_failed`. Read again and retry.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Api { status: 412, .. })
            || self.error_code() == Some(ErrorCode::Conflict)
    }
}
