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
//!
//! **The bounds.** A stored record is untrusted input: whoever can write the
//! backend can put anything under a session's key. [`decode`] refuses a
//! record over [`MAX_RECORD_BYTES`] or nested deeper than [`MAX_NESTING`]
//! before it parses anything (so no depth of nesting can exhaust the
//! stack), and every field is parsed by the same validating types the API
//! parses its input with (`Subject`, `Context`, `Lifetime`). Every backend
//! decodes through this module ([`decode`], or [`check_bounds`] and
//! [`check_msgpack_bounds`] for Redis's own value).
//!
//! **The MAC.** A record carries `mac`, made by `Sessions` over
//! [`mac_message`]: the session's content bound to the key it is stored
//! under. A record without one was written before records were signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_core::{
    Context, KeyGeneration, Lifetime, RecordMac, SealedBlob, Session, Subject, Timestamp,
};

use crate::{SessionRef, StoreError};

/// The record format this build writes, and the newest it reads.
pub const FORMAT: u64 = 1;

/// The largest stored record any backend hands to a decoder, in bytes
/// (1 MiB). A larger value is corrupt, whatever it holds; stores that can
/// ask the backend for a value's size refuse it before reading it.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The deepest nesting of arrays and objects in a record, counting the
/// record itself: the limit of the JSON parser the API reads requests
/// with (`serde_json`'s 128), so no record nests deeper than a request
/// could.
pub const MAX_NESTING: usize = 128;

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
    /// The record's MAC, base64 (absent in records written before records
    /// were signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
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
        mac: session
            .record_mac
            .as_ref()
            .map(|m| B64.encode(m.as_bytes())),
    };
    serde_json::to_vec(&record).expect("a record always serializes")
}

/// Decodes a record. Garbage is [`StoreError::Corrupt`]; a record from a
/// newer format is [`StoreError::UnsupportedFormat`].
pub fn decode(bytes: &[u8]) -> Result<Session, StoreError> {
    check_bounds(bytes)?;
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
    let record_mac = r
        .mac
        .map(|m| B64.decode(m).map(RecordMac::new))
        .transpose()
        .map_err(|e| StoreError::corrupt("the record's MAC is not base64", e))?;
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
        record_mac,
    })
}

fn too_large(len: usize) -> StoreError {
    StoreError::Corrupt {
        reason: format!("the record is {len} bytes long, over the cap of {MAX_RECORD_BYTES}"),
        source: None,
    }
}

fn too_deep() -> StoreError {
    StoreError::Corrupt {
        reason: format!("the record nests deeper than {MAX_NESTING} levels"),
        source: None,
    }
}

/// Refuses a JSON record over [`MAX_RECORD_BYTES`] or nested deeper than
/// [`MAX_NESTING`], in one pass that allocates nothing and recurses
/// nowhere, before any parser sees it.
pub fn check_bounds(bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(too_large(bytes.len()));
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep());
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The same bounds for a MessagePack value (Redis's value and its body):
/// walks the encoding with an explicit stack of element counts, so a
/// hostile value costs one pass and no recursion. Truncated input is left
/// for the decoder to refuse.
pub fn check_msgpack_bounds(bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(too_large(bytes.len()));
    }
    // Each entry: values still to read in an open container.
    let mut open: Vec<u64> = Vec::new();
    let mut at = 0usize;
    let read = |at: usize, n: usize| -> Option<u64> {
        let s = bytes.get(at..at.checked_add(n)?)?;
        Some(s.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    while at < bytes.len() {
        let b = bytes[at];
        at += 1;
        // (bytes to skip after the marker, elements this value opens)
        let (skip, opens): (u64, Option<u64>) = match b {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, None),
            0x80..=0x8f => (0, Some(u64::from(b & 0x0f) * 2)),
            0x90..=0x9f => (0, Some(u64::from(b & 0x0f))),
            0xa0..=0xbf => (u64::from(b & 0x1f), None),
            0xc4 | 0xd9 => (read(at, 1).map_or(0, |n| n + 1), None),
            0xc5 | 0xda => (read(at, 2).map_or(0, |n| n + 2), None),
            0xc6 | 0xdb => (read(at, 4).map_or(0, |n| n + 4), None),
            0xc7 => (read(at, 1).map_or(0, |n| n + 2), None),
            0xc8 => (read(at, 2).map_or(0, |n| n + 3), None),
            0xc9 => (read(at, 4).map_or(0, |n| n + 5), None),
            0xcc | 0xd0 => (1, None),
            0xcd | 0xd1 | 0xd4 => (2, None),
            0xca | 0xce | 0xd2 => (4, None),
            0xcb | 0xcf | 0xd3 => (8, None),
            0xd5 => (3, None),
            0xd6 => (5, None),
            0xd7 => (9, None),
            0xd8 => (17, None),
            0xdc => (2, read(at, 2)),
            0xdd => (4, read(at, 4)),
            0xde => (2, read(at, 2).map(|n| n * 2)),
            0xdf => (4, read(at, 4).map(|n| n * 2)),
            0xc1 => return Ok(()),
        };
        // The value just read fills one slot of its container.
        while let Some(left) = open.last_mut() {
            if *left == 0 {
                open.pop();
                continue;
            }
            *left -= 1;
            break;
        }
        at = at.saturating_add(usize::try_from(skip).unwrap_or(usize::MAX));
        if let Some(n) = opens {
            if open.len() + 1 >= MAX_NESTING {
                return Err(too_deep());
            }
            open.push(n);
        }
        while open.last() == Some(&0) {
            open.pop();
        }
    }
    Ok(())
}

/// What a record's MAC covers: a label naming this use, the key the record
/// is stored under (subject tag and storage key), and every field of the
/// session but `last_used`.
///
/// `last_used` stays outside so that a store can record a use without the
/// keys (a Redis script, a conditional DynamoDB update); what a store writer
/// can do with it is bounded where the record is checked (`Sessions`
/// refuses a last use after `now`). Claims and data are written with their
/// object keys sorted, so the message does not depend on the order a
/// backend kept them in.
pub fn mac_message(id: &SessionRef, session: &Session) -> Vec<u8> {
    let mut m = Vec::with_capacity(256);
    m.extend_from_slice(b"tessera/record-mac/v1\0");
    m.extend_from_slice(id.tag().as_bytes());
    m.extend_from_slice(id.storage_key().as_bytes());
    let mut field = |bytes: &[u8]| {
        m.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        m.extend_from_slice(bytes);
    };
    field(session.subject.as_str().as_bytes());
    field(session.context.as_str().as_bytes());
    field(&session.creation_time.as_millis().to_be_bytes());
    field(&session.auth_time.as_millis().to_be_bytes());
    for l in [session.max_life, session.auth_life, session.max_idle] {
        field(&l.minutes().map_or(0, std::num::NonZero::get).to_be_bytes());
    }
    field(session.acr.as_deref().unwrap_or("").as_bytes());
    field(&[u8::from(session.acr.is_some())]);
    field(&(session.amr.len() as u64).to_be_bytes());
    for a in &session.amr {
        field(a.as_bytes());
    }
    let mut json = Vec::new();
    canonical_object(&session.claims, &mut json);
    field(&json);
    json.clear();
    canonical_object(&session.data, &mut json);
    field(&json);
    field(
        session
            .credentials
            .as_ref()
            .map_or(&[][..], SealedBlob::as_bytes),
    );
    field(&[u8::from(session.credentials.is_some())]);
    field(&session.version.to_be_bytes());
    field(&session.signer.map_or(0, KeyGeneration::get).to_be_bytes());
    field(&[u8::from(session.signer.is_some())]);
    m
}

/// A JSON object with its keys (and those of every object inside it) in
/// sorted order.
fn canonical_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            serde_json::to_string(k)
                .expect("a string always serializes")
                .as_bytes(),
        );
        out.push(b':');
        canonical(v, out);
    }
    out.push(b'}');
}

/// JSON with every object's keys in sorted order.
fn canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => canonical_object(map, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(v, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(
            serde_json::to_string(scalar)
                .expect("a scalar always serializes")
                .as_bytes(),
        ),
    }
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

    /// A record as Tessera 0.1 wrote it (no `mac`), kept as written.
    const WRITTEN_BY_0_1: &str = r#"{"format":1,"sub":"alice","ctx":"web","created_ms":1700000000123,"auth_time_ms":1700000000123,"last_used_ms":1700000060000,"max_life":259200,"auth_life":43200,"max_idle":14400,"data":{"cart":3},"version":2,"kg":3735928559}"#;

    #[test]
    fn a_record_written_by_0_1_reads_as_unsigned() {
        let s = decode(WRITTEN_BY_0_1.as_bytes()).unwrap();
        assert_eq!(s.subject.as_str(), "alice");
        assert_eq!(s.version, 2);
        assert_eq!(s.last_used.as_millis(), 1_700_000_060_000);
        assert_eq!(s.record_mac, None);
        // Written back without a MAC, it is byte for byte what 0.1 wrote.
        assert_eq!(encode(&s), WRITTEN_BY_0_1.as_bytes());
    }

    #[test]
    fn the_mac_round_trips_and_the_message_binds_key_and_content() {
        let mut s = session();
        s.record_mac = Some(RecordMac::new(vec![9; 20]));
        assert_eq!(decode(&encode(&s)).unwrap(), s);

        let id = |n: u8| {
            SessionRef::new(
                tessera_crypto::SubjectTag::of("alice"),
                tessera_crypto::StorageKey::from_sid_key_bytes(&[n; 16]),
            )
        };
        let base = mac_message(&id(1), &s);
        assert_ne!(base, mac_message(&id(2), &s), "bound to the key");
        let mut later = s.clone();
        later.last_used = Timestamp::from_millis(s.last_used.as_millis() + 1);
        later.record_mac = None;
        assert_eq!(
            base,
            mac_message(&id(1), &later),
            "last_used and the MAC are outside"
        );
        let mut changed = s.clone();
        changed.data.insert("k".into(), Value::from("w"));
        assert_ne!(base, mac_message(&id(1), &changed));
        // The order claims were kept in does not matter.
        let mut a = s.clone();
        a.claims.insert("x".into(), Value::from(1));
        a.claims
            .insert("y".into(), serde_json::json!({"b": 1, "a": 2}));
        let mut b = s.clone();
        b.claims
            .insert("y".into(), serde_json::json!({"a": 2, "b": 1}));
        b.claims.insert("x".into(), Value::from(1));
        assert_eq!(mac_message(&id(1), &a), mac_message(&id(1), &b));
    }

    #[test]
    fn size_and_depth_are_bounded_before_parsing() {
        let deep = format!(
            "{{\"format\":1,\"claims\":{{\"d\":{}{}}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            decode(deep.as_bytes()),
            Err(StoreError::Corrupt { reason, .. }) if reason.contains("nests deeper")
        ));
        // Brackets inside strings are not nesting.
        let mut s = session();
        s.data
            .insert("text".into(), Value::from("[[[[\"\\".repeat(200)));
        assert_eq!(decode(&encode(&s)).unwrap(), s);
        let big = vec![b' '; MAX_RECORD_BYTES + 1];
        assert!(matches!(
            decode(&big),
            Err(StoreError::Corrupt { reason, .. }) if reason.contains("over the cap")
        ));

        let mut packed = vec![0x91u8; 10_000];
        packed.push(0xc0);
        assert!(check_msgpack_bounds(&packed).is_err());
        let mut shallow = vec![0x91u8; MAX_NESTING - 2];
        shallow.push(0xc0);
        assert!(check_msgpack_bounds(&shallow).is_ok());
        // Maps, strings and a huge declared count do not confuse the walk.
        assert!(check_msgpack_bounds(&[0x82, 0xa1, b'a', 0x01, 0xa1, b'b', 0x90]).is_ok());
        assert!(check_msgpack_bounds(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_ok());
        assert!(check_msgpack_bounds(&vec![0u8; MAX_RECORD_BYTES + 1]).is_err());
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
