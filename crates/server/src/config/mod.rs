//! Configuration: `settings.yml` (or TOML) and `sessionStore.properties`
//! files layered with environment variables and `-Dkey=value` arguments,
//! checked in full before anything starts.
//!
//! Public for programs that read a `tessera` configuration themselves
//! (tools beside a server, the tests and the fuzz targets).
//!
//! A YAML or TOML file holds up to three blocks (any other top-level block,
//! such as the rest of the SQL tool's `settings.yml`, is not read; see
//! [`IgnoredBlock`]); a `.properties` file holds dotted keys of the same
//! blocks (`sessionStore.maxLifetime=...`):
//!
//! * `tokenizer:` — the tokenizer's block, verbatim: `type` (`local`,
//!   `dynamodb`, `redis`), `timeout` (sliding minutes), `safe_password`,
//!   and the backend's settings;
//! * `sessionStore:` — the reference session store's properties
//!   (`apiAccessTokenSHA256`, `maxLifetime`, `quotaPerSubject`, ...);
//! * `server:` — listen address, request limits, data directory, logs.
//!
//! Layers, later winning: built-in defaults < the files, in the order
//! given < the tokenizer's
//! variables (`TOKENIZER_TYPE`, ..., `AWS_REGION_NAME`) < `TESSERA_*`
//! variables (`TESSERA_SESSIONSTORE__MAXLIFETIME`) < `-D` arguments
//! (`-DsessionStore.maxLifetime=-1`). `docs/configuration.md` is the
//! reference.
//!
//! [`load`] reports *every* problem at once, each naming its key and where
//! the value came from; no error quotes a secret.
//!
//! ```
//! use tessera_server::config::{self, ConfigSources};
//!
//! let sources = ConfigSources {
//!     env: vec![("TESSERA_DATA_DIR".into(), "/var/lib/tessera".into())],
//!     defines: vec!["sessionStore.quotaPerSubject=0".into()],
//!     ..ConfigSources::default()
//! };
//! let errors = config::load(&sources).unwrap_err();
//! let error = &errors.errors()[0];
//! assert_eq!(error.key(), "sessionStore.quotaPerSubject");
//! assert_eq!(
//!     error.to_string(),
//!     "sessionStore.quotaPerSubject (command-line argument -DsessionStore.quotaPerSubject): \
//!      0 is outside the allowed range 1..=25"
//! );
//! ```

mod files;
mod origin;
mod raw;
mod redact;
mod schema;
mod server;
mod session_store;
mod show;
mod sources;
mod strength;
mod tokenizer;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use files::IgnoredBlock;
pub use origin::{ConfigError, ConfigErrors, Origin};
pub use server::{
    DATA_DIR_ENV, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT, LogFormat, ServerSettings,
};
pub use session_store::{
    DEFAULT_EXPIRATION_INTERVAL, MAX_LABELLED_TOKENS, PRIMARY_LABEL, PurgeSchedule,
    SECONDARY_LABEL, SessionStoreSettings, TOKENIZER_DEFAULT_TIMEOUT,
};
pub use sources::{CONFIG_ENV, ConfigSources};
pub use tokenizer::{Backend, LocalSettings, Passwords, StoreType};

use raw::Raw;
use validate::Validator;

/// The folder of the local store inside the data directory.
pub const SESSIONS_DIR: &str = "sessions-store";

/// A checked configuration.
#[derive(Debug)]
pub struct Config {
    /// The backend and its settings.
    pub backend: Backend,
    /// The configured passwords; `None` in the embedded default, where the
    /// password lives in the data directory.
    pub passwords: Option<Passwords>,
    /// The `sessionStore:` block.
    pub session_store: SessionStoreSettings,
    /// The `server:` block.
    pub server: ServerSettings,
    /// Whether this is the embedded default: no configuration file, and
    /// neither `tokenizer.type` nor `tokenizer.safe_password` set. Then
    /// the store is the local folder in the data directory, and the
    /// `safe_password` and (unless token hashes are configured) the API
    /// token are generated there on the first start.
    pub embedded: bool,
    /// The configuration files read, in order.
    pub files: Vec<PathBuf>,
    /// The top-level blocks of those files that are not Tessera's and were
    /// not read (the rest of the SQL tool's `settings.yml`).
    pub ignored_blocks: Vec<IgnoredBlock>,
    /// What a reload compares to tell the keys that need a restart.
    restart_keys: RestartKeys,
}

/// The values of the keys that a running server takes only at a restart
/// (everything but the token hashes and the log level), as digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartKeys(BTreeMap<String, [u8; 32]>);

impl RestartKeys {
    /// The keys set, unset or changed between `self` and `newer`, in key
    /// order.
    pub fn changed(&self, newer: &Self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .0
            .iter()
            .filter(|(k, v)| newer.0.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .chain(newer.0.keys().filter(|k| !self.0.contains_key(*k)).cloned())
            .collect();
        keys.sort();
        keys
    }
}

impl Config {
    /// The effective configuration as YAML, secrets replaced by
    /// `<redacted>`, defaults filled in.
    pub fn to_redacted_yaml(&self) -> String {
        show::redacted_yaml(self)
    }

    /// The keys a running server takes only at a restart, for a reload to
    /// compare.
    pub fn restart_keys(&self) -> &RestartKeys {
        &self.restart_keys
    }
}

/// Where each value set in `sources` came from, by dotted key path as the
/// source spelled it, in key order. Keys left out take their default (or
/// are derived from other keys). Values are not included: some are secret.
///
/// Meant for a configuration [`load`] accepted; problems with the sources
/// themselves are ignored here.
pub fn origins(sources: &ConfigSources) -> Vec<(String, Origin)> {
    use figment::Provider as _;
    let figment = sources::figment(sources, &mut Vec::new(), &mut Vec::new());
    let mut found = Vec::new();
    if let Ok(profiles) = figment.data() {
        for dict in profiles.values() {
            collect_origins(&figment, "", dict, &mut found);
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.dedup_by(|a, b| a.0 == b.0);
    found
}

fn collect_origins(
    figment: &figment::Figment,
    prefix: &str,
    dict: &figment::value::Dict,
    found: &mut Vec<(String, Origin)>,
) {
    for (key, value) in dict {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value.as_dict() {
            Some(inner) if !inner.is_empty() => collect_origins(figment, &path, inner, found),
            _ => found.push((
                path,
                Origin::from_metadata(figment.get_metadata(value.tag())),
            )),
        }
    }
}

/// Reads and checks the configuration from `sources`.
///
/// # Errors
///
/// Every problem found: an unreadable file, an unknown key (anywhere), a
/// value of the wrong type or out of range, conflicting keys, a refused
/// password or a malformed token hash. Each error names its key and origin.
pub fn load(sources: &ConfigSources) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let mut ignored_blocks = Vec::new();
    let figment = sources::figment(sources, &mut errors, &mut ignored_blocks);
    if !sources.files.is_empty() && !errors.is_empty() {
        // Without the files, everything else would be misleading.
        return Err(ConfigErrors::new(errors));
    }
    let Some(raw) = Raw::read(&figment, &mut errors) else {
        return Err(ConfigErrors::new(errors));
    };

    let mut v = Validator::new(&raw, sources.files.last().map(PathBuf::as_path), errors);
    let embedded = tokenizer::is_embedded(&v, !sources.files.is_empty());
    let tokenizer = tokenizer::check(&mut v, embedded);
    let defaults = session_store::DefaultsFrom::of(&raw, &sources.files);
    let session_store = session_store::check(&mut v, tokenizer.timeout, defaults);
    let server = server::check(&mut v, sources);
    if let Some(metrics) = &server.metrics_token
        && let Some((label, _)) = session_store.tokens.iter().find(|(_, api)| api == metrics)
    {
        v.refuse(
            "server.metrics_token_sha256",
            format!(
                "is the hash of an API token (`{label}`): a scraper's token must not call the \
                 API, so give /metrics a token of its own (`tessera token new`)"
            ),
        );
    }
    let default_local_path = server.data_dir.as_ref().map(|d| d.join(SESSIONS_DIR));
    let backend = if embedded && server.data_dir.is_none() {
        v.missing(
            "server.data_dir",
            "no data directory for the embedded default: set server.data_dir or \
             TESSERA_DATA_DIR (neither XDG_DATA_HOME nor HOME is set)",
        );
        None
    } else {
        tokenizer
            .store_type
            .and_then(|t| tokenizer::backend(&mut v, t, default_local_path))
    };

    let errors = v.errors;
    match backend {
        Some(backend) if errors.is_empty() => Ok(Config {
            backend,
            passwords: tokenizer.passwords,
            session_store,
            server,
            embedded,
            files: sources.files.clone(),
            ignored_blocks,
            restart_keys: RestartKeys(raw.restart_digests()),
        }),
        _ => Err(ConfigErrors::new(errors)),
    }
}
