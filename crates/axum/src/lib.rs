//! Tessera sessions for axum.
//!
//! [`SessionLayer`] puts a session behind every request of a router; the
//! handlers ask for it with extractors:
//!
//! * [`Session`] on any route: [`login`](Session::login) (a new session and
//!   SID, in a cookie) and [`logout`](Session::logout);
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
//! The `login` example of this crate is a whole application: login, whoami
//! with a visit counter, logout.

mod backend;
mod cookies;
mod error;
mod extract;
mod layer;
#[cfg(feature = "remote")]
mod remote;

pub use backend::{Backend, Loaded, SidText};
pub use cookie::SameSite;
pub use cookies::{CookieConfig, DEFAULT_COOKIE_NAME};
pub use error::{BoxError, Error};
pub use extract::{Session, SignedIn};
pub use layer::{DEFAULT_CONTEXT, DEFAULT_MODIFY_RETRIES, SessionLayer, SessionService};
