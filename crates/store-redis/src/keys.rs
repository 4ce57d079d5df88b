//! The key layout: where a session and a subject index live in Redis.
//!
//! ```text
//! <prefix>{<tag>}:s:<storage key>   string: one session (crate::value)
//! <prefix>{<tag>}:u:<subject hash>  sorted set: a subject's storage keys
//! ```
//!
//! Storage keys (32 bytes) and subject hashes (16 bytes) are written in
//! unpadded base64url, 43 and 22 characters: a third shorter than hex, in
//! every key name and index member.
//!
//! `<tag>` is the 4 hex digits of the [`SubjectTag`], in braces so that Redis
//! Cluster hashes only it: a subject's sessions and its index share one slot
//! and every script stays single-slot. The SID carries the same tag in its
//! first two key bytes, so a lookup by SID knows the slot without asking.
//! `<subject hash>` is a hash of the subject, so user names never appear in
//! key names (`SCAN`, `MONITOR`, slow logs).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::digest;
use tessera_core::Subject;
use tessera_crypto::{SessionRef, StorageKey, SubjectTag};

/// Domain label of the subject hash in index key names.
const SUBJECT_HASH_LABEL: &[u8] = b"tessera/redis-subject-index/v1\0";
/// Bytes of the SHA-256 kept for the index key name: 128 bits, so two
/// subjects that share a tag never share an index in practice.
const SUBJECT_HASH_LEN: usize = 16;

/// Builds key names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`, which the configuration has checked holds no
    /// brace (a brace would move the Cluster hash tag).
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The key holding the session `id`.
    pub(crate) fn session(&self, id: &SessionRef) -> String {
        let mut key = self.session_prefix(id.tag());
        B64.encode_string(id.storage_key().as_bytes(), &mut key);
        key
    }

    /// The start of every session key of `tag`; a storage key's base64url
    /// completes it. Scripts build the keys of index members with it.
    pub(crate) fn session_prefix(&self, tag: SubjectTag) -> String {
        format!("{}{{{}}}:s:", self.prefix, tag)
    }

    /// The subject index of `subject`.
    /// The index key named in a script that acts on the session `id` of
    /// `subject`: the subject's index; for a pre-login session, which has
    /// none, a key in the session's own slot that is never written.
    pub(crate) fn index_of(&self, id: &SessionRef, subject: &Subject) -> String {
        if subject.is_anonymous() {
            self.index_prefix(id.tag())
        } else {
            self.index(subject)
        }
    }

    pub(crate) fn index(&self, subject: &Subject) -> String {
        let tag = SubjectTag::of(subject.as_str());
        format!("{}{}", self.index_prefix(tag), subject_hash(subject))
    }

    /// The start of every index key of `tag`; a subject hash completes it.
    pub(crate) fn index_prefix(&self, tag: SubjectTag) -> String {
        format!("{}{{{}}}:u:", self.prefix, tag)
    }

    /// The `SCAN` pattern matching every session key under the prefix.
    /// The alias of an imported legacy SID. No hash tag: it need not share
    /// a slot with anything, and its storage key spreads aliases evenly.
    pub(crate) fn legacy_alias(&self, key: &StorageKey) -> String {
        format!("{}legacy:{}", self.prefix, key)
    }

    pub(crate) fn session_pattern(&self) -> String {
        format!("{}{{*}}:s:*", glob_escape(&self.prefix))
    }

    /// The `SCAN` pattern matching every index key under the prefix.
    pub(crate) fn index_pattern(&self) -> String {
        format!("{}{{*}}:u:*", glob_escape(&self.prefix))
    }

    /// The session a session key names, if it is one of ours.
    pub(crate) fn parse_session(&self, key: &str) -> Option<SessionRef> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix('{')?;
        let (tag, rest) = rest.split_once('}')?;
        let storage_key = rest.strip_prefix(":s:")?;
        Some(SessionRef::new(
            tag.parse().ok()?,
            parse_member(storage_key)?,
        ))
    }

    /// The tag of an index key, if it is one of ours.
    pub(crate) fn parse_index_tag(&self, key: &str) -> Option<SubjectTag> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix('{')?;
        let (tag, rest) = rest.split_once('}')?;
        rest.strip_prefix(":u:")?;
        tag.parse().ok()
    }
}

/// The subject's part of its index key name (base64url), also stored in
/// each session value (`s`) so a delete by storage key finds the index.
/// The subject's hash as the value and the index key carry it; `''` for a
/// pre-login session, which the scripts read as "no index entry".
pub(crate) fn subject_hash(subject: &Subject) -> String {
    if subject.is_anonymous() {
        return String::new();
    }
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(SUBJECT_HASH_LABEL);
    ctx.update(subject.as_str().as_bytes());
    let d = ctx.finish();
    B64.encode(&d.as_ref()[..SUBJECT_HASH_LEN])
}

/// A storage key as an index member and in its session's key name
/// (base64url, 43 characters).
pub(crate) fn member(key: &StorageKey) -> String {
    B64.encode(key.as_bytes())
}

/// The storage key an index member (or the end of a session key) names.
pub(crate) fn parse_member(text: &str) -> Option<StorageKey> {
    let mut bytes = [0u8; 32];
    match B64.decode_slice(text, &mut bytes) {
        Ok(32) => Some(StorageKey::from_bytes(bytes)),
        _ => None,
    }
}

/// Escapes Redis glob metacharacters so a prefix matches only itself.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(subject: &str) -> SessionRef {
        let tag = SubjectTag::of(subject);
        let mut key16 = [9u8; 16];
        key16[..2].copy_from_slice(tag.as_bytes());
        SessionRef::new(tag, StorageKey::from_sid_key_bytes(&key16))
    }

    #[test]
    fn session_and_index_share_the_hash_tag() {
        let keys = Keys::new("tessera:");
        let alice = Subject::new("alice").unwrap();
        let id = id("alice");
        let tag = SubjectTag::of("alice").to_hex();
        let session = keys.session(&id);
        let index = keys.index(&alice);
        assert_eq!(
            session,
            format!("tessera:{{{tag}}}:s:{}", member(&id.storage_key()))
        );
        assert_eq!(member(&id.storage_key()).len(), 43);
        assert_eq!(
            parse_member(&member(&id.storage_key())),
            Some(id.storage_key())
        );
        assert_eq!(parse_member("short"), None);
        assert_eq!(
            index,
            format!("tessera:{{{tag}}}:u:{}", subject_hash(&alice))
        );
        assert_eq!(subject_hash(&alice).len(), 22);
        assert!(!index.contains("alice"), "no user name in key names");
        assert_eq!(keys.parse_session(&session), Some(id));
        assert_eq!(keys.parse_session(&index), None);
        assert_eq!(keys.parse_index_tag(&index), Some(SubjectTag::of("alice")));
        assert_eq!(keys.parse_index_tag(&session), None);
        assert_eq!(
            fred::util::redis_keyslot(session.as_bytes()),
            fred::util::redis_keyslot(index.as_bytes()),
            "one Cluster slot"
        );
    }

    #[test]
    fn scan_patterns_escape_the_prefix() {
        let keys = Keys::new("a*b?[x]\\:");
        assert_eq!(keys.session_pattern(), "a\\*b\\?\\[x\\]\\\\:{*}:s:*");
        assert_eq!(keys.index_pattern(), "a\\*b\\?\\[x\\]\\\\:{*}:u:*");
    }
}
