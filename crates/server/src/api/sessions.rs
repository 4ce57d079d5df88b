//! `/sessions`: create, look up, update and end sessions.
//!
//! `GET` and `DELETE` serve two audiences on one path, as in the reference
//! API: with a `SID` header they act on the caller's own session; with
//! `?subject=` (or `?id=` for `DELETE`) they are administrative and handled
//! in [`super::subjects`]. A request giving both is refused rather than
//! guessed at.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use tessera_core::{Context, ErrorCode, Lifetime, SessionParams, Subject, Timestamp};
use tessera_store::{ReadOnlyFields, SessionChanges, SessionRef, SessionsError, StoreError, Touch};

use super::Shared;
use super::error::ApiError;
use super::extract::{self, IfMatch, Integer, JsonBody, Param, Params};
use super::{metrics, subjects, view};

/// The body of `POST /sessions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    sub: String,
    ctx: Option<String>,
    /// Seconds since the epoch.
    auth_time: Option<Integer>,
    /// Minutes; negative is unlimited.
    max_life: Option<Integer>,
    auth_life: Option<Integer>,
    max_idle: Option<Integer>,
    acr: Option<String>,
    #[serde(default)]
    amr: Vec<String>,
    #[serde(default)]
    claims: Map<String, Value>,
    #[serde(default)]
    data: Map<String, Value>,
    /// Any JSON value; sealed before it reaches the store.
    credentials: Option<view::RequestCredentials>,
}

impl CreateBody {
    fn into_params(self) -> Result<(SessionParams, Option<view::RequestCredentials>), ApiError> {
        let params = SessionParams {
            subject: Subject::new(self.sub).map_err(invalid)?,
            context: context_or_default(self.ctx)?,
            auth_time: self.auth_time.map(|Integer(t)| Timestamp::from_secs(t)),
            max_life: lifetime("max_life", self.max_life)?,
            auth_life: lifetime("auth_life", self.auth_life)?,
            max_idle: lifetime("max_idle", self.max_idle)?,
            acr: self.acr,
            amr: self.amr,
            claims: self.claims,
            data: self.data,
        };
        Ok((params, self.credentials.filter(|c| !c.is_null())))
    }
}

/// A refused value of a body, as the API answers it.
#[expect(clippy::needless_pass_by_value, reason = "the shape `map_err` takes")]
fn invalid(e: tessera_core::CoreError) -> ApiError {
    ApiError::invalid_request(e.to_string())
}

/// A body's lifetime in minutes, if given.
fn lifetime(field: &'static str, minutes: Option<Integer>) -> Result<Option<Lifetime>, ApiError> {
    minutes
        .map(|Integer(m)| Lifetime::from_minutes(field, m))
        .transpose()
        .map_err(invalid)
}

/// A body's `ctx`, `web` when not given.
fn context_or_default(ctx: Option<String>) -> Result<Context, ApiError> {
    Ok(ctx
        .map(Context::new)
        .transpose()
        .map_err(invalid)?
        .unwrap_or_default())
}

/// `POST /sessions`: starts a session and returns its SID (the only time it
/// is ever sent), its admin `id`, the session, and the sessions closed to
/// make room under the quota. With a `Pre-Login-SID` header naming a
/// pre-login session, the login carries that session's data (the body's `data` laid
/// over it) and ends it.
pub(crate) async fn create(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    Params::parse(&uri)?.only(&[], "POST /sessions")?;
    let pre_login = extract::pre_login_sid(&headers)?;
    let (params, credentials) = body.into_params()?;
    let sealed = credentials
        .as_ref()
        .map(view::RequestCredentials::seal_form);
    let new = match pre_login {
        None => state.sessions.create(params, sealed).await?,
        Some(sid) => {
            state
                .sessions
                .create_from_anonymous(sid, params, sealed)
                .await?
        }
    };
    drop(credentials);
    metrics::created(new.closed.len());
    Ok(created(&new))
}

/// The `201` answer of a create: SID, id, session and what the quota
/// closed, with the version as `ETag`.
fn created(new: &tessera_store::NewSession) -> Response {
    let body = view::Created {
        sid: new.sid.expose_secret(),
        id: new.id.to_string(),
        pre_login: new.session.is_anonymous(),
        session: &new.session,
        closed: new.closed.iter().map(ToString::to_string).collect(),
    };
    (
        StatusCode::CREATED,
        [(header::ETAG, extract::etag(new.session.version))],
        axum::Json(body),
    )
        .into_response()
}

/// The body of `POST /sessions/pre-login`: everything is optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreLoginBody {
    ctx: Option<String>,
    /// Minutes; negative is unlimited.
    max_life: Option<Integer>,
    max_idle: Option<Integer>,
    #[serde(default)]
    data: Map<String, Value>,
}

/// `POST /sessions/pre-login`: starts a pre-login session (no subject, no
/// quota, data only, short lifetimes) and returns its SID. A later
/// `POST /sessions` with this SID in the `Pre-Login-SID` header signs a
/// subject in from it.
pub(crate) async fn create_pre_login(
    State(state): State<Shared>,
    uri: Uri,
    JsonBody(body): JsonBody<PreLoginBody>,
) -> Result<Response, ApiError> {
    Params::parse(&uri)?.only(&[], "POST /sessions/pre-login")?;
    let new = state
        .sessions
        .create_anonymous(
            context_or_default(body.ctx)?,
            lifetime("max_life", body.max_life)?,
            lifetime("max_idle", body.max_idle)?,
            body.data,
        )
        .await?;
    Ok(created(&new))
}

/// `GET /sessions`: the session behind the `SID` header (touched unless
/// `skip_last_used_update=true`, its credentials only with
/// `credentials=true`), or with `?subject=` the subject's sessions.
pub(crate) async fn get(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::parse(&uri)?;
    let sid = extract::sid(&headers)?;
    if params.subject.is_some() {
        if sid.is_some() {
            return Err(both());
        }
        params.only(&[Param::Subject, Param::Ctx], "a listing by subject")?;
        return subjects::list(&state, &params).await;
    }
    params.only(
        &[Param::Ctx, Param::SkipLastUsedUpdate, Param::Credentials],
        "a lookup by SID",
    )?;
    let sid = sid.ok_or_else(ApiError::missing_sid)?;
    let context = context_param(params.ctx)?;
    let touch = if params.skip_last_used_update {
        Touch::Skip
    } else {
        Touch::Yes
    };
    let stored = state.sessions.get(sid, context.as_ref(), touch).await?;
    let credentials = if params.credentials {
        Some(match state.sessions.open_credentials(&stored) {
            Ok(Some(c)) => view::opened_form(c.expose_secret())?,
            Ok(None) => Value::Null,
            Err(e) => {
                tracing::error!(error = %e, "stored credentials could not be opened");
                return Err(ApiError::internal());
            }
        })
    } else {
        None
    };
    let body = view::SessionView::new(&stored.id, &stored.session, credentials);
    Ok((
        [(header::ETAG, extract::etag(stored.session.version))],
        axum::Json(body),
    )
        .into_response())
}

/// The body of `PUT /sessions`. `sub` and `ctx` are recognised only to be
/// refused with a clear message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    data: Option<Map<String, Value>>,
    claims: Option<Map<String, Value>>,
    /// `null` removes the `acr`; the outer `Option` is "given or not", as
    /// in [`SessionChanges::acr`].
    #[serde(default, deserialize_with = "present")]
    #[expect(
        clippy::option_option,
        reason = "absent, null and a value are three different requests"
    )]
    acr: Option<Option<String>>,
    amr: Option<Vec<String>>,
    // The session object as GET returns it may come back whole: its
    // read-only fields pass when unchanged (`null` is refused: GET never
    // sends it).
    #[serde(default, deserialize_with = "present")]
    id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    sub: Option<String>,
    #[serde(default, deserialize_with = "present")]
    ctx: Option<String>,
    /// Seconds since the epoch.
    #[serde(default, deserialize_with = "present")]
    creation_time: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    auth_time: Option<i64>,
    /// Accepted and ignored: every read moves it.
    #[serde(default, rename = "last_used", deserialize_with = "present")]
    _last_used: Option<i64>,
    /// Minutes; negative is unlimited.
    #[serde(default, deserialize_with = "present")]
    max_life: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    auth_life: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    max_idle: Option<i64>,
}

impl UpdateBody {
    /// The changes to ask for; read-only fields sent back go to
    /// [`SessionChanges::unchanged`], checked against the stored session.
    fn into_changes(self, id: &SessionRef) -> Result<SessionChanges, ApiError> {
        let changed = |field: &str| {
            ApiError::invalid_request(format!(
                "invalid {field}: is read-only and cannot be changed by an update; send it as \
                 read, or leave it out"
            ))
        };
        if self.id.is_some_and(|given| given != id.to_string()) {
            return Err(changed("id"));
        }
        // A value that is not even valid cannot be the stored one.
        let lifetime = |field, minutes: Option<i64>| {
            minutes
                .map(|m| Lifetime::from_minutes(field, m).map_err(|_| changed(field)))
                .transpose()
        };
        Ok(SessionChanges {
            data: self.data,
            claims: self.claims,
            acr: self.acr,
            amr: self.amr,
            unchanged: ReadOnlyFields {
                subject: self
                    .sub
                    .map(|s| Subject::new(s).map_err(|_| changed("sub")))
                    .transpose()?,
                context: self
                    .ctx
                    .map(|c| Context::new(c).map_err(|_| changed("ctx")))
                    .transpose()?,
                creation_time: self.creation_time.map(Timestamp::from_secs),
                auth_time: self.auth_time.map(Timestamp::from_secs),
                max_life: lifetime("max_life", self.max_life)?,
                auth_life: lifetime("auth_life", self.auth_life)?,
                max_idle: lifetime("max_idle", self.max_idle)?,
            },
        })
    }
}

/// Marks a field as present, even when its value is `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `PUT /sessions`: replaces `data`, `claims`, `acr` and `amr` of the session
/// behind the `SID` header; compare-and-set with `If-Match`. The body may be
/// the whole session object as `GET` returned it: read-only fields that are
/// unchanged pass, a changed one is refused naming it.
pub(crate) async fn update(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    let params = Params::parse(&uri)?;
    params.only(&[Param::Ctx], "PUT /sessions")?;
    let context = context_param(params.ctx)?;
    let sid = extract::sid(&headers)?.ok_or_else(ApiError::missing_sid)?;
    let id = state.sessions.resolve(sid).await?;
    let changes = body.into_changes(&id)?;
    let expected = match extract::if_match(&headers)? {
        None => None,
        Some(IfMatch::Version(v)) => Some(v),
        Some(IfMatch::NeverMatches) => return Err(precondition_failed()),
    };
    let session = match state
        .sessions
        .update_by_id(&id, context.as_ref(), expected, changes)
        .await
    {
        Ok(s) => s,
        Err(SessionsError::Store(StoreError::Conflict { .. })) if expected.is_some() => {
            return Err(precondition_failed());
        }
        Err(e) => return Err(e.into()),
    };
    let body = view::SessionView::new(&id, &session, None);
    Ok((
        [(header::ETAG, extract::etag(session.version))],
        axum::Json(body),
    )
        .into_response())
}

/// `DELETE /sessions`: ends the session behind the `SID` header (a logout),
/// or with `?id=` one session by its admin id, or with `?subject=` all of a
/// subject's sessions.
pub(crate) async fn delete(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::parse(&uri)?;
    let sid = extract::sid(&headers)?;
    let modes = [params.subject.is_some(), params.id.is_some(), sid.is_some()];
    if modes.iter().filter(|m| **m).count() > 1 {
        return Err(both());
    }
    if params.subject.is_some() {
        params.only(&[Param::Subject, Param::Ctx], "ending a subject's sessions")?;
        return subjects::end_all(&state, &params).await;
    }
    if let Some(id) = &params.id {
        params.only(&[Param::Id], "ending a session by id")?;
        return subjects::end_one(&state, id).await;
    }
    params.only(&[Param::Ctx], "a logout by SID")?;
    let context = context_param(params.ctx)?;
    let sid = sid.ok_or_else(ApiError::missing_sid)?;
    let id = state.sessions.resolve(sid).await?;
    let Some(session) = state.sessions.end_by_id(&id, context.as_ref()).await? else {
        return Err(ApiError::session_not_found());
    };
    metrics::ended("logout", 1);
    Ok(axum::Json(view::SessionView::new(&id, &session, None)).into_response())
}

/// The `ctx` query parameter, checked.
fn context_param(ctx: Option<String>) -> Result<Option<Context>, ApiError> {
    ctx.map(Context::new)
        .transpose()
        .map_err(|e| ApiError::invalid_request(e.to_string()))
}

fn both() -> ApiError {
    ApiError::invalid_request(
        "give one of a `SID` header, `subject` or `id`: they select different operations",
    )
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        ErrorCode::PreconditionFailed,
        "the session has changed since the version in `If-Match`; read it again and retry",
    )
}
