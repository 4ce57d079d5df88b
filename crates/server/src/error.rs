//! The crate's one error type.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use tessera_crypto::CryptoError;
use tessera_store::{SessionsError, StoreError};
use tessera_store_dynamodb::DynamoDbError;
use tessera_store_local::LocalError;
use tessera_store_redis::RedisError;

use crate::config::ConfigErrors;

/// Everything that can stop the server or an administrative command.
///
/// No variant carries a secret: the configuration errors name keys, never
/// values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid; every problem is listed.
    #[error(transparent)]
    Config(#[from] ConfigErrors),

    /// No API token hash is configured outside the embedded default, so the
    /// API would refuse every request.
    #[error(
        "the API is disabled: no API token is configured. Run `tessera token new`, then set \
         sessionStore.apiAccessTokenSHA256 (and optionally secondaryAPIAccessTokenSHA256 or \
         apiAccessTokenSHA256.<label>) to the hash it prints"
    )]
    NoApiToken,

    /// The local store's folder cannot be used.
    #[error(transparent)]
    Local(#[from] LocalError),

    /// Redis cannot be reached or refuses the store.
    #[error(transparent)]
    Redis(#[from] RedisError),

    /// The DynamoDB table is missing or has the wrong shape, or DynamoDB
    /// cannot be reached.
    #[error(transparent)]
    DynamoDb(#[from] DynamoDbError),

    /// The data directory (or a file in it) cannot be used.
    #[error("data directory {}: {what}", path.display())]
    DataDir {
        /// The directory or file.
        path: PathBuf,
        /// What was being done, or what is wrong.
        what: String,
        /// The I/O error, if any.
        #[source]
        source: Option<io::Error>,
    },

    /// The embedded default has not been started yet, so an administrative
    /// command has no store to work on.
    #[error(
        "no embedded store in {}: start `tessera serve` once first, or point --config at a \
         configuration", path.display()
    )]
    NotInitialised {
        /// The data directory.
        path: PathBuf,
    },

    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// The API's TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::api::TlsSetupError),

    /// The HTTP server failed while serving.
    #[error("the HTTP server failed")]
    Serve(#[source] io::Error),

    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The session service refused or failed.
    #[error(transparent)]
    Sessions(#[from] SessionsError),

    /// A tokenizer store being imported cannot be read (a missing folder,
    /// an unreachable Redis, a failed Scan). Never quotes a record.
    #[error("tokenizer store ({backend}): {what}")]
    TokenizerStore {
        /// `local`, `redis` or `dynamodb`.
        backend: &'static str,
        /// What failed.
        what: String,
        /// The I/O or driver error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// Generating a password or token failed.
    #[error("cryptography failed")]
    Crypto(#[from] CryptoError),
}
