//! Tessera's session model and policy, as pure functions.
//!
//! This crate holds what a session *is* ([`Session`]), the limits a
//! deployment sets ([`Policy`]), and the decisions taken on them: when a
//! session expires ([`Session::expiry`]), what a read does to it
//! ([`Session::touch`]) and whether a new login fits the subject's quota
//! ([`decide`]). It also names the error codes of the server's HTTP API
//! ([`ErrorCode`]), which the server, its client and the axum layer share.
//!
//! It never does I/O, never reads the clock and never draws random numbers:
//! time is always a `now` argument. This is checked mechanically (clippy's
//! `disallowed-methods` and `cargo xtask`'s no-I/O check), so every function
//! here is deterministic and property-tested.
//!
//! ```
//! use tessera_core::{Policy, Session, SessionParams, Subject, Timestamp};
//!
//! let policy = Policy::default();
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! let params = SessionParams::new(Subject::new("alice").unwrap());
//! let session = Session::start(params, &policy, now).unwrap();
//! assert!(!session.is_expired(now));
//! ```

mod error;
mod error_code;
mod expiry;
mod lifetime;
mod policy;
mod quota;
mod session;
mod signers;
mod time;
mod touch;

pub use error::CoreError;
pub use error_code::{ErrorCode, UnknownErrorCode};
pub use expiry::Expiry;
pub use lifetime::Lifetime;
pub use policy::{Ceilings, OnQuotaExhaustion, Policy, PreLogin, Quota};
pub use quota::{Existing, QuotaDecision, decide};
pub use session::{Context, RecordMac, SealedBlob, Session, SessionParams, Subject};
pub use signers::{KeyGeneration, Signers};
pub use time::Timestamp;
pub use touch::{TouchDecision, TouchWindow, decide_touch};
