//! Reading a tokenizer store (the SQL tool's session store: a local folder,
//! Redis keys or DynamoDB items keyed by `username`) into import records.
//!
//! Every record the tokenizer would still accept becomes a session:
//!
//! * `sid` is the record's `token` (32 hex characters), as the browser
//!   holds it; Tessera accepts it as a legacy SID;
//! * `sub` is the record's `username` lower-cased: the tokenizer's storage
//!   key and cookie, so `Alice` and `alice` are one user as they were;
//! * `ctx` is `web`;
//! * the idle time carries over: `max_idle` is the tokenizer's `timeout`
//!   and `last_used` is `expires - timeout` (when the tokenizer last
//!   extended the session), so the session ends when the tokenizer would
//!   have ended it. If that moment lies in the future (the record was
//!   written under a longer `timeout`), `last_used` is `now` instead;
//! * `creation_time` and `auth_time` are that same `last_used`: the
//!   tokenizer keeps neither, and it is the earliest moment known;
//! * `max_life` and `auth_life` are [`TokenizerSource::max_life`] and
//!   [`TokenizerSource::auth_life`], unlimited (`-1`) by default as the
//!   tokenizer has no absolute cap;
//! * `data` keeps what the tool stored with the session: `username` (as
//!   typed), `roles`, `role_selected`, `connections` and `history`;
//! * `credentials` is the decrypted `{"username", "password"}` JSON, which
//!   the importer seals with Tessera's keys.
//!
//! Records are skipped, with a [`SkipReason`], when expired, logged out
//! (`token: "INVALID"`), not a token record (the profiler's
//! `type: "profile"` records share the store) or unreadable, and when their
//! credentials cannot be opened. No reason and no error quotes a token or
//! credentials. The source is only read, unless the records are removed
//! after the import ([`remove_source_records`], `--remove-imported`).

mod credentials;
mod dynamodb;
mod expires;
mod local;
mod record;
mod redis;
mod remove;

use std::fmt;

use serde_json::Value;
use tessera_core::{Lifetime, Timestamp};
use zeroize::Zeroizing;

use crate::ServerError;
use crate::config::Backend;
use crate::import::Printable;

pub use credentials::TokenizerPassword;
pub use remove::{Location, Removed, SourceRecord, remove_source_records};

/// The tokenizer's default `timeout`, in minutes.
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 20;

/// Where the tokenizer's records are and how to read them.
#[derive(Debug)]
pub struct TokenizerSource {
    /// The tokenizer's backend, from its `tokenizer:` block.
    pub backend: Backend,
    /// The tokenizer's `timeout` (sliding, in minutes; 20 by default).
    pub timeout: Lifetime,
    /// `max_life` of the imported sessions.
    pub max_life: Lifetime,
    /// `auth_life` of the imported sessions.
    pub auth_life: Lifetime,
    /// The tokenizer's `safe_password`, which opens its credentials.
    pub safe_password: TokenizerPassword,
}

impl TokenizerSource {
    /// The tokenizer's defaults: a 20-minute `timeout`, and no absolute
    /// lifetime for the imported sessions.
    pub fn new(backend: Backend, safe_password: TokenizerPassword) -> Self {
        Self {
            backend,
            timeout: Lifetime::minutes_const(DEFAULT_TIMEOUT_MINUTES),
            max_life: Lifetime::Unlimited,
            auth_life: Lifetime::Unlimited,
            safe_password,
        }
    }
}

/// One session to import: the JSON Lines object of `tessera sessions
/// import`, `{"sid", "session"}` with `credentials` inside the session. **Secret**: it holds the
/// SID and the plaintext credentials, so its `Debug` shows the subject only.
pub struct ImportRecord {
    subject: String,
    value: Value,
    source: SourceRecord,
}

impl ImportRecord {
    /// The session's subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The JSON object.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The JSON object, by value.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The source record it came from.
    pub fn source(&self) -> &SourceRecord {
        &self.source
    }

    /// The JSON object and the source record it came from (for
    /// [`remove_source_records`] once the session is in Tessera).
    pub fn into_parts(self) -> (Value, SourceRecord) {
        (self.value, self.source)
    }

    /// The object as one line of JSON Lines (with its newline), wiped when
    /// dropped.
    pub fn json_line(&self) -> Zeroizing<String> {
        let mut line = Zeroizing::new(self.value.to_string());
        line.push('\n');
        line
    }
}

impl fmt::Debug for ImportRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportRecord")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A record that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Which record: `file <path>`, `redis key <key>` or `dynamodb item
    /// <username>`.
    pub origin: String,
    /// Why it is skipped.
    pub reason: SkipReason,
    /// The record as read, to remove it from the source if the reason
    /// allows ([`SkipReason::is_dead`]).
    pub source: Option<SourceRecord>,
}

impl fmt::Display for Skip {
    /// The origin comes from the store (a key or file name anyone with
    /// write access chose): its control characters are escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", Printable(&self.origin), self.reason)
    }
}

/// Why a record is skipped. None quotes a token or credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Its `expires` has passed: the tokenizer would refuse it too.
    Expired,
    /// The user logged out (`token: "INVALID"`).
    LoggedOut,
    /// Not a session: a profiler record (`type: "profile"`) or another
    /// application's data.
    NotATokenRecord,
    /// The record cannot be read; says what is wrong.
    Unreadable(&'static str),
    /// The credentials are not the tokenizer's encoding (base64 of salt,
    /// IV and ciphertext).
    CredentialsMalformed,
    /// The credentials do not open with the given `safe_password`.
    CredentialsWrongPassword,
    /// One of Tessera's own records in the shared store.
    Tessera,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired => f.write_str("expired"),
            Self::LoggedOut => f.write_str("logged out"),
            Self::NotATokenRecord => f.write_str("not a token record"),
            Self::Unreadable(what) => write!(f, "unreadable: {what}"),
            Self::CredentialsMalformed => {
                f.write_str("its credentials are not in the tokenizer's encoding")
            }
            Self::CredentialsWrongPassword => f.write_str(
                "its credentials cannot be opened: the safe_password given is not the \
                 tokenizer's",
            ),
            Self::Tessera => f.write_str("one of Tessera's own records"),
        }
    }
}

impl SkipReason {
    /// Whether the tokenizer itself would refuse the record (expired or
    /// logged out), so that removing it from the source loses nothing.
    #[must_use]
    pub fn is_dead(&self) -> bool {
        matches!(self, Self::Expired | Self::LoggedOut)
    }
}

/// One record as a backend holds it, before it is understood.
struct RawRecord {
    /// See [`Skip::origin`].
    origin: String,
    /// Where it is, to remove it after the import.
    location: Location,
    /// Whether it is one of Tessera's own records, which share the store
    /// (Redis keys under Tessera's key prefix, the local store's
    /// `tessera-local.json`): skipped, counted and not listed.
    tessera: bool,
    /// The record's JSON text (it holds the token in clear), or why it
    /// cannot be had.
    text: Result<Zeroizing<String>, &'static str>,
}

/// Reads every record of the tokenizer store described by `source`, and
/// turns each into an import record or a skip, judging expiry at `now`.
///
/// # Errors
///
/// [`ServerError::TokenizerStore`] when the store itself cannot be read (a
/// missing folder, an unreachable Redis, a failed Scan). A bad record is a
/// [`Skip`], not an error.
pub async fn read_tokenizer_store(
    source: &TokenizerSource,
    now: Timestamp,
) -> Result<Vec<Result<ImportRecord, Skip>>, ServerError> {
    let raw = match &source.backend {
        Backend::Local(settings) => local::read_all(&settings.path).await?,
        Backend::Redis(config) => redis::read_all(config).await?,
        Backend::DynamoDb(config) => dynamodb::read_all(config).await?,
    };
    Ok(raw
        .into_iter()
        .map(|raw| {
            if raw.tessera {
                Err(Skip {
                    origin: raw.origin,
                    reason: SkipReason::Tessera,
                    source: None,
                })
            } else {
                record::convert(&raw, source, now)
            }
        })
        .collect())
}
