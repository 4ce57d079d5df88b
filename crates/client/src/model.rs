//! The web API's request and answer bodies, as the API reference documents
//! them: times in seconds since the Unix epoch, lifetimes in minutes with
//! `-1` for unlimited.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// A session ID: the secret a client presents to be the session. Its
/// `Debug` form shows nothing of it; it is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Sid(Zeroizing<String>);

impl Sid {
    /// A SID as a client presented it (from a cookie, a header).
    pub fn new(sid: impl Into<String>) -> Self {
        Self(Zeroizing::new(sid.into()))
    }

    /// The SID itself, to put in a cookie. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sid(redacted)")
    }
}

impl<'de> Deserialize<'de> for Sid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// What `POST /sessions` starts: only `sub` is required; every `None` or
/// empty field takes the server's default.
#[derive(Clone, Default, Serialize)]
pub struct NewSession {
    /// The subject (user).
    pub sub: String,
    /// The context (the server's default is `web`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<String>,
    /// When the subject authenticated, in seconds (default: now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Minutes; `-1` is unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_life: Option<i64>,
    /// Minutes; `-1` is unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_life: Option<i64>,
    /// Minutes; `-1` is unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_idle: Option<i64>,
    /// Authentication context class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Free claims.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub claims: Map<String, Value>,
    /// Free application data.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
    /// Credentials to seal into the session (any JSON value). Secret: the
    /// `Debug` form only says whether there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Value>,
}

impl NewSession {
    /// A session of `subject` with every other field at the server's
    /// default.
    pub fn of(subject: impl Into<String>) -> Self {
        Self {
            sub: subject.into(),
            ..Self::default()
        }
    }
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("sub", &self.sub)
            .field("ctx", &self.ctx)
            .field("auth_time", &self.auth_time)
            .field("max_life", &self.max_life)
            .field("auth_life", &self.auth_life)
            .field("max_idle", &self.max_idle)
            .field("acr", &self.acr)
            .field("amr", &self.amr)
            .field("claims", &self.claims)
            .field("data", &self.data)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "redacted"),
            )
            .finish()
    }
}

/// What `POST /sessions/pre-login` starts: every field is optional.
#[derive(Clone, Default, Serialize)]
pub struct NewPreLogin {
    /// The context (the server's default is `web`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<String>,
    /// Minutes; `-1` is unlimited (default `preLoginMaxLifetime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_life: Option<i64>,
    /// Minutes; `-1` is unlimited (default `preLoginMaxIdleTime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_idle: Option<i64>,
    /// Free application data.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
}

impl fmt::Debug for NewPreLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPreLogin")
            .field("ctx", &self.ctx)
            .field("max_life", &self.max_life)
            .field("max_idle", &self.max_idle)
            .field("data", &self.data)
            .finish()
    }
}

/// A session as the API shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Session {
    /// The subject.
    pub sub: String,
    /// The context.
    pub ctx: String,
    /// Seconds since the epoch.
    pub creation_time: i64,
    /// Seconds since the epoch.
    pub auth_time: i64,
    /// Seconds since the epoch.
    pub last_used: i64,
    /// Minutes; `-1` is unlimited.
    pub max_life: i64,
    /// Minutes; `-1` is unlimited.
    pub auth_life: i64,
    /// Minutes; `-1` is unlimited.
    pub max_idle: i64,
    /// Authentication context class.
    #[serde(default)]
    pub acr: Option<String>,
    /// Authentication methods.
    #[serde(default)]
    pub amr: Vec<String>,
    /// Free claims.
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// Free application data.
    #[serde(default)]
    pub data: Map<String, Value>,
}

impl Session {
    /// Whether this is a pre-login session (nobody signed in: `sub` is
    /// empty).
    pub fn is_pre_login(&self) -> bool {
        self.sub.is_empty()
    }

    /// When the session ends at the latest whatever its use, in seconds:
    /// the earlier of `creation_time + max_life` and `auth_time +
    /// auth_life`; `None` if both are unlimited. (Idleness can end it
    /// sooner.)
    pub fn hard_expiry(&self) -> Option<i64> {
        let end = |from: i64, minutes: i64| (minutes >= 0).then(|| from + minutes * 60);
        match (
            end(self.creation_time, self.max_life),
            end(self.auth_time, self.auth_life),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A session read by its SID: the admin id, the session, its version and,
/// if asked for, its credentials.
#[derive(Clone, PartialEq)]
pub struct Fetched {
    /// The admin id (safe to show; not a SID).
    pub id: String,
    /// The session.
    pub session: Session,
    /// The version (the `ETag`), for a compare-and-set update.
    pub version: u64,
    /// The credentials given at creation, when asked for (`Value::Null` if
    /// there were none). Secret.
    pub credentials: Option<Value>,
}

impl fmt::Debug for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetched")
            .field("id", &self.id)
            .field("session", &self.session)
            .field("version", &self.version)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "redacted"),
            )
            .finish()
    }
}

/// The body of a `GET /sessions` answer.
#[derive(Deserialize)]
pub(crate) struct FetchedBody {
    pub(crate) id: String,
    #[serde(flatten)]
    pub(crate) session: Session,
    #[serde(default)]
    pub(crate) credentials: Option<Value>,
}

/// A session just started.
#[derive(Debug, Clone, Deserialize)]
pub struct Created {
    /// The SID to hand to the user agent.
    pub sid: Sid,
    /// The admin id.
    pub id: String,
    /// The session as stored.
    pub session: Session,
    /// Admin ids of the sessions closed to make room (`CLOSE_OLD_SESSION`).
    pub closed: Vec<String>,
}

/// One session of a subject's listing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Listed {
    /// The admin id.
    pub id: String,
    /// The session.
    pub session: Session,
}

/// What `PUT /sessions` replaces; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Changes {
    /// New `data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    /// New `claims`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<Map<String, Value>>,
    /// New `acr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// New `amr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
}

/// What `DELETE /sessions?subject=` ended.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Ended {
    /// How many sessions.
    pub removed: u64,
    /// Their admin ids.
    pub ids: Vec<String>,
}

/// `PUT /sessions/subject-auth-life`: a fresh authentication of `sub`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubjectAuth {
    /// The subject.
    pub sub: String,
    /// When it authenticated, in seconds (default: now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// A new `auth_life` in minutes, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_life: Option<i64>,
}

/// The answer of `PUT /sessions/subject-auth-life`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuthUpdated {
    /// How many sessions were updated.
    pub updated: u64,
    /// The sessions as updated.
    pub sessions: Vec<Listed>,
}

/// The answer of `POST /purge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Purged {
    /// Expired sessions removed.
    pub sessions: u64,
    /// Stale subject index entries removed.
    pub index_entries: u64,
}

/// The error body every API error has.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) error_description: String,
}
