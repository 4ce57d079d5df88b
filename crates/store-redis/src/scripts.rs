//! The Lua scripts, one per operation, and how they are called.
//!
//! Each script is `scripts/prelude.lua` (shared helpers) followed by its own
//! file. Scripts are called with `EVALSHA`; a `NOSCRIPT` reply (a restarted
//! or flushed server, a new Cluster node) is answered with one `EVAL` of the
//! full text, which also caches it again on that node.

use fred::bytes_utils::Str;
use fred::interfaces::LuaInterface;
use fred::types::{Key, Value};
use ring::digest;

/// The helpers every script starts with.
const PRELUDE: &str = include_str!("scripts/prelude.lua");

macro_rules! script {
    ($name:literal) => {
        Script::new(
            $name,
            concat!(
                include_str!("scripts/prelude.lua"),
                include_str!(concat!("scripts/", $name, ".lua"))
            ),
        )
    };
}

/// One script: its text and SHA-1.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    name: &'static str,
    source: Str,
    sha: Str,
}

impl Script {
    fn new(name: &'static str, source: &'static str) -> Self {
        debug_assert!(source.starts_with(PRELUDE));
        let sha = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, source.as_bytes());
        let sha = tessera_crypto::to_hex(sha.as_ref());
        Self {
            name,
            source: Str::from_static(source),
            sha: sha.into(),
        }
    }

    /// The full Lua text.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Runs the script: `EVALSHA`, and on `NOSCRIPT` one `EVAL`.
    pub(crate) async fn run<C>(
        &self,
        client: &C,
        keys: Vec<Key>,
        args: Vec<Value>,
    ) -> Result<Value, fred::error::Error>
    where
        C: LuaInterface + Send + Sync,
    {
        match client
            .evalsha::<Value, _, _, _>(self.sha.clone(), keys.clone(), args.clone())
            .await
        {
            Err(e) if e.details().starts_with("NOSCRIPT") => {
                tracing::debug!(
                    script = self.name,
                    "script not cached on the server; sending it again"
                );
                client.eval(self.source.clone(), keys, args).await
            }
            other => other,
        }
    }
}

/// Every script of the store.
#[derive(Debug, Clone)]
pub(crate) struct Scripts {
    /// Create with the quota decision.
    pub(crate) create: Script,
    /// Create a pre-login session: no quota, no index.
    pub(crate) create_anonymous: Script,
    /// Get, and get-and-touch.
    pub(crate) touch: Script,
    /// Compare-and-set update.
    pub(crate) update: Script,
    /// Delete one session.
    pub(crate) delete: Script,
    /// List a subject's sessions.
    pub(crate) list: Script,
    /// Delete a subject's sessions.
    pub(crate) delete_subject: Script,
    /// Purge one expired session.
    pub(crate) purge_session: Script,
    /// Purge one subject index.
    pub(crate) purge_index: Script,
}

impl Scripts {
    /// The scripts, hashed.
    pub(crate) fn new() -> Self {
        Self {
            create: script!("create"),
            create_anonymous: script!("create_anonymous"),
            touch: script!("touch"),
            update: script!("update"),
            delete: script!("delete"),
            list: script!("list"),
            delete_subject: script!("delete_subject"),
            purge_session: script!("purge_session"),
            purge_index: script!("purge_index"),
        }
    }

    /// All scripts, for loading.
    pub(crate) fn all(&self) -> [&Script; 9] {
        [
            &self.create,
            &self.create_anonymous,
            &self.touch,
            &self.update,
            &self.delete,
            &self.list,
            &self.delete_subject,
            &self.purge_session,
            &self.purge_index,
        ]
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_scripts_know_the_newest_value_format() {
        let line = format!("local TESSERA_FORMAT = {}\n", crate::value::FORMAT);
        assert!(
            super::PRELUDE.contains(&line),
            "scripts/prelude.lua must say `{}`",
            line.trim_end()
        );
    }

    #[test]
    fn the_scripts_know_the_record_size_cap() {
        let line = format!(
            "local TESSERA_MAX_BYTES = {}\n",
            tessera_store::backend::record::MAX_RECORD_BYTES
        );
        assert!(
            super::PRELUDE.contains(&line),
            "scripts/prelude.lua must say `{}`",
            line.trim_end()
        );
    }
}
