//! A typed client for the web API of the `tessera` session server.
//!
//! Each method is one API call, with the request and answer bodies as
//! typed values ([`NewSession`], [`Fetched`], …) and every API error as a
//! [`ClientError`] that says whether retrying may help
//! ([`ClientError::is_unavailable`]) or an update lost a race
//! ([`ClientError::is_conflict`]); the API's error code is an [`ErrorCode`]
//! ([`ClientError::error_code`]). A `404` for a SID is `Ok(None)`, not an
//! error: the session is simply not there.
//!
//! ```no_run
//! use tessera_client::{Client, NewSession};
//!
//! # async fn run() -> Result<(), tessera_client::ClientError> {
//! let client = Client::new("https://sessions.internal:8080", "the API token")?;
//! let login = client.create(&NewSession::of("alice")).await?;
//! let read = client.get(&login.sid, None).await?.expect("just created");
//! assert_eq!(read.session.sub, "alice");
//! client.end(&login.sid, None).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The API token is sent as `Authorization: Bearer` on every call and
//! marked sensitive, so reqwest never logs it; neither it nor a SID appears
//! in this crate's `Debug` output or errors.

mod error;
mod model;

use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, ETAG, HeaderValue, IF_MATCH, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

pub use error::ClientError;
pub use model::{
    AuthUpdated, Changes, Created, Ended, Fetched, Listed, NewPreLogin, NewSession, Purged,
    Session, Sid, SubjectAuth,
};
/// The API's error codes, as [`ClientError::error_code`] reads them.
pub use tessera_core::ErrorCode;

use model::{ErrorBody, FetchedBody};

/// The base path of the session routes.
const BASE_PATH: &str = "/session-store/rest/v2";

/// How long a call may take by default, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one `tessera` server (or a load balancer in front of
/// several). Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    authorization: HeaderValue,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the server at `base_url` (`https://host:port`, no path)
    /// presenting `token`, with a [`DEFAULT_TIMEOUT`] per call.
    pub fn new(base_url: &str, token: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .build()
            .map_err(|_| ClientError::Config {
                reason: "the HTTP client cannot be built",
            })?;
        Self::with_http_client(http, base_url, token)
    }

    /// [`Client::new`] with an HTTP client of your own (timeouts, proxies,
    /// a private CA).
    pub fn with_http_client(
        http: reqwest::Client,
        base_url: &str,
        token: &str,
    ) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Config {
                reason: "the base URL must start with http:// or https://",
            });
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| ClientError::Config {
                reason: "the API token contains characters a header cannot carry",
            })?;
        authorization.set_sensitive(true);
        Ok(Self {
            http,
            base: base.to_owned(),
            authorization,
        })
    }

    /// `POST /sessions`: starts a session.
    pub async fn create(&self, new: &NewSession) -> Result<Created, ClientError> {
        let response = self
            .send(self.call(Method::POST, "/sessions").json(new))
            .await?;
        json(response).await
    }

    /// `POST /sessions/pre-login`: starts a pre-login session (no subject,
    /// no quota, short lifetimes), for a cart, an OAuth `state` or a
    /// return-to URL before anyone signs in.
    pub async fn create_pre_login(&self, new: &NewPreLogin) -> Result<Created, ClientError> {
        let response = self
            .send(self.call(Method::POST, "/sessions/pre-login").json(new))
            .await?;
        json(response).await
    }

    /// `POST /sessions` with the pre-login session's SID: signs `new.sub`
    /// in under a new SID, carrying the pre-login session's data (with
    /// `new.data` laid over it) and ending it. A pre-login session that is
    /// gone (or of another context) is an error with code `not_found`.
    pub async fn create_from_pre_login(
        &self,
        pre_login: &Sid,
        new: &NewSession,
    ) -> Result<Created, ClientError> {
        let request = self
            .call(Method::POST, "/sessions")
            .header("Pre-Login-SID", sid_header(pre_login)?)
            .json(new);
        json(self.send(request).await?).await
    }

    /// `GET /sessions`: the live session behind `sid`, touched (its
    /// `last_used` moves to now), or `None`. With `context`, a session of
    /// another context is `None` and is not touched.
    pub async fn get(
        &self,
        sid: &Sid,
        context: Option<&str>,
    ) -> Result<Option<Fetched>, ClientError> {
        self.read(sid, context, &[]).await
    }

    /// [`Client::get`] without counting the read as a use.
    pub async fn peek(
        &self,
        sid: &Sid,
        context: Option<&str>,
    ) -> Result<Option<Fetched>, ClientError> {
        self.read(sid, context, &[("skip_last_used_update", "true")])
            .await
    }

    /// [`Client::get`] with the session's credentials opened.
    pub async fn get_with_credentials(
        &self,
        sid: &Sid,
        context: Option<&str>,
    ) -> Result<Option<Fetched>, ClientError> {
        self.read(sid, context, &[("credentials", "true")]).await
    }

    async fn read(
        &self,
        sid: &Sid,
        context: Option<&str>,
        query: &[(&str, &str)],
    ) -> Result<Option<Fetched>, ClientError> {
        let request = with_context(self.call(Method::GET, "/sessions"), context)
            .query(query)
            .header("SID", sid_header(sid)?);
        match self.send(request).await {
            Ok(response) => fetched(response).await.map(Some),
            Err(e) if e.error_code() == Some(ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT /sessions`: replaces what `changes` gives. With
    /// `expected_version`, only if the session is still at that version
    /// (else an error with [`ClientError::is_conflict`]).
    pub async fn update(
        &self,
        sid: &Sid,
        context: Option<&str>,
        expected_version: Option<u64>,
        changes: &Changes,
    ) -> Result<Fetched, ClientError> {
        let mut request = with_context(self.call(Method::PUT, "/sessions"), context)
            .header("SID", sid_header(sid)?)
            .json(changes);
        if let Some(version) = expected_version {
            request = request.header(IF_MATCH, format!("\"{version}\""));
        }
        fetched(self.send(request).await?).await
    }

    /// `DELETE /sessions` with the SID: a logout. Returns the session ended,
    /// or `None` if there was no live one (in `context`, if given).
    pub async fn end(
        &self,
        sid: &Sid,
        context: Option<&str>,
    ) -> Result<Option<Session>, ClientError> {
        let request = with_context(self.call(Method::DELETE, "/sessions"), context)
            .header("SID", sid_header(sid)?);
        self.ended(request).await
    }

    /// `DELETE /sessions?id=`: ends one session by its admin id.
    pub async fn end_by_id(&self, id: &str) -> Result<Option<Session>, ClientError> {
        self.ended(self.call(Method::DELETE, "/sessions").query(&[("id", id)]))
            .await
    }

    async fn ended(&self, request: RequestBuilder) -> Result<Option<Session>, ClientError> {
        match self.send(request).await {
            Ok(response) => Ok(Some(json::<FetchedBody>(response).await?.session)),
            Err(e) if e.error_code() == Some(ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /sessions?subject=`: ends every session of `subject` (in
    /// `context`, if given).
    pub async fn end_all(
        &self,
        subject: &str,
        context: Option<&str>,
    ) -> Result<Ended, ClientError> {
        let request = with_context(self.call(Method::DELETE, "/sessions"), context)
            .query(&[("subject", subject)]);
        json(self.send(request).await?).await
    }

    /// `GET /sessions?subject=`: the live sessions of `subject`, oldest
    /// first.
    pub async fn list(
        &self,
        subject: &str,
        context: Option<&str>,
    ) -> Result<Vec<Listed>, ClientError> {
        let request = with_context(self.call(Method::GET, "/sessions"), context)
            .query(&[("subject", subject)]);
        json(self.send(request).await?).await
    }

    /// `PUT /sessions/subject-auth-life`: records a fresh authentication
    /// in every session of the subject.
    pub async fn set_subject_auth(&self, auth: &SubjectAuth) -> Result<AuthUpdated, ClientError> {
        let request = self
            .call(Method::PUT, "/sessions/subject-auth-life")
            .json(auth);
        json(self.send(request).await?).await
    }

    /// `POST /purge`: removes expired sessions and stale index entries.
    pub async fn purge(&self) -> Result<Purged, ClientError> {
        json(self.send(self.call(Method::POST, "/purge")).await?).await
    }

    /// `GET /readyz`: whether the server and its backend answer.
    pub async fn ready(&self) -> Result<(), ClientError> {
        let request = self.http.get(format!("{}/readyz", self.base));
        self.send(request).await.map(drop)
    }

    fn call(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{BASE_PATH}{path}", self.base))
            .header(AUTHORIZATION, self.authorization.clone())
    }

    /// Sends `request`; a non-2xx answer becomes [`ClientError::Api`].
    async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        let response = request.send().await.map_err(ClientError::Unreachable)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(ClientError::Unreachable)?;
        let (code, description) = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(e) => (e.error, e.error_description),
            Err(_) => (status_code(status), String::new()),
        };
        Err(ClientError::Api {
            status: status.as_u16(),
            code,
            description,
            retry_after,
        })
    }
}

/// A code for an error answer without the API's error body (a proxy's).
fn status_code(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace(' ', "_")
}

fn with_context(request: RequestBuilder, context: Option<&str>) -> RequestBuilder {
    match context {
        Some(ctx) => request.query(&[("ctx", ctx)]),
        None => request,
    }
}

fn sid_header(sid: &Sid) -> Result<HeaderValue, ClientError> {
    let mut value =
        HeaderValue::from_str(sid.expose_secret()).map_err(|_| ClientError::Config {
            reason: "the SID contains characters a header cannot carry",
        })?;
    value.set_sensitive(true);
    Ok(value)
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T, ClientError> {
    let body = response.bytes().await.map_err(ClientError::Unreachable)?;
    // serde's message can quote a value (a SID, credentials): only say where.
    serde_json::from_slice(&body).map_err(|e| ClientError::Unexpected {
        reason: format!(
            "not the expected JSON (line {}, column {})",
            e.line(),
            e.column()
        ),
    })
}

async fn fetched(response: Response) -> Result<Fetched, ClientError> {
    let version = response
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_matches('"').parse().ok())
        .ok_or_else(|| ClientError::Unexpected {
            reason: "no version in the ETag".into(),
        })?;
    let body: FetchedBody = json(response).await?;
    Ok(Fetched {
        id: body.id,
        session: body.session,
        version,
        credentials: body.credentials,
    })
}
