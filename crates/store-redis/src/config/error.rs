//! What opening a Redis store can fail with.

use tessera_store::BoxError;

/// What [`RedisStore::open`](crate::RedisStore::open) fails with: a
/// configuration that cannot work (naming the setting at fault), a Redis
/// that cannot be reached, or one that refuses the store. Store operations
/// return [`StoreError`](tessera_store::StoreError).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// None or more than one of `url`, `host`, `cluster_nodes`, `sentinel`.
    #[error(
        "configure exactly one of `url`, `host`, `cluster_nodes` or `sentinel` for Redis (found {found})"
    )]
    Servers {
        /// How many were given.
        found: usize,
    },
    /// A setting holds a value that cannot work.
    #[error("invalid Redis setting `{setting}`: {reason}")]
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL does not parse.
    #[error("invalid Redis URL in `{setting}`")]
    Url {
        /// The setting's name.
        setting: &'static str,
        /// The parser's error (the URL itself is not repeated: it may hold
        /// a password).
        #[source]
        source: BoxError,
    },
    /// The TLS settings cannot be turned into a TLS client.
    #[error("Redis TLS setup failed: {reason}")]
    Tls {
        /// The setting at fault (`tls_ca_file`, `tls_cert_file`,
        /// `tls_key_file`, or `ssl` for TLS as a whole).
        setting: &'static str,
        /// What failed.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Redis did not answer within `connect_timeout_ms`; retrying later may
    /// succeed.
    #[error("Redis is unreachable while {what}")]
    Unreachable {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// Redis answered but refused: a wrong password, a missing ACL
    /// permission, an untrusted certificate. Retrying does not help.
    #[error("Redis refused the store while {what}")]
    Refused {
        /// What was being done.
        what: &'static str,
        /// The driver's error (Redis's reply, never a password).
        #[source]
        source: BoxError,
    },
}

impl RedisError {
    /// Whether Redis could not be reached (as opposed to a configuration
    /// that cannot work or a refusal): retrying later may succeed.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// Sorts a driver error met while connecting.
    pub(crate) fn from_driver(what: &'static str, source: fred::error::Error) -> Self {
        if crate::errors::is_unavailable(&source) {
            Self::Unreachable {
                what,
                source: Box::new(source),
            }
        } else {
            Self::Refused {
                what,
                source: Box::new(source),
            }
        }
    }

    pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}
