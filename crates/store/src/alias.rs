//! Legacy SID aliases: where the session imported under a legacy SID lives.
//!
//! A Tessera SID carries its subject's tag, so a lookup knows where the
//! session and its subject index live (one Redis Cluster slot, one lock
//! stripe). A legacy SID carries nothing: the import files the session under
//! its subject's tag as usual and writes a small alias record, keyed by the
//! legacy SID's storage key, that holds the session's [`SessionRef`]. A
//! lookup by legacy SID reads the alias first, then the session: two reads,
//! for legacy SIDs only.

use tessera_core::{Expiry, Session, Timestamp};
use tessera_crypto::SessionRef;

use crate::StoreError;

/// Format version written in front of every alias record.
const FORMAT: &str = "1";

/// The record stored under a legacy SID's storage key. Not secret: it holds
/// a [`SessionRef`] and an instant, nothing that opens the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyAlias {
    /// Where the session is stored.
    pub id: SessionRef,
    /// When the alias may be forgotten: the session's creation plus its
    /// `max_life` (which no touch or re-authentication moves); `None` for
    /// an unlimited `max_life`.
    pub expires: Option<Timestamp>,
}

impl LegacyAlias {
    /// The alias of `session`, stored under `id`.
    pub fn for_session(id: SessionRef, session: &Session) -> Self {
        Self {
            id,
            expires: Expiry::from_option(session.creation_time.plus(session.max_life)).at(),
        }
    }

    /// Whether the alias has outlived every session it can point to.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires.is_some_and(|at| now >= at)
    }

    /// The stored form: `1 <session ref> <expiry in ms or ->`, ASCII.
    pub fn encode(&self) -> Vec<u8> {
        let expires = self
            .expires
            .map_or_else(|| "-".to_owned(), |t| t.as_millis().to_string());
        format!("{FORMAT} {} {expires}", self.id).into_bytes()
    }

    /// Reads the stored form back.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if the bytes are not an alias record.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            reason: format!("legacy SID alias: {reason}"),
            source: None,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| corrupt("not UTF-8"))?;
        let mut parts = text.split(' ');
        let (Some(format), Some(id), Some(expires), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt("not three fields"));
        };
        if format != FORMAT {
            return Err(corrupt("unknown format version"));
        }
        let id = id
            .parse::<SessionRef>()
            .map_err(|e| StoreError::corrupt("legacy SID alias: bad session reference", e))?;
        let expires = match expires {
            "-" => None,
            ms => Some(Timestamp::from_millis(ms.parse::<i64>().map_err(|e| {
                StoreError::corrupt("legacy SID alias: bad expiry", e)
            })?)),
        };
        Ok(Self { id, expires })
    }
}

#[cfg(test)]
mod tests {
    use tessera_crypto::{StorageKey, SubjectTag};

    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let id = SessionRef::new(SubjectTag::of("a"), StorageKey::from_bytes([3; 32]));
        for expires in [None, Some(Timestamp::from_millis(1_700_000_000_123))] {
            let alias = LegacyAlias { id, expires };
            assert_eq!(LegacyAlias::decode(&alias.encode()).unwrap(), alias);
        }
        for bad in [&b""[..], b"2 x -", b"1 nonsense -", b"1", b"\xff"] {
            assert!(matches!(
                LegacyAlias::decode(bad),
                Err(StoreError::Corrupt { .. })
            ));
        }
        let alias = LegacyAlias {
            id,
            expires: Some(Timestamp::from_millis(10)),
        };
        assert!(!alias.is_expired(Timestamp::from_millis(9)));
        assert!(alias.is_expired(Timestamp::from_millis(10)));
    }
}
