//! The per-subject quota decision.

use crate::{Expiry, KeyGeneration, OnQuotaExhaustion, Policy, Timestamp};

/// One existing session of the subject, as the quota decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing<K> {
    /// How the caller identifies the session (a storage key, an index).
    pub key: K,
    /// When it ends.
    pub expiry: Expiry,
    /// The key generation that signed its SID, if recorded
    /// ([`Session::signer`](crate::Session::signer)).
    pub signer: Option<KeyGeneration>,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaDecision<K> {
    /// The new session fits.
    Admit,
    /// The new session fits once these sessions are closed, next-expiring
    /// first.
    AdmitAfterClosing(Vec<K>),
    /// The subject is at its quota and the policy denies the login.
    Deny,
}

/// Decides whether a subject with `existing` sessions may open one more.
///
/// Sessions already expired at `now` do not count (and are never listed for
/// closing; the store removes them on its own), nor do sessions signed by a
/// key generation the policy no longer holds ([`crate::Signers::counts`]),
/// which are never closed either: nothing can present their SIDs. When the live sessions reach
/// the quota, [`OnQuotaExhaustion::DenyLogin`] denies and
/// [`OnQuotaExhaustion::CloseOldSession`] closes just enough of them to make
/// room, choosing those that would expire first (ties broken by key, so the
/// decision is deterministic).
pub fn decide<K: Clone + Ord>(
    existing: &[Existing<K>],
    policy: &Policy,
    now: Timestamp,
) -> QuotaDecision<K> {
    let mut live: Vec<&Existing<K>> = existing
        .iter()
        .filter(|e| !e.expiry.has_passed(now) && policy.signers.counts(e.signer))
        .collect();
    let quota = policy.quota_per_subject.get();
    if live.len() < quota {
        return QuotaDecision::Admit;
    }
    match policy.on_quota_exhaustion {
        OnQuotaExhaustion::DenyLogin => QuotaDecision::Deny,
        OnQuotaExhaustion::CloseOldSession => {
            let excess = live.len() + 1 - quota;
            live.sort_by(|a, b| a.expiry.cmp(&b.expiry).then_with(|| a.key.cmp(&b.key)));
            QuotaDecision::AdmitAfterClosing(
                live.into_iter()
                    .take(excess)
                    .map(|e| e.key.clone())
                    .collect(),
            )
        }
    }
}
