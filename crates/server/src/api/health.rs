//! `/healthz` and `/readyz`, for process supervisors and load balancers.
//! Neither needs a token, and neither says anything about sessions.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;
use super::error::ApiError;

/// `GET /healthz`: the process is up and serving HTTP.
pub(crate) async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: the session backend answers (`200`), or not (`503` with
/// `Retry-After`).
pub(crate) async fn readyz(State(state): State<Shared>) -> Response {
    match state.sessions.ping().await {
        Ok(()) => {
            super::metrics::backend_checked(true);
            axum::Json(json!({"status": "ready"})).into_response()
        }
        Err(e) => {
            super::metrics::backend_checked(false);
            super::metrics::readiness_failed();
            tracing::warn!(error = %super::error::Chain(&e), "readiness check failed");
            ApiError::unavailable().into_response()
        }
    }
}
