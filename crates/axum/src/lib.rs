//! Tessera sessions for axum.
//!
//! [`SessionLayer`] puts a session behind every request of a router; the
//! handlers ask for it with extractors:
//!
//! * [`Session`] on any route: [`login`](Session::login) (a new session and
//!   SID, in a cookie), [`logout`](Session::logout), and the data of
//!   whatever session there is, signed in or pre-login;
//! * [`SignedIn`] where a user must be signed in (`401` otherwise), or
//!   `Option<SignedIn>` where one may be: the subject, typed data
//!   ([`get`](SignedIn::get), [`insert`](SignedIn::insert)) and
//!   [`modify`](SignedIn::modify) with a bounded compare-and-set retry.
//!
//! Sessions live in a [`tessera_store::Sessions`] in process, over any
//! store (memory, local folder, Redis, DynamoDB), or in a remote `tessera`
//! server through `tessera_client::Client` (feature `remote`). Both are a
//! [`Backend`].
//!
//! The SID travels in a cookie with the safe defaults ([`CookieConfig`]):
//! `__Host-tessera`, `Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/`, and a
//! `Max-Age` counted to the session's hard expiry (the store ends an idle
//! session sooner). Every [`Error`] is an HTTP answer: `401` not signed in,
//! `409` conflict or quota, `503` with `Retry-After` when the backend is
//! down (an outage is never a logout).
//!
//! The `login` example of this crate is a whole application: a cart
//! before the login, login, whoami with a visit counter, logout.
//!
//! **One dependency.** An application needs this crate alone (with axum,
//! tokio and serde): the features choose where sessions live, and
//! [`prelude`] imports what an application uses.
//!
//! | feature | sessions in | re-exported as |
//! | --- | --- | --- |
//! | `local` (default) | a local folder | [`local`], `LocalStore` in the prelude |
//! | `redis` | Redis, Cluster or Sentinel, TLS included | `redis`, `RedisStore` |
//! | `dynamodb` | DynamoDB | `dynamodb`, `DynamoDbStore` |
//! | `remote` | a `tessera` server, over HTTP or HTTPS | `client`, `RemoteClient` |
//!
//! **Defaults that matter** (all in [`Policy`](tessera_store::core::Policy)
//! and [`CookieConfig`]): at most 5 sessions per user, and a 6th login
//! closes the one that would end soonest (`CLOSE_OLD_SESSION`); a session
//! ends 30 days after the last authentication (`auth_life`), 180 days
//! after its creation (`max_life`), or after 10 days unused (`max_idle`);
//! the cookie is `__Host-tessera`, `Secure`, `HttpOnly`, `SameSite=Lax`.
//! Data stored before anyone signs in ([`Session::insert`] and the like)
//! lives in a pre-login session: no quota, 30 minutes idle and 24 hours at
//! most ([`Policy::pre_login`](tessera_store::core::Policy)); a login
//! carries it over under a new SID and ends it.
//! [`SignedIn::update`] retries a lost race up to 64 times with random
//! waits of at most 64 ms, so ordinary concurrency gives no `409`.

mod backend;
mod cookies;
mod error;
mod extract;
mod keys;
mod layer;
pub mod prelude;
#[cfg(feature = "remote")]
mod remote;

/// The session service and the store interface, for what the prelude
/// leaves out.
pub use tessera_store as store;

/// serde_json, whose `json!` and `Map` the data API takes.
pub use serde_json;

/// The local folder store (feature `local`).
#[cfg(feature = "local")]
pub use tessera_store_local as local;

/// The Redis store (feature `redis`).
#[cfg(feature = "redis")]
pub use tessera_store_redis as redis;

/// The DynamoDB store (feature `dynamodb`).
#[cfg(feature = "dynamodb")]
pub use tessera_store_dynamodb as dynamodb;

/// The client of a remote `tessera` server (feature `remote`).
#[cfg(feature = "remote")]
pub use tessera_client as client;

pub use backend::{Backend, Loaded, SidText};
pub use cookie::SameSite;
pub use cookies::{CookieConfig, DEFAULT_COOKIE_NAME};
pub use error::{BoxError, Error};
pub use extract::{Session, SignedIn};
pub use keys::{keys_from_env_or_dev, root_key_from_env_or_dev};
pub use layer::{DEFAULT_CONTEXT, DEFAULT_MODIFY_RETRIES, SessionLayer, SessionService};
