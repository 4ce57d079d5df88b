//! The tower layer: reads the session cookie of each request, hands the
//! handler a [`Handle`] through the request's extensions, and writes the
//! `Set-Cookie` the handler's login or logout asked for.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, Request, Response, header};
use cookie::SameSite;
use serde_json::{Map, Value};
use tower::{Layer, Service};

use crate::backend::{Backend, Loaded, SidText};
use crate::{CookieConfig, Error};

/// How many times [`SignedIn::modify`](crate::SignedIn::modify) retries by
/// default after losing a race with another update of the same session,
/// each after a random wait of up to 64 ms: enough for 50 concurrent
/// updates of one session on every backend (`tests/concurrency.rs`).
pub const DEFAULT_MODIFY_RETRIES: u32 = 64;

/// The context sessions of this layer live in, by default.
pub const DEFAULT_CONTEXT: &str = "web";

/// The layer's settings, shared by every request.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) cookie: CookieConfig,
    pub(crate) context: String,
    pub(crate) modify_retries: u32,
}

/// Makes Tessera sessions available to the handlers below it through the
/// [`Session`](crate::Session) and [`SignedIn`](crate::SignedIn)
/// extractors.
///
/// ```
/// use axum::{Router, routing::get};
/// use tessera_axum::{SessionLayer, SignedIn};
/// use tessera_store::prelude::*;
///
/// async fn whoami(user: SignedIn) -> String {
///     user.subject().to_owned()
/// }
///
/// let keys = MasterKeys::from_root_keys(
///     &RootKey::from_hex("a3f1c09e5b7d2846e0b9c7d5a3f1e2c4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6")?,
///     &[],
/// );
/// let sessions = Sessions::builder(MemoryStore::new(), &keys).build();
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami))
///     .layer(SessionLayer::new(sessions));
/// # Ok::<(), tessera_store::crypto::CryptoError>(())
/// ```
#[derive(Clone)]
#[must_use = "a layer does nothing until it is added to a router"]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("cookie", &self.shared.cookie)
            .field("context", &self.shared.context)
            .field("modify_retries", &self.shared.modify_retries)
            .finish_non_exhaustive()
    }
}

impl SessionLayer {
    /// A layer keeping sessions in `backend`: a
    /// [`Sessions`](tessera_store::Sessions) over any store, or (feature
    /// `remote`) a `tessera_client::Client`. Cookie and retry settings
    /// start at their defaults ([`CookieConfig::default`],
    /// [`DEFAULT_CONTEXT`], [`DEFAULT_MODIFY_RETRIES`]).
    pub fn new(backend: impl Backend) -> Self {
        Self {
            shared: Arc::new(Shared {
                backend: Arc::new(backend),
                cookie: CookieConfig::default(),
                context: DEFAULT_CONTEXT.to_owned(),
                modify_retries: DEFAULT_MODIFY_RETRIES,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Shared)) -> Self {
        change(Arc::make_mut(&mut self.shared));
        self
    }

    /// All cookie attributes at once.
    pub fn with_cookie(self, cookie: CookieConfig) -> Self {
        self.with(|s| s.cookie = cookie)
    }

    /// The cookie's name (default `__Host-tessera`).
    pub fn with_cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with(|s| s.cookie.name = name)
    }

    /// `Secure` (default on). Off is for plain-HTTP development only; the
    /// `__Host-` prefix of the name is then dropped, as browsers refuse it
    /// on a cookie that is not `Secure`.
    pub fn with_secure(self, secure: bool) -> Self {
        self.with(|s| s.cookie.secure = secure)
    }

    /// `SameSite` (default `Lax`).
    pub fn with_same_site(self, same_site: SameSite) -> Self {
        self.with(|s| s.cookie.same_site = same_site)
    }

    /// The context of this application's sessions (default `web`): a SID
    /// of another context is not signed in here.
    pub fn with_context(self, context: impl Into<String>) -> Self {
        let context = context.into();
        self.with(|s| s.context = context)
    }

    /// How many times `modify` retries after a concurrent update (default
    /// [`DEFAULT_MODIFY_RETRIES`]); past them it is [`Error::Conflict`].
    pub fn with_modify_retries(self, retries: u32) -> Self {
        self.with(|s| s.modify_retries = retries)
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`SessionLayer`] wraps around a router.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let sid = self.shared.cookie.read(request.headers());
        let handle = Arc::new(Handle {
            shared: Arc::clone(&self.shared),
            state: Mutex::new(State {
                sid,
                loaded: Cache::Unread,
                cookie: None,
            }),
        });
        request.extensions_mut().insert(Arc::clone(&handle));
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            if let Some(set_cookie) = handle.set_cookie() {
                let headers = response.headers_mut();
                headers.append(header::SET_COOKIE, set_cookie);
                // A response that sets a session cookie is never cached.
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            Ok(response)
        })
    }
}

/// One request's view of its session.
pub(crate) struct Handle {
    shared: Arc<Shared>,
    state: Mutex<State>,
}

struct State {
    /// The SID the request presented, or the one a login minted.
    sid: Option<SidText>,
    /// The session, once read.
    loaded: Cache,
    /// What the response must do with the cookie.
    cookie: Option<CookieChange>,
}

/// What the request knows of its session.
#[derive(Clone)]
enum Cache {
    /// Not read yet.
    Unread,
    /// Read (or written) by this request: `None` when there is none.
    Known(Option<Loaded>),
}

enum CookieChange {
    Set { sid: SidText, max_age: Option<i64> },
    Clear,
}

impl Handle {
    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a few fields assigned whole: still sound after a
        // panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn retries(&self) -> u32 {
        self.shared.modify_retries
    }

    /// The session, read once per request (later calls use that read).
    pub(crate) async fn load(&self) -> Result<Option<Loaded>, Error> {
        let sid = {
            let state = self.state();
            if let Cache::Known(loaded) = &state.loaded {
                return Ok(loaded.clone());
            }
            state.sid.clone()
        };
        self.read(sid).await
    }

    /// The session as it is in the backend now.
    pub(crate) async fn reload(&self) -> Result<Option<Loaded>, Error> {
        let sid = self.state().sid.clone();
        self.read(sid).await
    }

    async fn read(&self, sid: Option<SidText>) -> Result<Option<Loaded>, Error> {
        let Some(sid) = sid else {
            self.state().loaded = Cache::Known(None);
            return Ok(None);
        };
        let loaded = self.shared.backend.load(&sid, &self.shared.context).await?;
        let mut state = self.state();
        if loaded.is_none() {
            // A SID the backend does not know (ended, expired, forged):
            // the browser may forget it.
            state.cookie = Some(CookieChange::Clear);
        }
        state.loaded = Cache::Known(loaded.clone());
        Ok(loaded)
    }

    /// Starts a session with a new SID, ending the one the request came
    /// with (a new SID on every login: no session fixation).
    pub(crate) async fn login(
        &self,
        subject: &str,
        data: Map<String, Value>,
    ) -> Result<Loaded, Error> {
        let pre_login = match self.load().await? {
            Some(current) if current.subject.is_none() => self.state().sid.clone(),
            _ => None,
        };
        let carried = match pre_login {
            // The pre-login session's data goes along, and it ends.
            Some(sid) => {
                self.shared
                    .backend
                    .login_from(&sid, subject, &self.shared.context, data.clone())
                    .await?
            }
            None => None,
        };
        let (sid, loaded) = if let Some(carried) = carried {
            carried
        } else {
            self.logout().await?;
            self.shared
                .backend
                .login(subject, &self.shared.context, data)
                .await?
        };
        self.adopt(sid, loaded.clone());
        Ok(loaded)
    }

    /// Starts a pre-login session holding `data`, its SID in the cookie.
    pub(crate) async fn start(&self, data: Map<String, Value>) -> Result<Loaded, Error> {
        let (sid, loaded) = self
            .shared
            .backend
            .start(&self.shared.context, data)
            .await?;
        self.adopt(sid, loaded.clone());
        Ok(loaded)
    }

    /// Makes `sid` the request's session, and the response's cookie.
    fn adopt(&self, sid: SidText, loaded: Loaded) {
        let max_age = loaded.hard_expiry.map(seconds_until);
        let mut state = self.state();
        state.sid = Some(sid.clone());
        state.loaded = Cache::Known(Some(loaded));
        state.cookie = Some(CookieChange::Set { sid, max_age });
    }

    /// Ends the session, if any, and clears the cookie.
    pub(crate) async fn logout(&self) -> Result<(), Error> {
        let sid = self.state().sid.take();
        if let Some(sid) = sid {
            if let Err(e) = self.shared.backend.logout(&sid, &self.shared.context).await {
                // Not ended: the request still holds it.
                self.state().sid = Some(sid);
                return Err(e);
            }
            let mut state = self.state();
            state.loaded = Cache::Known(None);
            state.cookie = Some(CookieChange::Clear);
        }
        Ok(())
    }

    /// Replaces the data if the session is still at `version`.
    pub(crate) async fn save(
        &self,
        version: u64,
        data: Map<String, Value>,
    ) -> Result<Loaded, Error> {
        let sid = self.state().sid.clone().ok_or(Error::NotSignedIn)?;
        let saved = self
            .shared
            .backend
            .save(&sid, &self.shared.context, version, data)
            .await?;
        self.state().loaded = Cache::Known(Some(saved.clone()));
        Ok(saved)
    }

    /// The `Set-Cookie` header the response needs, if any.
    fn set_cookie(&self) -> Option<HeaderValue> {
        let cookie = &self.shared.cookie;
        match self.state().cookie.take()? {
            CookieChange::Set { sid, max_age } => cookie.set(&sid, max_age),
            CookieChange::Clear => cookie.clear(),
        }
    }
}

/// Seconds from now to `at` (seconds since the epoch), at least 0.
fn seconds_until(at: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    at.saturating_sub(now).max(0)
}
