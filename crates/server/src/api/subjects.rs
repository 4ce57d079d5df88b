//! Administrative operations on a subject's sessions: list, end all, end
//! one by id, and record a fresh authentication.
//!
//! Sessions are identified here by their opaque admin `id`
//! (`<tag>-<storage key>`), which cannot be turned back into a SID.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tessera_core::{Context, Lifetime, Subject, Timestamp};
use tessera_store::SessionRef;

use super::Shared;
use super::error::ApiError;
use super::extract::{Integer, JsonBody, Params};
use super::{metrics, view};

fn subject_and_context(params: &Params) -> Result<(Subject, Option<Context>), ApiError> {
    let invalid = |e: tessera_core::CoreError| ApiError::invalid_request(e.to_string());
    let subject = Subject::new(params.subject.clone().unwrap_or_default()).map_err(invalid)?;
    let context = params
        .ctx
        .clone()
        .map(Context::new)
        .transpose()
        .map_err(invalid)?;
    Ok((subject, context))
}

/// `GET /sessions?subject=…[&ctx=…]`: the subject's live sessions, oldest
/// first, as `[{"id": …, "session": …}]`.
pub(crate) async fn list(state: &Shared, params: &Params) -> Result<Response, ApiError> {
    let (subject, context) = subject_and_context(params)?;
    let sessions = state.sessions.list(&subject, context.as_ref()).await?;
    let listed: Vec<view::Listed<'_>> = sessions.iter().map(view::Listed::from).collect();
    Ok(axum::Json(listed).into_response())
}

/// `DELETE /sessions?subject=…[&ctx=…]`: ends them all; answers
/// `{"removed": n, "ids": […]}`.
pub(crate) async fn end_all(state: &Shared, params: &Params) -> Result<Response, ApiError> {
    let (subject, context) = subject_and_context(params)?;
    let ids = state.sessions.end_all(&subject, context.as_ref()).await?;
    metrics::ended("subject", ids.len());
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Ok(axum::Json(json!({"removed": ids.len(), "ids": ids})).into_response())
}

/// `DELETE /sessions?id=…`: ends one session by its admin id; answers with
/// the session removed.
pub(crate) async fn end_one(state: &Shared, id: &str) -> Result<Response, ApiError> {
    let id: SessionRef = id
        .parse()
        .map_err(|_| ApiError::invalid_request("`id` is not a session id (`<4 hex>-<64 hex>`)"))?;
    let Some(session) = state.sessions.end_by_id(&id, None).await? else {
        return Err(ApiError::session_not_found());
    };
    metrics::ended("admin", 1);
    Ok(axum::Json(view::SessionView::new(&id, &session, None)).into_response())
}

/// The body of `PUT /sessions/subject-auth-life`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthLifeBody {
    sub: String,
    /// Seconds since the epoch; now if absent.
    auth_time: Option<Integer>,
    /// Minutes; negative is unlimited; unchanged if absent.
    auth_life: Option<Integer>,
}

/// `PUT /sessions/subject-auth-life`: records a fresh authentication of the
/// subject in all its sessions (new `auth_time`, and `auth_life` if given);
/// answers `{"updated": n, "sessions": [{"id": …, "session": …}]}`.
pub(crate) async fn auth_life(
    State(state): State<Shared>,
    uri: Uri,
    JsonBody(body): JsonBody<AuthLifeBody>,
) -> Result<Response, ApiError> {
    Params::parse(&uri)?.only(&[], "PUT /sessions/subject-auth-life")?;
    let invalid = |e: tessera_core::CoreError| ApiError::invalid_request(e.to_string());
    let subject = Subject::new(body.sub).map_err(invalid)?;
    let auth_life = body
        .auth_life
        .map(|Integer(m)| Lifetime::from_minutes("auth_life", m))
        .transpose()
        .map_err(invalid)?;
    let updated = state
        .sessions
        .set_subject_auth(
            &subject,
            body.auth_time.map(|Integer(t)| Timestamp::from_secs(t)),
            auth_life,
        )
        .await?;
    let listed: Vec<view::Listed<'_>> = updated.iter().map(view::Listed::from).collect();
    Ok(axum::Json(json!({"updated": listed.len(), "sessions": listed})).into_response())
}
