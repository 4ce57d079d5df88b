//! Tessera's store contract and the `Sessions` service.
//!
//! * [`SessionStore`] is the contract every backend implements: create with
//!   an atomic quota decision, get (and touch), compare-and-set update,
//!   delete, the subject index, count and purge. Its doc comments are the
//!   specification; the conformance suite (feature `testkit`) checks it.
//! * [`Sessions`] is what an application uses: it mints SIDs, derives storage
//!   keys, seals credentials and applies the [`Policy`], on top of any store.
//!   Applications never see storage keys or raw keys.
//! * [`MemoryStore`] keeps sessions in process memory, for tests and for
//!   embedding where losing sessions on restart is fine.
//! * [`backend`] holds what a backend author needs besides the contract:
//!   the quota, update and listing rules and the stored record format.
//! * [`Clock`] and [`SystemRandom`] are the two places where time and
//!   randomness enter; tests inject `testkit::MockClock` and
//!   `tessera_crypto::testkit::SeededRandom` (feature `testkit`).
//!
//! This crate does no I/O: stores that do live in the `tessera-store-*`
//! crates.
//!
//! [`Policy`]: tessera_core::Policy

mod alias;
pub mod backend;
mod clock;
mod error;
mod memory;
mod random;
mod service;
mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use alias::LegacyAlias;
pub use clock::{Clock, SystemClock};
pub use error::{BoxError, SessionsError, StoreError};
pub use memory::MemoryStore;
pub use random::SystemRandom;
pub use service::{
    ImportOutcome, MAX_CLOCK_SKEW_MS, NewSession, ReadOnlyFields, RecordChecks, SessionChanges,
    Sessions, SessionsBuilder, SessionsConfig,
};
/// The session model (re-exported so that one dependency is enough).
pub use tessera_core as core;
/// Keys, SIDs and sealing (re-exported so that one dependency is enough).
pub use tessera_crypto as crypto;

/// What an application needs to build and use [`Sessions`] over any store,
/// in one import: `use tessera_store::prelude::*;`.
pub mod prelude {
    pub use tessera_core::{
        Context, Lifetime, OnQuotaExhaustion, Policy, Quota, Session, SessionParams, Subject,
        Timestamp,
    };
    pub use tessera_crypto::{MasterKeys, RootKey, SafePassword, SessionRef, Sid};

    pub use crate::{
        MemoryStore, SessionChanges, SessionStore, Sessions, SessionsError, StoreError,
        StoredSession, Touch,
    };
}
pub use store::{Created, Imported, PurgeReport, RevokeReport, SessionStore, StoredSession, Touch};
pub use tessera_crypto::SessionRef;
