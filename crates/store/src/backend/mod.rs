//! For backend authors: the helpers a [`SessionStore`] implementation
//! shares with the stores in this workspace.
//!
//! An application needs none of this: it uses [`Sessions`] over a store
//! it opens. A backend implements [`SessionStore`] (at the crate root,
//! with [`StoredSession`], [`Touch`], [`Created`], [`Imported`],
//! [`PurgeReport`], [`RevokeReport`] and [`StoreError`]) and ends its
//! operations here, so that every backend decides alike:
//!
//! * [`quota_plan`] applies the quota decision to a subject's sessions;
//! * [`compare_and_set`] and [`check_update`] are the update rule;
//! * [`listed`] filters and orders a subject's listing;
//! * [`record`] is the stored form of a session (encode, bounded decode,
//!   the format envelope, the MAC message);
//! * [`millis`] reads and writes a configuration's `Duration` as
//!   milliseconds.
//!
//! [`SessionStore`]: crate::SessionStore
//! [`Sessions`]: crate::Sessions
//! [`StoredSession`]: crate::StoredSession
//! [`Touch`]: crate::Touch
//! [`Created`]: crate::Created
//! [`Imported`]: crate::Imported
//! [`PurgeReport`]: crate::PurgeReport
//! [`RevokeReport`]: crate::RevokeReport
//! [`StoreError`]: crate::StoreError

pub mod millis;
pub mod record;

pub use crate::store::{check_anonymous, check_update, compare_and_set, listed, quota_plan};
