//! The extractors: [`Session`] on any route, [`SignedIn`] where a user
//! must be signed in (`Option<SignedIn>` where one may be).

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Error;
use crate::backend::Loaded;
use crate::layer::Handle;

/// The request's session, signed in or not: what a login or logout handler
/// asks for.
///
/// A login always mints a new SID and ends the session the request came
/// with, so a SID planted before the login is worth nothing after it.
#[derive(Clone)]
pub struct Session {
    handle: Arc<Handle>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// Signs `subject` in: a new session, its SID in the response's cookie.
    pub async fn login(&self, subject: &str) -> Result<SignedIn, Error> {
        self.login_with(subject, &Map::new()).await
    }

    /// [`Session::login`] with the session's first data: any value that
    /// serializes to a JSON object (a struct, a map, `serde_json::json!`),
    /// each field one key of the data; anything else is
    /// [`Error::Invalid`].
    ///
    /// ```no_run
    /// # async fn login(session: tessera_axum::Session) -> Result<(), tessera_axum::Error> {
    /// #[derive(serde::Serialize)]
    /// struct Start { locale: &'static str, cart: Vec<u32> }
    /// let user = session.login_with("alice", &Start { locale: "fr", cart: vec![] }).await?;
    /// # let _ = user; Ok(()) }
    /// ```
    pub async fn login_with(
        &self,
        subject: &str,
        data: &impl Serialize,
    ) -> Result<SignedIn, Error> {
        let data = match serde_json::to_value(data) {
            Ok(Value::Object(data)) => data,
            Ok(_) => {
                return Err(Error::Invalid(
                    "login data must serialize to a JSON object".to_owned(),
                ));
            }
            Err(e) => return Err(Error::Invalid(format!("login data: {e}"))),
        };
        let loaded = self.handle.login(subject, data).await?;
        SignedIn::new(Arc::clone(&self.handle), &loaded).ok_or(Error::NotSignedIn)
    }

    /// The signed-in user, if any (a pre-login session is nobody).
    pub async fn signed_in(&self) -> Result<Option<SignedIn>, Error> {
        Ok(self
            .handle
            .load()
            .await?
            .and_then(|loaded| SignedIn::new(Arc::clone(&self.handle), &loaded)))
    }

    /// The value under `key` in the request's session, signed in or
    /// pre-login, decoded as `T`; `None` if there is none (or no session).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        decoded(self.data().await?, key)
    }

    /// All of the request's session's data (empty without a session).
    pub async fn data(&self) -> Result<Map<String, Value>, Error> {
        Ok(self
            .handle
            .load()
            .await?
            .map(|loaded| loaded.data)
            .unwrap_or_default())
    }

    /// Stores `value` under `key`. Without a session, starts a pre-login
    /// one (its SID in the cookie) to hold it: a cart, an OAuth `state`, a
    /// return-to URL before anyone signs in. A later
    /// [`login`](Self::login) carries it into the signed-in session and
    /// ends it.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        self.modify(inserting(key, encoded(key, &value)?)).await
    }

    /// [`SignedIn::update`] on the request's session, signed in or
    /// pre-login; without one, starts a pre-login session as
    /// [`insert`](Self::insert) does.
    pub async fn update<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        change: impl FnMut(Option<T>) -> T,
    ) -> Result<T, Error> {
        self.modify(updating(key, change)).await?
    }

    /// Removes `key` from the request's session, if it has one; returns
    /// what it held.
    pub async fn remove(&self, key: &str) -> Result<Option<Value>, Error> {
        if self.handle.load().await?.is_none() {
            return Ok(None);
        }
        modify_session(&self.handle, false, |data| data.remove(key)).await
    }

    /// [`SignedIn::modify`] on the request's session, signed in or
    /// pre-login; without one, starts a pre-login session holding what
    /// `change` makes of empty data.
    pub async fn modify<R>(
        &self,
        change: impl FnMut(&mut Map<String, Value>) -> R,
    ) -> Result<R, Error> {
        modify_session(&self.handle, true, change).await
    }

    /// Ends the session, if there is one, and clears the cookie.
    pub async fn logout(&self) -> Result<(), Error> {
        self.handle.logout().await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        parts
            .extensions
            .get::<Arc<Handle>>()
            .map(|handle| Self {
                handle: Arc::clone(handle),
            })
            .ok_or(Error::MissingLayer)
    }
}

/// A signed-in user's session. As an extractor it answers `401` when
/// nobody is signed in; `Option<SignedIn>` is `None` then. Either way a
/// backend outage is `503`, never "not signed in".
///
/// Data is read from the session as this request loaded it; every change
/// ([`insert`](Self::insert), [`remove`](Self::remove),
/// [`modify`](Self::modify)) is written at once, compare-and-set, and
/// retried on a concurrent update, so no change of another request is
/// lost.
#[derive(Clone)]
pub struct SignedIn {
    handle: Arc<Handle>,
    id: String,
    subject: String,
}

impl fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn")
            .field("id", &self.id)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl SignedIn {
    /// `None` for a pre-login session: nobody is signed in.
    fn new(handle: Arc<Handle>, loaded: &Loaded) -> Option<Self> {
        Some(Self {
            handle,
            id: loaded.id.clone(),
            subject: loaded.subject.clone()?,
        })
    }

    /// Who is signed in.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The session's admin id: safe to show and log, unlike its SID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session as this request last read or wrote it.
    async fn current(&self) -> Result<Loaded, Error> {
        self.handle.load().await?.ok_or(Error::NotSignedIn)
    }

    /// The value under `key`, decoded as `T`; `None` if there is none.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        decoded(self.current().await?.data, key)
    }

    /// All of the session's data.
    pub async fn data(&self) -> Result<Map<String, Value>, Error> {
        Ok(self.current().await?.data)
    }

    /// Stores `value` under `key`.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        self.modify(inserting(key, encoded(key, &value)?)).await
    }

    /// Replaces the value under `key` with what `change` makes of it (the
    /// value decoded as `T`, `None` if there is none), compare-and-set as
    /// [`modify`](Self::modify) does; returns the value written. Safe for
    /// counters: concurrent requests never lose an update.
    ///
    /// ```no_run
    /// # async fn visit(user: tessera_axum::SignedIn) -> Result<(), tessera_axum::Error> {
    /// let visits = user.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    /// # let _ = visits; Ok(()) }
    /// ```
    pub async fn update<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        change: impl FnMut(Option<T>) -> T,
    ) -> Result<T, Error> {
        self.modify(updating(key, change)).await?
    }

    /// Removes `key`; returns what it held.
    pub async fn remove(&self, key: &str) -> Result<Option<Value>, Error> {
        self.modify(|data| data.remove(key)).await
    }

    /// Changes the data with `change` and writes the result if nobody else
    /// wrote the session in between; otherwise waits a random moment
    /// (exponential backoff with full jitter: up to 1 ms after the first
    /// conflict, doubling to at most 64 ms), reads it again and runs
    /// `change` again on what is there now, up to the layer's
    /// `modify_retries` times (then [`Error::Conflict`]). `change` may run
    /// more than once, so it should only compute from the data it is given.
    /// Returns what the last run of `change` returned.
    pub async fn modify<R>(
        &self,
        change: impl FnMut(&mut Map<String, Value>) -> R,
    ) -> Result<R, Error> {
        modify_session(&self.handle, false, change).await
    }

    /// A fresh authentication of the signed-in user (a step-up, a password
    /// typed again): like the server's `set_subject_auth` for this session,
    /// but with a new SID, so no SID from before the authentication stays
    /// valid. The data is carried over; the old session ends.
    #[doc(alias = "set_subject_auth")]
    pub async fn reauthenticate(&self) -> Result<SignedIn, Error> {
        let data = self.current().await?.data;
        let loaded = self.handle.login(&self.subject, data).await?;
        Self::new(Arc::clone(&self.handle), &loaded).ok_or(Error::NotSignedIn)
    }

    /// Ends the session and clears the cookie.
    pub async fn logout(self) -> Result<(), Error> {
        self.handle.logout().await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        <Self as OptionalFromRequestParts<S>>::from_request_parts(parts, state)
            .await?
            .ok_or(Error::NotSignedIn)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for SignedIn {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Error> {
        let session = <Session as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        session.signed_in().await
    }
}

/// The value under `key` in `data`, decoded as `T`.
fn decoded<T: DeserializeOwned>(
    mut data: Map<String, Value>,
    key: &str,
) -> Result<Option<T>, Error> {
    let Some(value) = data.remove(key) else {
        return Ok(None);
    };
    serde_json::from_value(value)
        .map(Some)
        .map_err(|source| Error::Data {
            key: key.to_owned(),
            source,
        })
}

/// `value` as the JSON stored under `key`.
fn encoded<T: Serialize>(key: &str, value: &T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|source| Error::Data {
        key: key.to_owned(),
        source,
    })
}

/// The change of an `insert`: `value` under `key` (each run of a retried
/// change puts it again).
fn inserting(key: &str, value: Value) -> impl FnMut(&mut Map<String, Value>) {
    move |data| {
        data.insert(key.to_owned(), value.clone());
    }
}

/// The change of an `update`: the value under `key` replaced with what
/// `change` makes of it; returns the value written.
fn updating<T: Serialize + DeserializeOwned>(
    key: &str,
    mut change: impl FnMut(Option<T>) -> T,
) -> impl FnMut(&mut Map<String, Value>) -> Result<T, Error> {
    move |data| {
        let old = data
            .get(key)
            .map(|v| serde_json::from_value(v.clone()))
            .transpose()
            .map_err(|source| Error::Data {
                key: key.to_owned(),
                source,
            })?;
        let new = change(old);
        data.insert(key.to_owned(), encoded(key, &new)?);
        Ok(new)
    }
}

/// The compare-and-set loop of every `modify`: `change` on the data as
/// loaded, written if nobody wrote in between, else a random wait, a
/// reload and `change` again, up to the layer's `modify_retries` times.
/// Without a session: with `start`, a pre-login session begins with what
/// `change` makes of empty data; without it, [`Error::NotSignedIn`].
async fn modify_session<R>(
    handle: &Handle,
    start: bool,
    mut change: impl FnMut(&mut Map<String, Value>) -> R,
) -> Result<R, Error> {
    let Some(mut current) = handle.load().await? else {
        if !start {
            return Err(Error::NotSignedIn);
        }
        let mut data = Map::new();
        let out = change(&mut data);
        handle.start(data).await?;
        return Ok(out);
    };
    let mut backoff = Backoff::default();
    let retries = handle.retries();
    for attempt in 0..=retries {
        let mut data = current.data.clone();
        let out = change(&mut data);
        match handle.save(current.version, data).await {
            Ok(_) => return Ok(out),
            Err(Error::Conflict) if attempt < retries => {
                // Those that lost the race wait apart before reading
                // again, so they do not collide again all at once.
                tokio::time::sleep(backoff.next_wait()).await;
                current = handle.reload().await?.ok_or(Error::NotSignedIn)?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::Conflict)
}

/// The waits between the attempts of a `modify` that lost races: full
/// jitter (a uniform wait up to a ceiling) over an exponential ceiling, 1
/// ms doubling to [`Backoff::CAP`]. The randomness only spreads
/// contenders apart, so a hasher seeded per process is enough.
#[derive(Debug, Default)]
struct Backoff {
    attempts: u32,
}

impl Backoff {
    /// The longest wait.
    const CAP: std::time::Duration = std::time::Duration::from_millis(64);

    fn next_wait(&mut self) -> std::time::Duration {
        use std::hash::{BuildHasher as _, Hasher as _};
        let ceiling = std::time::Duration::from_millis(1)
            .saturating_mul(1 << self.attempts.min(6))
            .min(Self::CAP);
        self.attempts += 1;
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(self.attempts);
        let ceiling_micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        std::time::Duration::from_micros(hasher.finish() % (ceiling_micros + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    #[test]
    fn backoff_waits_stay_under_a_doubling_ceiling_capped_at_64_ms() {
        let mut backoff = Backoff::default();
        for ceiling_ms in [1, 2, 4, 8, 16, 32, 64, 64, 64] {
            let wait = backoff.next_wait();
            assert!(
                wait <= std::time::Duration::from_millis(ceiling_ms),
                "{wait:?}"
            );
        }
    }
}
