//! The stored form of a session, shared by the backends that store a
//! session as one document (local files, the memory store, the body of a
//! Redis hash or a DynamoDB item).
//!
//! A record is JSON with a `format` number in every record, so a newer
//! Tessera can change the layout and an older one refuses what it cannot
//! read ([`StoreError::UnsupportedFormat`]) instead of misreading it. Unlike
//! the API's JSON form it keeps milliseconds, the version and the sealed
//! credentials (base64).
//!
//! **The envelope.** Every record, in this format and in every later one,
//! begins with the bytes `{"format":` followed by its format number in
//! decimal ([`format_of`]). That is what lets an older build tell a record
//! of a newer format, which it must leave alone, from a damaged one, which
//! a logout may remove. The Redis scripts and the DynamoDB conditions read
//! the same prefix.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_core::{Context, KeyGeneration, Lifetime, SealedBlob, Session, Subject, Timestamp};

use crate::StoreError;

/// The record format this build writes, and the newest it reads.
pub const FORMAT: u64 = 1;

#[derive(Serialize, Deserialize)]
struct RecordV1 {
    format: u64,
    sub: Subject,
    ctx: Context,
    created_ms: i64,
    auth_time_ms: i64,
    last_used_ms: i64,
    max_life: Lifetime,
    auth_life: Lifetime,
    max_idle: Lifetime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    claims: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    data: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials: Option<String>,
    version: u64,
    /// The key generation that signed the SID (absent in records written
    /// before it was recorded, and for imports under foreign SIDs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kg: Option<u32>,
}

/// The first bytes of every record, before its format number.
pub const ENVELOPE: &[u8] = b"{\"format\":";

/// The format number a record declares in its envelope (`{"format":N`),
/// or `None` when it does not begin with one.
pub fn format_of(bytes: &[u8]) -> Option<u64> {
    let rest = bytes.strip_prefix(ENVELOPE)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Encodes a session as a record.
pub fn encode(session: &Session) -> Vec<u8> {
    let record = RecordV1 {
        format: FORMAT,
        sub: session.subject.clone(),
        ctx: session.context.clone(),
        created_ms: session.creation_time.as_millis(),
        auth_time_ms: session.auth_time.as_millis(),
        last_used_ms: session.last_used.as_millis(),
        max_life: session.max_life,
        auth_life: session.auth_life,
        max_idle: session.max_idle,
        acr: session.acr.clone(),
        amr: session.amr.clone(),
        claims: session.claims.clone(),
        data: session.data.clone(),
        credentials: session
            .credentials
            .as_ref()
            .map(|c| B64.encode(c.as_bytes())),
        version: session.version,
        kg: session.signer.map(KeyGeneration::get),
    };
    serde_json::to_vec(&record).expect("a record always serializes")
}

/// Decodes a record. Garbage is [`StoreError::Corrupt`]; a record from a
/// newer format is [`StoreError::UnsupportedFormat`].
pub fn decode(bytes: &[u8]) -> Result<Session, StoreError> {
    let format = format_of(bytes).ok_or_else(|| StoreError::Corrupt {
        reason: "record does not begin with its format number".into(),
        source: None,
    })?;
    if format > FORMAT {
        return Err(StoreError::UnsupportedFormat {
            found: format,
            supported: FORMAT,
        });
    }
    if format < FORMAT {
        return Err(StoreError::Corrupt {
            reason: format!("record format {format} does not exist"),
            source: None,
        });
    }
    let r: RecordV1 = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::corrupt("session record does not decode", e))?;
    let credentials = r
        .credentials
        .map(|c| B64.decode(c).map(SealedBlob::new))
        .transpose()
        .map_err(|e| StoreError::corrupt("sealed credentials are not base64", e))?;
    Ok(Session {
        subject: r.sub,
        context: r.ctx,
        creation_time: Timestamp::from_millis(r.created_ms),
        auth_time: Timestamp::from_millis(r.auth_time_ms),
        last_used: Timestamp::from_millis(r.last_used_ms),
        max_life: r.max_life,
        auth_life: r.auth_life,
        max_idle: r.max_idle,
        acr: r.acr,
        amr: r.amr,
        claims: r.claims,
        data: r.data,
        credentials,
        version: r.version,
        signer: r.kg.map(KeyGeneration::new),
    })
}

#[cfg(test)]
mod tests {
    use tessera_core::{Policy, SessionParams};

    use super::*;

    fn session() -> Session {
        let mut p = SessionParams::new(Subject::new("alice").unwrap());
        p.data.insert("k".into(), Value::from("v"));
        let mut s =
            Session::start(p, &Policy::default(), Timestamp::from_millis(1_234_567)).unwrap();
        s.credentials = Some(SealedBlob::new(vec![1, 2, 3]));
        s.version = 7;
        s.signer = Some(KeyGeneration::new(0xdead_beef));
        s
    }

    #[test]
    fn the_envelope_gives_the_format_number() {
        assert_eq!(format_of(&encode(&session())), Some(FORMAT));
        assert_eq!(format_of(br#"{"format":12,"x":1}"#), Some(12));
        assert_eq!(format_of(br#"{"format": 1}"#), None);
        assert_eq!(format_of(br#"{"sub":"a","format":1}"#), None);
        assert_eq!(format_of(b"\x00garbage"), None);
    }

    #[test]
    fn round_trips_with_milliseconds_version_and_credentials() {
        let s = session();
        assert_eq!(decode(&encode(&s)).unwrap(), s);
    }

    #[test]
    fn garbage_is_corrupt_and_newer_formats_are_refused() {
        assert!(matches!(
            decode(b"\x00garbage"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(decode(b"{}"), Err(StoreError::Corrupt { .. })));
        assert!(matches!(
            decode(br#"{"format":1}"#),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode(br#"{"format":0,"sub":"a"}"#),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode(br#"{"format":2,"anything":true}"#),
            Err(StoreError::UnsupportedFormat {
                found: 2,
                supported: 1
            })
        ));
    }
}
