//! What the layer needs from wherever sessions are kept, and the in-process
//! implementation over [`Sessions`] (any `SessionStore`).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tessera_store::core::{Context, SessionParams, Subject};
use tessera_store::{NewSession, SessionChanges, Sessions, SessionsError, StoreError, Touch};
use zeroize::Zeroizing;

use crate::Error;

/// A session as the layer holds it between calls.
#[derive(Clone, PartialEq)]
pub struct Loaded {
    /// The admin id (safe to show and log; not a SID).
    pub id: String,
    /// The signed-in subject; `None` for a pre-login session (nobody has
    /// signed in yet).
    pub subject: Option<String>,
    /// The version, for the next compare-and-set.
    pub version: u64,
    /// The application's data.
    pub data: Map<String, Value>,
    /// When the session ends at the latest (seconds since the epoch), if
    /// ever: the cookie's `Max-Age` is counted to it.
    pub hard_expiry: Option<i64>,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("id", &self.id)
            .field("subject", &self.subject)
            .field("version", &self.version)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("hard_expiry", &self.hard_expiry)
            .finish()
    }
}

/// A SID as the layer carries it: wiped on drop, and shown by `Debug` as
/// `SidText(redacted)`. Dereferences to the SID itself; never log that.
#[derive(Clone, PartialEq, Eq)]
pub struct SidText(Zeroizing<String>);

impl SidText {
    /// Wraps a SID.
    pub fn new(sid: impl Into<String>) -> Self {
        Self(Zeroizing::new(sid.into()))
    }
}

impl std::ops::Deref for SidText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SidText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SidText(redacted)")
    }
}

/// Where the layer keeps sessions: [`Sessions`] in process (over any
/// store), or a remote `tessera` server through `tessera_client::Client`
/// (feature `remote`).
///
/// `context` is the layer's context (`web` by default): a SID of another
/// context is no session here.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Starts a session of `subject` holding `data`; returns its new SID.
    async fn login(
        &self,
        subject: &str,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<(SidText, Loaded), Error>;

    /// Starts a pre-login session (no subject, no quota, short lifetimes)
    /// holding `data`; returns its new SID.
    async fn start(
        &self,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<(SidText, Loaded), Error>;

    /// Signs `subject` in from the pre-login session behind `pre_login`: a
    /// new session and SID holding its data with `data` laid over it; the
    /// pre-login session ends. `None` when that session is gone (ended,
    /// expired, consumed by another login): nothing was done.
    async fn login_from(
        &self,
        pre_login: &str,
        subject: &str,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<Option<(SidText, Loaded)>, Error>;

    /// The live session behind `sid`, touched; `None` if there is none (an
    /// unknown, forged or expired SID, or one of another context).
    async fn load(&self, sid: &str, context: &str) -> Result<Option<Loaded>, Error>;

    /// Replaces the session's data if it is still at `version`;
    /// [`Error::Conflict`] if it is not, [`Error::NotSignedIn`] if it
    /// ended.
    async fn save(
        &self,
        sid: &str,
        context: &str,
        version: u64,
        data: Map<String, Value>,
    ) -> Result<Loaded, Error>;

    /// Ends the session behind `sid`, if there is one.
    async fn logout(&self, sid: &str, context: &str) -> Result<(), Error>;
}

#[async_trait]
impl<B: Backend + ?Sized> Backend for Arc<B> {
    async fn login(
        &self,
        subject: &str,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<(SidText, Loaded), Error> {
        (**self).login(subject, context, data).await
    }

    async fn start(
        &self,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<(SidText, Loaded), Error> {
        (**self).start(context, data).await
    }

    async fn login_from(
        &self,
        pre_login: &str,
        subject: &str,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<Option<(SidText, Loaded)>, Error> {
        (**self).login_from(pre_login, subject, context, data).await
    }

    async fn load(&self, sid: &str, context: &str) -> Result<Option<Loaded>, Error> {
        (**self).load(sid, context).await
    }

    async fn save(
        &self,
        sid: &str,
        context: &str,
        version: u64,
        data: Map<String, Value>,
    ) -> Result<Loaded, Error> {
        (**self).save(sid, context, version, data).await
    }

    async fn logout(&self, sid: &str, context: &str) -> Result<(), Error> {
        (**self).logout(sid, context).await
    }
}

#[async_trait]
impl Backend for Sessions {
    async fn login(
        &self,
        subject: &str,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<(SidText, Loaded), Error> {
        let created = self
            .create(login_params(subject, context, data)?, None)
            .await
            .map_err(error)?;
        Ok(started(&created))
    }

    async fn start(
        &self,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<(SidText, Loaded), Error> {
        let created = self
            .create_anonymous(context_of(context)?, None, None, data)
            .await
            .map_err(error)?;
        Ok(started(&created))
    }

    async fn login_from(
        &self,
        pre_login: &str,
        subject: &str,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<Option<(SidText, Loaded)>, Error> {
        let params = login_params(subject, context, data)?;
        let created = live(self.create_from_anonymous(pre_login, params, None).await)?;
        Ok(created.as_ref().map(started))
    }

    async fn load(&self, sid: &str, context: &str) -> Result<Option<Loaded>, Error> {
        let found = live(self.get(sid, Some(&context_of(context)?), Touch::Yes).await)?;
        Ok(found.map(|stored| loaded(&stored.id, &stored.session)))
    }

    async fn save(
        &self,
        sid: &str,
        context: &str,
        version: u64,
        data: Map<String, Value>,
    ) -> Result<Loaded, Error> {
        let changes = SessionChanges {
            data: Some(data),
            ..SessionChanges::default()
        };
        // Resolved here rather than in `update`, for the id of the answer.
        let id = live(self.resolve(sid).await)?.ok_or(Error::NotSignedIn)?;
        let updated = self
            .update_by_id(&id, Some(&context_of(context)?), Some(version), changes)
            .await;
        let session = live(updated)?.ok_or(Error::NotSignedIn)?;
        Ok(loaded(&id, &session))
    }

    async fn logout(&self, sid: &str, context: &str) -> Result<(), Error> {
        live(self.end(sid, Some(&context_of(context)?)).await).map(drop)
    }
}

/// What a login of `subject` in `context` holding `data` asks for.
fn login_params(
    subject: &str,
    context: &str,
    data: Map<String, Value>,
) -> Result<SessionParams, Error> {
    let mut params =
        SessionParams::new(Subject::new(subject).map_err(|e| Error::Invalid(e.to_string()))?);
    params.context = context_of(context)?;
    params.data = data;
    Ok(params)
}

/// A session just started: its SID and the session as the layer holds it.
fn started(created: &NewSession) -> (SidText, Loaded) {
    (
        SidText::new(created.sid.expose_secret()),
        loaded(&created.id, &created.session),
    )
}

fn context_of(context: &str) -> Result<Context, Error> {
    Context::new(context).map_err(|e| Error::Invalid(e.to_string()))
}

fn loaded(id: &tessera_store::SessionRef, session: &tessera_store::core::Session) -> Loaded {
    Loaded {
        id: id.to_string(),
        subject: (!session.is_anonymous()).then(|| session.subject.as_str().to_owned()),
        version: session.version,
        data: session.data.clone(),
        hard_expiry: session
            .hard_expiry()
            .at()
            .map(tessera_store::core::Timestamp::as_secs),
    }
}

/// `None` for an error that means "no live session here" (a forged or
/// unknown SID, another context, an ended or expired session) rather than
/// a failure; every other error mapped to the layer's.
fn live<T>(result: Result<T, SessionsError>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(
            SessionsError::InvalidSid(_)
            | SessionsError::WrongContext
            | SessionsError::Store(StoreError::NotFound | StoreError::Expired),
        ) => Ok(None),
        Err(e) => Err(error(e)),
    }
}

fn error(e: SessionsError) -> Error {
    match e {
        SessionsError::Store(StoreError::Conflict { .. }) => Error::Conflict,
        SessionsError::Store(StoreError::QuotaExhausted { .. }) => Error::QuotaExhausted,
        SessionsError::Store(e @ (StoreError::Invalid(_) | StoreError::TooLarge { .. })) => {
            Error::Invalid(e.to_string())
        }
        // Written by a newer Tessera sharing the backend: left as it is,
        // and an upgraded server can answer, so it is "try again".
        e @ SessionsError::Store(StoreError::UnsupportedFormat { .. }) => Error::unavailable(e),
        e if e.is_unavailable() => Error::unavailable(e),
        e => Error::Backend(e.into()),
    }
}
