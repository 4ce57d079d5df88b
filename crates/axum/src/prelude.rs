//! What an application uses, in one import: `use tessera_axum::prelude::*;`.
//!
//! The layer and its extractors, the error, the keys, the session service
//! and, per feature, the store to keep sessions in. Nothing here shares a
//! name with another item of the prelude or with axum's own: the stored
//! session type of `tessera_store` (also called `Session`) is left out, as
//! an application handles sessions through the extractors.

pub use crate::{
    CookieConfig, Error, SameSite, Session, SessionLayer, SignedIn, keys_from_env_or_dev,
    root_key_from_env_or_dev,
};
pub use tessera_store::Sessions;
pub use tessera_store::core::{Lifetime, OnQuotaExhaustion, Policy};
pub use tessera_store::crypto::{MasterKeys, RootKey};

#[cfg(feature = "local")]
pub use tessera_store_local::{LocalConfig, LocalStore};

#[cfg(feature = "redis")]
pub use tessera_store_redis::{RedisConfig, RedisStore};

#[cfg(feature = "dynamodb")]
pub use tessera_store_dynamodb::{DynamoDbConfig, DynamoDbStore, create_table};

#[cfg(feature = "remote")]
pub use tessera_client::Client as RemoteClient;
