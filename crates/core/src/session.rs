//! The session model and its JSON form.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Ceilings, CoreError, KeyGeneration, Lifetime, Policy, Timestamp};

/// The user a session belongs to (`sub`): 1 to [`Subject::MAX_LEN`] bytes of
/// UTF-8 without control characters; or nobody yet, for a pre-login
/// session ([`Subject::anonymous`]).
///
/// The anonymous subject is the empty text, which [`Subject::new`] refuses:
/// no login can name it. Stored records carry it as `""`; the serde form
/// accepts `""` as the anonymous subject so that stores read their own
/// records back, and every entry point of a login
/// ([`Sessions::create`](../tessera_store/struct.Sessions.html)) refuses it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subject(String);

impl Subject {
    /// The longest subject accepted, in bytes. Subjects are user names,
    /// e-mail addresses or opaque IDs; anything longer is hostile input.
    pub const MAX_LEN: usize = 1024;

    /// Validates a subject.
    pub fn new(value: impl Into<String>) -> Result<Self, CoreError> {
        let value = value.into();
        if value.is_empty() {
            return Err(CoreError::invalid("sub", "must not be empty"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(CoreError::invalid(
                "sub",
                format!(
                    "is {} bytes long, the maximum is {}",
                    value.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                "sub",
                "must not contain control characters",
            ));
        }
        Ok(Self(value))
    }

    /// The subject of a pre-login session: nobody has signed in yet.
    pub const fn anonymous() -> Self {
        Self(String::new())
    }

    /// Whether this is the subject of a pre-login session.
    pub fn is_anonymous(&self) -> bool {
        self.0.is_empty()
    }

    /// The subject as text (empty for [`Subject::anonymous`]).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Subject {
    type Error = CoreError;
    fn try_from(value: String) -> Result<Self, CoreError> {
        if value.is_empty() {
            return Ok(Self::anonymous());
        }
        Self::new(value)
    }
}

impl From<Subject> for String {
    fn from(s: Subject) -> Self {
        s.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The context a session lives in (`ctx`), such as `web` (the default) or
/// `mobile`: 1 to 64 characters from `A-Z a-z 0-9 . _ : -`.
///
/// A SID is only valid in its own context; all contexts of a subject share
/// one quota.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Context(String);

impl Context {
    /// The longest context name accepted.
    pub const MAX_LEN: usize = 64;
    /// The default context's name.
    pub const WEB: &'static str = "web";

    /// Validates a context name.
    pub fn new(value: impl Into<String>) -> Result<Self, CoreError> {
        let value = value.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if value.is_empty() || value.len() > Self::MAX_LEN || !value.chars().all(allowed) {
            return Err(CoreError::invalid(
                "ctx",
                "must be 1 to 64 characters from A-Z a-z 0-9 . _ : -",
            ));
        }
        Ok(Self(value))
    }

    /// The context name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Context {
    fn default() -> Self {
        Self(Self::WEB.to_owned())
    }
}

impl TryFrom<String> for Context {
    type Error = CoreError;
    fn try_from(value: String) -> Result<Self, CoreError> {
        Self::new(value)
    }
}

impl From<Context> for String {
    fn from(c: Context) -> Self {
        c.0
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sealed (encrypted and authenticated) credentials, opaque at this layer.
///
/// `tessera-crypto` produces and opens these bytes; the model only carries
/// them. They are never part of the session's JSON form.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBlob(Vec<u8>);

impl SealedBlob {
    /// Wraps sealed bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The sealed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedBlob({} bytes)", self.0.len())
    }
}

/// The MAC a stored record carries, opaque at this layer.
///
/// `tessera-store` makes and checks it (with `tessera-crypto`'s record
/// keys) over the record's content and the key it is stored under; the
/// model only carries it between a store and that check. It is never part
/// of the session's JSON form.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordMac(Vec<u8>);

impl RecordMac {
    /// Wraps a MAC's bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The MAC's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for RecordMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordMac({} bytes)", self.0.len())
    }
}

/// A session.
///
/// Times are [`Timestamp`]s (milliseconds). The serde form is the reference
/// session store's JSON: `sub`, `ctx`, `creation_time`, `auth_time`,
/// `last_used` in whole **seconds** since the epoch, `max_life`, `auth_life`,
/// `max_idle` in minutes (`-1` unlimited), `acr`, `amr`, `claims`, `data`.
/// Sub-second precision is dropped in JSON; `credentials` and `version` are
/// not part of it (stores keep them in their own record formats).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The subject (user) of the session.
    #[serde(rename = "sub")]
    pub subject: Subject,
    /// The context the session is valid in.
    #[serde(rename = "ctx", default)]
    pub context: Context,
    /// When the session was created.
    #[serde(with = "seconds")]
    pub creation_time: Timestamp,
    /// When the subject last authenticated.
    #[serde(with = "seconds")]
    pub auth_time: Timestamp,
    /// When the session was last used.
    #[serde(with = "seconds")]
    pub last_used: Timestamp,
    /// Lifetime from creation.
    pub max_life: Lifetime,
    /// Lifetime from authentication.
    pub auth_life: Lifetime,
    /// Lifetime from last use.
    pub max_idle: Lifetime,
    /// Authentication context class reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Claims about the subject, free JSON.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub claims: Map<String, Value>,
    /// Application data, free JSON.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
    /// Sealed credentials, if any.
    #[serde(skip)]
    pub credentials: Option<SealedBlob>,
    /// Compare-and-set version; starts at 1 and grows with every update.
    #[serde(skip, default = "first_version")]
    pub version: u64,
    /// The key generation that signed the session's SID, when known: set
    /// when the SID is minted, `None` for sessions imported under a SID of
    /// another system or stored before it was recorded. Decides whether
    /// the session still holds a quota slot ([`crate::Signers`]).
    #[serde(skip)]
    pub signer: Option<KeyGeneration>,
    /// The MAC of the stored record this session was read from, or is to
    /// be written as (`None`: a record written before records were signed,
    /// or a session not yet signed).
    #[serde(skip)]
    pub record_mac: Option<RecordMac>,
}

/// What a login asks for: everything but the times, which the store sets.
///
/// Unset lifetimes take the [`Policy`] defaults; an unset `auth_time` is the
/// creation time.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionParams {
    /// The subject signing in.
    pub subject: Subject,
    /// The context; `web` by default.
    pub context: Context,
    /// When the subject authenticated, if before now.
    pub auth_time: Option<Timestamp>,
    /// Per-session `max_life`.
    pub max_life: Option<Lifetime>,
    /// Per-session `auth_life`.
    pub auth_life: Option<Lifetime>,
    /// Per-session `max_idle`.
    pub max_idle: Option<Lifetime>,
    /// Authentication context class reference.
    pub acr: Option<String>,
    /// Authentication methods references.
    pub amr: Vec<String>,
    /// Claims.
    pub claims: Map<String, Value>,
    /// Application data.
    pub data: Map<String, Value>,
}

impl SessionParams {
    /// A login of `subject` in the default context with policy lifetimes.
    pub fn new(subject: Subject) -> Self {
        Self {
            subject,
            context: Context::default(),
            auth_time: None,
            max_life: None,
            auth_life: None,
            max_idle: None,
            acr: None,
            amr: Vec::new(),
            claims: Map::new(),
            data: Map::new(),
        }
    }
}

impl Session {
    /// Starts a session at `now` from a login.
    ///
    /// Refuses an `auth_time` in the future, and a session that would
    /// already be expired at `now` (an `auth_time` older than `auth_life`).
    pub fn start(
        params: SessionParams,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Self, CoreError> {
        let auth_time = params.auth_time.unwrap_or(now);
        if auth_time > now {
            return Err(CoreError::invalid("auth_time", "is in the future"));
        }
        let session = Self {
            subject: params.subject,
            context: params.context,
            creation_time: now,
            auth_time,
            last_used: now,
            max_life: params.max_life.unwrap_or(policy.max_lifetime),
            auth_life: params.auth_life.unwrap_or(policy.auth_lifetime),
            max_idle: params.max_idle.unwrap_or(policy.max_idle_time),
            acr: params.acr,
            amr: params.amr,
            claims: params.claims,
            data: params.data,
            credentials: None,
            version: 1,
            signer: None,
            record_mac: None,
        };
        policy
            .ceilings
            .check_all(session.max_life, session.auth_life, session.max_idle)?;
        if session.is_expired(now) {
            return Err(CoreError::invalid(
                "auth_time",
                "is older than auth_life: the session would be expired at creation",
            ));
        }
        Ok(session)
    }
}

impl Session {
    /// Starts a pre-login session at `now`: no subject, no quota, `data`
    /// only, and the policy's pre-login lifetimes ([`PreLogin`]) unless
    /// `max_life` or `max_idle` is given (within the same ceilings). It
    /// carries no authentication: `auth_life` is unlimited and `auth_time`
    /// is the creation time.
    ///
    /// [`PreLogin`]: crate::PreLogin
    pub fn start_anonymous(
        context: Context,
        max_life: Option<Lifetime>,
        max_idle: Option<Lifetime>,
        data: Map<String, Value>,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Self, CoreError> {
        let session = Self {
            subject: Subject::anonymous(),
            context,
            creation_time: now,
            auth_time: now,
            last_used: now,
            max_life: max_life.unwrap_or(policy.pre_login.max_life),
            auth_life: Lifetime::Unlimited,
            max_idle: max_idle.unwrap_or(policy.pre_login.max_idle),
            acr: None,
            amr: Vec::new(),
            claims: Map::new(),
            data,
            credentials: None,
            version: 1,
            signer: None,
            record_mac: None,
        };
        Ceilings::check("max_life", session.max_life, policy.ceilings.max_life)?;
        Ceilings::check("max_idle", session.max_idle, policy.ceilings.max_idle)?;
        Ok(session)
    }

    /// Whether this is a pre-login session (no subject yet).
    pub fn is_anonymous(&self) -> bool {
        self.subject.is_anonymous()
    }
}

fn first_version() -> u64 {
    1
}

/// Serde helper: a [`Timestamp`] as whole seconds since the epoch.
mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Timestamp;

    #[expect(
        clippy::trivially_copy_pass_by_ref,
        reason = "serde's `with` signature"
    )]
    pub(super) fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(d).map(Timestamp::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_reference_names_and_seconds() {
        let mut params = SessionParams::new(Subject::new("alice").unwrap());
        params.acr = Some("urn:acr:pwd".into());
        params.amr = vec!["pwd".into()];
        let now = Timestamp::from_millis(1_700_000_000_123);
        let s = Session::start(params, &Policy::default(), now).unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["sub"], "alice");
        assert_eq!(json["ctx"], "web");
        assert_eq!(json["creation_time"], 1_700_000_000);
        assert_eq!(json["auth_time"], 1_700_000_000);
        assert_eq!(json["max_life"], 259_200);
        assert_eq!(json["acr"], "urn:acr:pwd");
        assert!(json.get("version").is_none());
        assert!(json.get("credentials").is_none());
        assert!(json.get("claims").is_none(), "empty maps are omitted");
    }

    #[test]
    fn subject_and_context_limits() {
        assert_eq!(Subject::new("").unwrap_err().field(), "sub");
        assert!(Subject::new("a".repeat(Subject::MAX_LEN)).is_ok());
        assert!(Subject::new("a".repeat(Subject::MAX_LEN + 1)).is_err());
        assert!(Subject::new("bad\nname").is_err());
        assert_eq!(Context::default().as_str(), "web");
        assert!(Context::new("mobile-app:v2").is_ok());
        assert_eq!(Context::new("has space").unwrap_err().field(), "ctx");
        let anonymous = serde_json::from_str::<Subject>("\"\"").unwrap();
        assert!(anonymous.is_anonymous(), "stored records carry it as \"\"");
        assert!(!Subject::new("a").unwrap().is_anonymous());
    }

    #[test]
    fn zero_lifetime_in_json_is_refused() {
        let json = r#"{"sub":"a","creation_time":1,"auth_time":1,"last_used":1,
            "max_life":0,"auth_life":-1,"max_idle":-1}"#;
        let err = serde_json::from_str::<Session>(json).unwrap_err();
        assert!(err.to_string().contains("must not be 0"), "{err}");
    }

    #[test]
    fn future_or_stale_auth_time_is_refused() {
        let now = Timestamp::from_secs(10_000);
        let mut p = SessionParams::new(Subject::new("a").unwrap());
        p.auth_time = Some(Timestamp::from_secs(10_001));
        assert_eq!(
            Session::start(p.clone(), &Policy::default(), now)
                .unwrap_err()
                .field(),
            "auth_time"
        );
        p.auth_time = Some(Timestamp::from_secs(0));
        p.auth_life = Some(Lifetime::minutes_const(1));
        assert!(Session::start(p, &Policy::default(), now).is_err());
    }
}
