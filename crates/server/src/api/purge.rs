//! `POST /purge`: removes expired sessions and stale subject index entries.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;
use super::error::ApiError;
use super::extract::Params;
use super::metrics;

/// Runs a purge now; answers `{"sessions": n, "index_entries": m}`. Any
/// request body is ignored.
pub(crate) async fn purge(State(state): State<Shared>, uri: Uri) -> Result<Response, ApiError> {
    Params::parse(&uri)?.only(&[], "POST /purge")?;
    let report = state.sessions.purge().await?;
    metrics::expired(report.sessions);
    Ok(axum::Json(json!({
        "sessions": report.sessions,
        "index_entries": report.index_entries,
    }))
    .into_response())
}
