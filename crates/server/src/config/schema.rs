//! Every configuration key Tessera knows: its path, its type and the
//! backend it applies to.
//!
//! This one table drives the unknown-key check, the typing of values that
//! arrive as text (environment variables, `-D` arguments), the mapping of
//! `TESSERA_*` variable names, and the redaction of secrets in
//! `tessera config show`.

/// The type of a configuration value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string.
    Text,
    /// A string that is a secret: never printed, never quoted in errors.
    Secret,
    /// A string that may hold a secret inside (a URL with a password).
    Url,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A number, possibly with a fraction.
    Number,
    /// A list of strings.
    TextList,
    /// A list of URLs that may carry passwords.
    UrlList,
    /// A list of secret strings.
    SecretList,
}

/// Which `tokenizer.type` a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Any backend (or not a backend key at all).
    Any,
    /// `type: local` only.
    Local,
    /// `type: redis` only.
    Redis,
    /// `type: dynamodb` only.
    DynamoDb,
    /// `type: redis` or `type: dynamodb`.
    Remote,
}

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeySpec {
    /// The dotted path, in its canonical spelling.
    pub(crate) path: &'static str,
    /// The value's type.
    pub(crate) kind: Kind,
    /// The backend it applies to.
    pub(crate) scope: Scope,
}

const fn key(path: &'static str, kind: Kind, scope: Scope) -> KeySpec {
    KeySpec { path, kind, scope }
}

/// The prefix of the labelled API token hashes,
/// `sessionStore.apiAccessTokenSHA256.<label>`.
pub(crate) const LABELLED_TOKEN_PREFIX: &str = "apiAccessTokenSHA256.";

/// The block that holds labelled token hashes.
pub(crate) const SESSION_STORE: &str = "sessionStore";

/// Tessera's top-level blocks. Any other top-level block of a YAML or TOML
/// file belongs to another program (the SQL tool's `settings.yml`) and is
/// not read, unless its name is close to one of these.
pub(crate) const BLOCKS: [&str; 3] = ["tokenizer", SESSION_STORE, "server"];

/// The most single-character edits (after folding case and underscores) by
/// which a name may differ from a key or block and still be taken for a
/// misspelling of it: one per three characters of the name's last part,
/// and never more than two, so that short names do not match everything.
fn max_edits(name: &str) -> usize {
    let last = name.rsplit('.').next().unwrap_or(name);
    (last.chars().count() / 3).min(2)
}

/// Every key, grouped by block.
pub(crate) const KEYS: &[KeySpec] = &[
    // The tokenizer block, as the tokenizer documents it.
    key("tokenizer.type", Kind::Text, Scope::Any),
    key("tokenizer.timeout", Kind::Integer, Scope::Any),
    key("tokenizer.safe_password", Kind::Secret, Scope::Any),
    key(
        "tokenizer.previous_safe_passwords",
        Kind::SecretList,
        Scope::Any,
    ),
    key("tokenizer.safe_password_salt", Kind::Text, Scope::Any),
    key(
        "tokenizer.previous_safe_password_salt",
        Kind::Text,
        Scope::Any,
    ),
    key("tokenizer.path", Kind::Text, Scope::Local),
    key("tokenizer.touch_window_ms", Kind::Integer, Scope::Any),
    key("tokenizer.connect_timeout_ms", Kind::Integer, Scope::Remote),
    // DynamoDB, as the tokenizer documents it, plus the store's own tuning.
    key("tokenizer.table", Kind::Text, Scope::DynamoDb),
    key("tokenizer.aws_region_name", Kind::Text, Scope::DynamoDb),
    key("tokenizer.profile_name", Kind::Text, Scope::DynamoDb),
    key("tokenizer.aws_profile_name", Kind::Text, Scope::DynamoDb),
    key("tokenizer.aws_access_key", Kind::Text, Scope::DynamoDb),
    key("tokenizer.aws_secret_key", Kind::Secret, Scope::DynamoDb),
    key("tokenizer.endpoint_url", Kind::Text, Scope::DynamoDb),
    key("tokenizer.max_attempts", Kind::Integer, Scope::DynamoDb),
    key(
        "tokenizer.attempt_timeout_ms",
        Kind::Integer,
        Scope::DynamoDb,
    ),
    key("tokenizer.create_attempts", Kind::Integer, Scope::DynamoDb),
    key("tokenizer.scan_page_size", Kind::Integer, Scope::DynamoDb),
    key(
        "tokenizer.max_read_units_per_second",
        Kind::Number,
        Scope::DynamoDb,
    ),
    // Redis: the tokenizer's host/port/options, or a URL, Cluster nodes or
    // Sentinel.
    key("tokenizer.url", Kind::Url, Scope::Redis),
    key("tokenizer.host", Kind::Text, Scope::Redis),
    key("tokenizer.port", Kind::Integer, Scope::Redis),
    key("tokenizer.options.ssl", Kind::Boolean, Scope::Redis),
    key("tokenizer.options.username", Kind::Text, Scope::Redis),
    key("tokenizer.options.password", Kind::Secret, Scope::Redis),
    key("tokenizer.options.db", Kind::Integer, Scope::Redis),
    key("tokenizer.cluster", Kind::Boolean, Scope::Redis),
    key("tokenizer.cluster_nodes", Kind::UrlList, Scope::Redis),
    key("tokenizer.sentinel.service_name", Kind::Text, Scope::Redis),
    key("tokenizer.sentinel.nodes", Kind::TextList, Scope::Redis),
    key("tokenizer.sentinel.username", Kind::Text, Scope::Redis),
    key("tokenizer.sentinel.password", Kind::Secret, Scope::Redis),
    key("tokenizer.tls_ca_file", Kind::Text, Scope::Redis),
    key("tokenizer.tls_cert_file", Kind::Text, Scope::Redis),
    key("tokenizer.tls_key_file", Kind::Text, Scope::Redis),
    key(
        "tokenizer.tls_insecure_skip_verify",
        Kind::Boolean,
        Scope::Redis,
    ),
    key("tokenizer.pool_size", Kind::Integer, Scope::Redis),
    key("tokenizer.command_timeout_ms", Kind::Integer, Scope::Redis),
    key("tokenizer.key_prefix", Kind::Text, Scope::Redis),
    // The session store block, with the reference session store's names.
    key("sessionStore.apiAccessTokenSHA256", Kind::Text, Scope::Any),
    key(
        "sessionStore.secondaryAPIAccessTokenSHA256",
        Kind::Text,
        Scope::Any,
    ),
    key("sessionStore.maxLifetime", Kind::Integer, Scope::Any),
    key("sessionStore.authLifetime", Kind::Integer, Scope::Any),
    key("sessionStore.maxIdleTime", Kind::Integer, Scope::Any),
    key("sessionStore.maxLifetimeCeiling", Kind::Integer, Scope::Any),
    key(
        "sessionStore.authLifetimeCeiling",
        Kind::Integer,
        Scope::Any,
    ),
    key("sessionStore.maxIdleTimeCeiling", Kind::Integer, Scope::Any),
    key(
        "sessionStore.preLoginMaxLifetime",
        Kind::Integer,
        Scope::Any,
    ),
    key(
        "sessionStore.preLoginMaxIdleTime",
        Kind::Integer,
        Scope::Any,
    ),
    key("sessionStore.quotaPerSubject", Kind::Integer, Scope::Any),
    key("sessionStore.onQuotaExhaustion", Kind::Text, Scope::Any),
    key("sessionStore.acceptLegacySIDs", Kind::Boolean, Scope::Any),
    key(
        "sessionStore.acceptUnsignedRecords",
        Kind::Boolean,
        Scope::Any,
    ),
    key(
        "sessionStore.internal.subjectIndexPurgeInterval",
        Kind::Integer,
        Scope::Any,
    ),
    key(
        "sessionStore.sessionMap.expirationInterval",
        Kind::Integer,
        Scope::Any,
    ),
    // The server block.
    key("server.listen", Kind::Text, Scope::Any),
    key("server.max_body_bytes", Kind::Integer, Scope::Any),
    key("server.max_header_bytes", Kind::Integer, Scope::Any),
    key("server.request_timeout_ms", Kind::Integer, Scope::Any),
    key("server.max_connections", Kind::Integer, Scope::Any),
    key("server.shutdown_timeout_ms", Kind::Integer, Scope::Any),
    key("server.write_timeout_ms", Kind::Integer, Scope::Any),
    key("server.data_dir", Kind::Text, Scope::Any),
    key("server.log_format", Kind::Text, Scope::Any),
    key("server.log_level", Kind::Text, Scope::Any),
    key("server.metrics_token_sha256", Kind::Text, Scope::Any),
    key("server.tls_cert_file", Kind::Text, Scope::Any),
    key("server.tls_key_file", Kind::Text, Scope::Any),
];

/// Whether a running server takes a new value of `path` on a reload
/// (SIGHUP): the token hashes and the log level. Every other key takes
/// effect only at a restart.
pub(crate) fn is_live(path: &str) -> bool {
    matches!(
        path,
        "sessionStore.apiAccessTokenSHA256"
            | "sessionStore.secondaryAPIAccessTokenSHA256"
            | "server.metrics_token_sha256"
            | "server.log_level"
    ) || labelled_token(path).is_some()
}

/// The key with this exact path.
pub(crate) fn find(path: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.path == path)
}

/// Whether some key lives below `prefix` (so a table is expected there).
pub(crate) fn is_table(prefix: &str) -> bool {
    KEYS.iter().any(|k| {
        k.path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The label of a labelled token key (`sessionStore.apiAccessTokenSHA256.ops`
/// → `ops`), if `path` is one.
pub(crate) fn labelled_token(path: &str) -> Option<&str> {
    path.strip_prefix(SESSION_STORE)?
        .strip_prefix('.')?
        .strip_prefix(LABELLED_TOKEN_PREFIX)
}

/// Whether `label` is acceptable for a labelled token: 1 to 64 characters
/// from `A-Za-z0-9_-`.
pub(crate) fn is_valid_label(label: &str) -> bool {
    (1..=64).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Splits a dotted key into path segments, keeping a labelled token key
/// (`sessionStore.apiAccessTokenSHA256.<label>`) as one segment below
/// `sessionStore`, because `apiAccessTokenSHA256` itself holds a string.
///
/// `parents` are the segments above `key` (empty at the top level).
pub(crate) fn split_path(parents: &[String], key: &str) -> Vec<String> {
    let mut segments: Vec<String> = parents.to_vec();
    segments.extend(key.split('.').map(str::to_owned));
    if segments.len() > 2 && segments[0] == SESSION_STORE && segments[1] == "apiAccessTokenSHA256" {
        let label = segments[2..].join(".");
        segments.truncate(1);
        segments.push(format!("{LABELLED_TOKEN_PREFIX}{label}"));
    }
    segments
}

/// The Tessera block `name` is a misspelling of, if any: the same name but
/// for case and underscores, or a few edits away ([`max_edits`]).
pub(crate) fn near_block(name: &str) -> Option<&'static str> {
    let folded = fold(name);
    BLOCKS
        .into_iter()
        .find(|block| strsim::levenshtein(&folded, &fold(block)) <= max_edits(&folded))
}

/// The key or table to suggest in an unknown-key error: one whose spelling
/// differs from `path` only in case or underscores, else the closest one a
/// few edits away ([`max_edits`]).
pub(crate) fn suggestion(path: &str) -> Option<&'static str> {
    let wanted = fold(path);
    // Every key and every table above a key.
    let candidates = || {
        KEYS.iter().flat_map(|k| {
            k.path
                .match_indices('.')
                .map(|(i, _)| &k.path[..i])
                .chain([k.path])
        })
    };
    if let Some(same) = candidates().find(|p| fold(p) == wanted) {
        return Some(same);
    }
    candidates()
        .map(|p| (strsim::levenshtein(&fold(p), &wanted), p))
        .filter(|(edits, _)| *edits <= max_edits(&wanted))
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, p)| p)
}

/// Lowercase with underscores removed: how `TESSERA_*` variable segments
/// are compared with key segments.
pub(crate) fn fold(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_unique_and_tables_are_not_keys() {
        for (i, a) in KEYS.iter().enumerate() {
            for b in &KEYS[i + 1..] {
                assert_ne!(fold(a.path), fold(b.path), "{} clashes", a.path);
            }
            assert!(!is_table(a.path), "{} is both a key and a table", a.path);
        }
    }

    #[test]
    fn labelled_keys_stay_one_segment() {
        assert_eq!(
            split_path(&[], "sessionStore.apiAccessTokenSHA256.ops"),
            ["sessionStore", "apiAccessTokenSHA256.ops"]
        );
        assert_eq!(
            split_path(&["sessionStore".into()], "apiAccessTokenSHA256.ops"),
            ["sessionStore", "apiAccessTokenSHA256.ops"]
        );
        assert_eq!(
            split_path(
                &["sessionStore".into()],
                "internal.subjectIndexPurgeInterval"
            ),
            ["sessionStore", "internal", "subjectIndexPurgeInterval"]
        );
        assert_eq!(
            split_path(&[], "sessionStore.apiAccessTokenSHA256"),
            ["sessionStore", "apiAccessTokenSHA256"]
        );
        assert_eq!(
            labelled_token("sessionStore.apiAccessTokenSHA256.ops"),
            Some("ops")
        );
    }

    #[test]
    fn suggestions_ignore_case_and_underscores() {
        assert_eq!(
            suggestion("sessionstore.maxlifetime"),
            Some("sessionStore.maxLifetime")
        );
        assert_eq!(
            suggestion("tokenizer.safepassword"),
            Some("tokenizer.safe_password")
        );
        assert_eq!(suggestion("sessionstore"), Some("sessionStore"));
        assert_eq!(suggestion("tokenizer.nope"), None);
        assert_eq!(suggestion("sesionStore"), Some("sessionStore"));
        assert_eq!(
            suggestion("sessionStore.maxLifetme"),
            Some("sessionStore.maxLifetime")
        );
        assert_eq!(
            suggestion("sesionStore.maxLifetime"),
            Some("sessionStore.maxLifetime")
        );
        assert_eq!(suggestion("server.lisen"), Some("server.listen"));
        assert_eq!(suggestion("server.timeout"), None);
        assert_eq!(near_block("sesionStore"), Some("sessionStore"));
        assert_eq!(near_block("Tokeniser"), Some("tokenizer"));
        assert_eq!(near_block("settings"), None);
    }
}
