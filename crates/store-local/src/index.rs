//! The subject index file: which sessions a subject has.

use serde::{Deserialize, Serialize};
use tessera_core::Subject;
use tessera_crypto::SessionRef;
use tessera_store::StoreError;

use crate::layout::FORMAT;

#[derive(Serialize, Deserialize)]
struct IndexFile {
    format: u64,
    sub: Subject,
    sessions: Vec<String>,
}

/// Encodes a subject's index.
pub(crate) fn encode(subject: &Subject, sessions: &[SessionRef]) -> Vec<u8> {
    serde_json::to_vec(&IndexFile {
        format: FORMAT,
        sub: subject.clone(),
        sessions: sessions.iter().map(ToString::to_string).collect(),
    })
    .expect("an index always serializes")
}

/// Decodes an index file into its subject and session references.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Subject, Vec<SessionRef>), StoreError> {
    let file: IndexFile = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::corrupt("subject index file does not decode", e))?;
    if file.format != FORMAT {
        return Err(StoreError::UnsupportedFormat {
            found: file.format,
            supported: FORMAT,
        });
    }
    let refs = file
        .sessions
        .iter()
        .map(|s| s.parse::<SessionRef>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::corrupt("subject index holds a malformed session reference", e))?;
    Ok((file.sub, refs))
}
