//! The whole session value built in Rust, byte for byte as the scripts'
//! `cmsgpack` writes it (the map's key order aside), so that every reader,
//! this build's and the previous one's, Lua or Rust, reads it alike. A
//! create stores it as given; the conformance suite's hostile behaviours
//! write it too, as a store writer who knows the documented layout can.

use serde::Serialize;
#[cfg(feature = "testkit")]
use serde_json::Value;
use tessera_core::Session;

use super::{FORMAT, MAGIC, NEVER, body, lifetime_ms};

/// The whole value of `session`.
pub(crate) fn encode(session: &Session) -> Vec<u8> {
    encode_with_body(session, &body(session))
}

/// [`encode`] with `body` as the value's `b`, written as the scripts
/// write it: a MessagePack map whose `b` is a str (Lua's strings are
/// bytes; `cmsgpack` packs them as str).
fn encode_with_body(session: &Session, body: &[u8]) -> Vec<u8> {
    fn packed<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
        rmp_serde::to_vec(value).expect("a scalar always serializes")
    }
    fn raw_str(out: &mut Vec<u8>, bytes: &[u8]) {
        let len = bytes.len();
        let n = u32::try_from(len).expect("a session value under 4 GiB");
        match n {
            0..32 => out.push(0xa0 | u8::try_from(n).expect("under 32")),
            32..256 => out.extend([0xd9, u8::try_from(n).expect("under 256")]),
            256..65_536 => {
                out.push(0xda);
                out.extend(u16::try_from(n).expect("under 65536").to_be_bytes());
            }
            _ => {
                out.push(0xdb);
                out.extend(n.to_be_bytes());
            }
        }
        out.extend_from_slice(bytes);
    }
    let mut fields: Vec<(&str, Vec<u8>)> = vec![
        ("l", packed(&session.last_used.as_millis())),
        ("m", packed(&lifetime_ms(session.max_idle))),
        (
            "h",
            session
                .hard_expiry()
                .at()
                .map_or_else(|| packed(NEVER), |t| packed(&t.as_millis())),
        ),
        ("v", packed(&session.version)),
        ("s", packed(&crate::keys::subject_hash(&session.subject))),
        ("c", packed(session.context.as_str())),
    ];
    if let Some(k) = session.signer {
        fields.push(("k", packed(&k.get())));
    }
    let mut b = Vec::with_capacity(body.len() + 5);
    raw_str(&mut b, body);
    fields.push(("b", b));

    let mut value = MAGIC.to_vec();
    value.push(FORMAT);
    value.push(0x80 | u8::try_from(fields.len()).expect("eight fields at most"));
    for (name, packed_value) in fields {
        raw_str(&mut value, name.as_bytes());
        value.extend(packed_value);
    }
    value
}

/// [`encode`] with the claim `deep` replaced by `depth` nested arrays,
/// built as bytes.
#[cfg(feature = "testkit")]
pub(crate) fn encode_nested(session: &Session, depth: usize) -> Vec<u8> {
    const MARKER: &str = "@@nested@@";
    let mut s = session.clone();
    s.claims.insert("deep".into(), Value::from(MARKER));
    let plain = body(&s);
    let marker = rmp_serde::to_vec(MARKER).expect("a string serializes");
    let at = plain
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the marker is in the body");
    let mut nested = plain[..at].to_vec();
    // A one-element array, `depth` times, around nil.
    nested.extend(std::iter::repeat_n(0x91u8, depth));
    nested.push(0xc0);
    nested.extend_from_slice(&plain[at + marker.len()..]);
    encode_with_body(session, &nested)
}
