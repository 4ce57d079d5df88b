//! The `tokenizer:` block: which backend, its connection settings, the
//! sliding `timeout` and the `safe_password`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tessera_core::Lifetime;
use tessera_crypto::{CryptoError, DeploymentSalt, SafePassword};

use tessera_store_dynamodb::{DynamoDbConfig, DynamoDbError};
use tessera_store_redis::{ConnectionOptions, RedisConfig, RedisError, SentinelConfig};

use super::origin::Origin;
use super::schema::{self, Scope};
use super::strength;
use super::validate::Validator;

/// The backend named by `tokenizer.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// `local`: one folder on this host.
    Local,
    /// `redis`.
    Redis,
    /// `dynamodb`.
    DynamoDb,
}

impl StoreType {
    /// The configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Redis => "redis",
            Self::DynamoDb => "dynamodb",
        }
    }

    fn scope(self) -> Scope {
        match self {
            Self::Local => Scope::Local,
            Self::Redis => Scope::Redis,
            Self::DynamoDb => Scope::DynamoDb,
        }
    }

    fn uses(self, scope: Scope) -> bool {
        scope == Scope::Any
            || scope == self.scope()
            || (scope == Scope::Remote && self != Self::Local)
    }
}

impl fmt::Display for StoreType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of the local folder store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// The folder (`tokenizer.path`; default `<data_dir>/sessions-store`).
    pub path: PathBuf,
    /// Touch coalescing window (`tokenizer.touch_window_ms`), if set.
    pub touch_window: Option<Duration>,
}

/// The backend and its settings.
///
/// The Redis and DynamoDB settings are those backends' own configuration
/// types, filled from the `tokenizer:` block's keys of the same names.
#[derive(Debug, Clone)]
pub enum Backend {
    /// `type: local`.
    Local(LocalSettings),
    /// `type: redis`.
    Redis(RedisConfig),
    /// `type: dynamodb`.
    DynamoDb(DynamoDbConfig),
}

impl Backend {
    /// The backend's type.
    pub fn store_type(&self) -> StoreType {
        match self {
            Self::Local(_) => StoreType::Local,
            Self::Redis(_) => StoreType::Redis,
            Self::DynamoDb(_) => StoreType::DynamoDb,
        }
    }
}

/// The configured `safe_password` and `previous_safe_passwords`, each
/// checked against the password rule, and the deployment's salts.
/// **Secret.**
pub struct Passwords {
    /// Signs new SIDs and seals new credentials.
    pub current: SafePassword,
    /// Still verify old SIDs and open old credentials.
    pub previous: Vec<SafePassword>,
    /// `tokenizer.safe_password_salt`: the current password's salt.
    pub salt: Option<DeploymentSalt>,
    /// `tokenizer.previous_safe_password_salt` (default: `salt`; `none`
    /// for the fixed salt alone): the previous passwords' salt.
    pub previous_salt: Option<DeploymentSalt>,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("previous", &self.previous.len())
            .finish_non_exhaustive()
    }
}

/// What the tokenizer block yields.
pub(crate) struct Tokenizer {
    /// `None` when `tokenizer.type` was refused.
    pub(crate) store_type: Option<StoreType>,
    /// `None` in the embedded default (the password lives in the data
    /// directory) or when a password was refused.
    pub(crate) passwords: Option<Passwords>,
    /// `tokenizer.timeout`.
    pub(crate) timeout: Option<Lifetime>,
}

/// Whether the embedded default applies: no configuration file, and neither
/// `tokenizer.type` nor `tokenizer.safe_password` set anywhere.
pub(crate) fn is_embedded(v: &Validator<'_>, has_file: bool) -> bool {
    !has_file && !v.is_set("tokenizer.type") && !v.is_set("tokenizer.safe_password")
}

pub(crate) fn check(v: &mut Validator<'_>, embedded: bool) -> Tokenizer {
    let store_type = match v.text("tokenizer.type") {
        None if embedded => Some(StoreType::Local),
        None => {
            v.missing(
                "tokenizer.type",
                "is required: one of local, dynamodb, redis",
            );
            None
        }
        Some(("local", _)) => Some(StoreType::Local),
        Some(("redis", _)) => Some(StoreType::Redis),
        Some(("dynamodb", _)) => Some(StoreType::DynamoDb),
        Some((other, _)) => {
            let message = format!("`{other}` is not one of local, dynamodb, redis");
            v.refuse("tokenizer.type", message);
            None
        }
    };
    if let Some(store_type) = store_type {
        check_scopes(v, store_type);
    }

    let timeout = v.integer("tokenizer.timeout").and_then(|(minutes, _)| {
        match Lifetime::from_minutes("tokenizer.timeout", minutes) {
            Ok(lifetime) => Some(lifetime),
            Err(e) => {
                v.core("tokenizer.timeout", &e);
                None
            }
        }
    });

    let passwords = if embedded { None } else { passwords(v) };

    Tokenizer {
        store_type,
        passwords,
        timeout,
    }
}

/// Keys of another backend than the chosen one are errors when they come
/// from the file or a `-D` argument. From the environment they are ignored:
/// an environment shared by several services (say one with
/// `AWS_REGION_NAME`) must not stop a local store from starting.
fn check_scopes(v: &mut Validator<'_>, store_type: StoreType) {
    let mut refused = Vec::new();
    for (path, entry) in v.raw().with_prefix("tokenizer.") {
        let Some(spec) = schema::find(path) else {
            continue;
        };
        if !store_type.uses(spec.scope) && !matches!(entry.origin, Origin::Env(_)) {
            let owner = match spec.scope {
                Scope::Local => "local",
                Scope::Redis => "redis",
                Scope::Remote => "redis and dynamodb",
                Scope::DynamoDb | Scope::Any => "dynamodb",
            };
            refused.push((
                path.to_owned(),
                format!("applies only to type {owner}, but tokenizer.type is {store_type}"),
            ));
        }
    }
    for (path, message) in refused {
        v.refuse(&path, message);
    }
}

/// The value of a salt key that means "no salt of the deployment's own"
/// (shorter than any salt, so it cannot be one).
const NO_SALT: &str = "none";

fn passwords(v: &mut Validator<'_>) -> Option<Passwords> {
    let current = match v.text("tokenizer.safe_password") {
        None => {
            v.missing(
                "tokenizer.safe_password",
                "is required: it derives the keys that sign SIDs and seal credentials \
                 (at least 16 characters; `openssl rand -base64 32` makes a good one)",
            );
            None
        }
        Some((text, _)) => match SafePassword::new(text) {
            Ok(password) => match strength::too_guessable(text) {
                None => Some(password),
                Some(why) => {
                    v.refuse("tokenizer.safe_password", why);
                    None
                }
            },
            Err(e) => {
                v.refuse("tokenizer.safe_password", password_message(&e));
                None
            }
        },
    };
    let mut previous = Vec::new();
    if let Some((list, origin)) = v.list("tokenizer.previous_safe_passwords") {
        let origin = origin.clone();
        for (i, text) in list.iter().enumerate() {
            match SafePassword::new(text.as_str()) {
                Ok(password) => previous.push(password),
                Err(e) => v.error(
                    &format!("tokenizer.previous_safe_passwords.{i}"),
                    Some(origin.clone()),
                    password_message(&e),
                ),
            }
        }
    }
    let salt = deployment_salt(v, "tokenizer.safe_password_salt");
    let previous_salt = if v.text("tokenizer.previous_safe_password_salt").is_some() {
        deployment_salt(v, "tokenizer.previous_safe_password_salt")
    } else {
        salt.clone()
    };
    current.map(|current| Passwords {
        current,
        previous,
        salt,
        previous_salt,
    })
}

/// The salt at `key`; `None` when unset or `none` (no salt of the
/// deployment's own).
fn deployment_salt(v: &mut Validator<'_>, key: &str) -> Option<DeploymentSalt> {
    let (text, _) = v.text(key)?;
    if text == NO_SALT {
        return None;
    }
    match DeploymentSalt::new(text) {
        Ok(salt) => Some(salt),
        Err(e) => {
            v.refuse(
                key,
                format!("{e} (`openssl rand -base64 24` makes a good one)"),
            );
            None
        }
    }
}

fn password_message(error: &CryptoError) -> String {
    match error {
        CryptoError::WeakPassword { reason } => format!(
            "refused by the password rule: {reason} (use at least 16 characters with at least 8 \
             different ones, not an example or default value; `openssl rand -base64 32` makes a \
             good one)"
        ),
        other => other.to_string(),
    }
}

/// The backend settings for `store_type`. `default_local_path` is the
/// data directory's `sessions-store` folder, if a data directory is known.
pub(crate) fn backend(
    v: &mut Validator<'_>,
    store_type: StoreType,
    default_local_path: Option<PathBuf>,
) -> Option<Backend> {
    match store_type {
        StoreType::Local => local(v, default_local_path).map(Backend::Local),
        StoreType::Redis => redis(v).map(Backend::Redis),
        StoreType::DynamoDb => dynamodb(v).map(Backend::DynamoDb),
    }
}

fn millis(v: &mut Validator<'_>, key: &str, default: Duration) -> Duration {
    v.integer_in(key, 1..=600_000, "milliseconds")
        .map_or(default, |ms| Duration::from_millis(ms.unsigned_abs()))
}

fn text(v: &Validator<'_>, key: &str) -> Option<String> {
    v.text(key).map(|(s, _)| s.to_owned())
}

fn local(v: &mut Validator<'_>, default_path: Option<PathBuf>) -> Option<LocalSettings> {
    let touch_window = v
        .integer_in("tokenizer.touch_window_ms", 0..=3_600_000, "milliseconds")
        .map(|ms| Duration::from_millis(ms.unsigned_abs()));
    let path = v.path("tokenizer.path").or(default_path);
    let Some(path) = path else {
        v.missing(
            "tokenizer.path",
            "is required for type local when no data directory is known \
             (set tokenizer.path, server.data_dir or TESSERA_DATA_DIR)",
        );
        return None;
    };
    Some(LocalSettings { path, touch_window })
}

/// The Redis store's configuration, checked by the store's own rules
/// without connecting.
fn redis(v: &mut Validator<'_>) -> Option<RedisConfig> {
    let before = v.errors.len();
    let defaults = RedisConfig::default();
    let port = v
        .integer_in("tokenizer.port", 1..=65_535, "")
        .and_then(|p| u16::try_from(p).ok());
    let db = v
        .integer_in("tokenizer.options.db", 0..=255, "")
        .and_then(|d| u8::try_from(d).ok());
    let pool_size = v
        .integer_in("tokenizer.pool_size", 1..=256, "connections")
        .and_then(|p| usize::try_from(p).ok())
        .unwrap_or(defaults.pool_size);
    let sentinel = match (
        text(v, "tokenizer.sentinel.service_name"),
        v.list("tokenizer.sentinel.nodes").map(|(l, _)| l.to_vec()),
    ) {
        (Some(service_name), Some(nodes)) => Some(SentinelConfig {
            service_name,
            nodes,
            username: text(v, "tokenizer.sentinel.username"),
            password: text(v, "tokenizer.sentinel.password"),
        }),
        (None, None) => None,
        (Some(_), None) => {
            v.missing(
                "tokenizer.sentinel.nodes",
                "is required with sentinel.service_name",
            );
            None
        }
        (None, Some(_)) => {
            v.missing(
                "tokenizer.sentinel.service_name",
                "is required with sentinel.nodes",
            );
            None
        }
    };
    let config = RedisConfig {
        url: text(v, "tokenizer.url"),
        host: text(v, "tokenizer.host"),
        port,
        options: ConnectionOptions {
            ssl: v.boolean("tokenizer.options.ssl").is_some_and(|(b, _)| b),
            username: text(v, "tokenizer.options.username"),
            password: text(v, "tokenizer.options.password"),
            db,
        },
        cluster: v.boolean("tokenizer.cluster").is_some_and(|(b, _)| b),
        cluster_nodes: v
            .list("tokenizer.cluster_nodes")
            .map(|(l, _)| l.to_vec())
            .unwrap_or_default(),
        sentinel,
        tls_ca_file: v.path("tokenizer.tls_ca_file"),
        tls_cert_file: v.path("tokenizer.tls_cert_file"),
        tls_key_file: v.path("tokenizer.tls_key_file"),
        tls_insecure_skip_verify: v
            .boolean("tokenizer.tls_insecure_skip_verify")
            .is_some_and(|(b, _)| b),
        pool_size,
        connect_timeout: millis(v, "tokenizer.connect_timeout_ms", defaults.connect_timeout),
        command_timeout: millis(v, "tokenizer.command_timeout_ms", defaults.command_timeout),
        key_prefix: text(v, "tokenizer.key_prefix").unwrap_or(defaults.key_prefix),
        touch_window: v
            .integer_in("tokenizer.touch_window_ms", 0..=3_600_000, "milliseconds")
            .map_or(defaults.touch_window, |ms| {
                Duration::from_millis(ms.unsigned_abs())
            }),
    };
    if let Some(url) = &config.url
        && !url.starts_with("redis")
    {
        v.refuse(
            "tokenizer.url",
            "must be a redis:// or rediss:// (TLS) URL, or redis-cluster:// or redis-sentinel://",
        );
    }
    if v.errors.len() > before {
        return None;
    }
    match config.validate() {
        Ok(()) => Some(config),
        Err(e) => {
            redis_error(v, &config, &e);
            None
        }
    }
}

/// Blames the key a Redis configuration error is about.
fn redis_error(v: &mut Validator<'_>, config: &RedisConfig, error: &RedisError) {
    let message = std::error::Error::source(error)
        .map_or_else(|| error.to_string(), |source| format!("{error}: {source}"));
    let key = match error {
        RedisError::Servers { .. } => {
            let given = [
                ("tokenizer.url", config.url.is_some()),
                ("tokenizer.host", config.host.is_some()),
                ("tokenizer.cluster_nodes", !config.cluster_nodes.is_empty()),
                ("tokenizer.sentinel.service_name", config.sentinel.is_some()),
            ];
            let Some((key, _)) = given.iter().find(|(_, set)| *set) else {
                v.missing(
                    "tokenizer.host",
                    "type redis needs tokenizer.host (and port), tokenizer.url, \
                     tokenizer.cluster_nodes or tokenizer.sentinel",
                );
                return;
            };
            (*key).to_owned()
        }
        RedisError::Invalid { setting, .. } | RedisError::Url { setting, .. } => match *setting {
            "db" => "tokenizer.options.db".to_owned(),
            other => format!("tokenizer.{other}"),
        },
        RedisError::Tls { setting, .. } => match *setting {
            "ssl" => "tokenizer.options.ssl".to_owned(),
            "tls_ca_file" if config.tls_ca_file.is_none() => "tokenizer.options.ssl".to_owned(),
            other => format!("tokenizer.{other}"),
        },
        _ => "tokenizer.type".to_owned(),
    };
    if v.text(&key).is_some() || v.is_set(&key) {
        v.refuse(&key, message);
    } else {
        v.missing(&key, message);
    }
}

/// The DynamoDB store's configuration, checked by the store's own rules
/// without contacting AWS.
fn dynamodb(v: &mut Validator<'_>) -> Option<DynamoDbConfig> {
    let before = v.errors.len();
    let Some(table) = text(v, "tokenizer.table") else {
        v.missing("tokenizer.table", "is required for type dynamodb");
        return None;
    };
    let mut config = DynamoDbConfig::new(table);
    config.aws_region_name = text(v, "tokenizer.aws_region_name");
    config.profile_name = text(v, "tokenizer.profile_name");
    config.aws_profile_name = text(v, "tokenizer.aws_profile_name");
    config.aws_access_key = text(v, "tokenizer.aws_access_key");
    config.aws_secret_key = text(v, "tokenizer.aws_secret_key");
    config.endpoint_url = text(v, "tokenizer.endpoint_url");
    let count = |v: &mut Validator<'_>, key: &str, default: u32| {
        v.integer_in(key, 1..=10_000, "")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default)
    };
    config.max_attempts = count(v, "tokenizer.max_attempts", config.max_attempts);
    config.create_attempts = count(v, "tokenizer.create_attempts", config.create_attempts);
    config.scan_page_size = count(v, "tokenizer.scan_page_size", config.scan_page_size);
    config.connect_timeout = millis(v, "tokenizer.connect_timeout_ms", config.connect_timeout);
    config.attempt_timeout = millis(v, "tokenizer.attempt_timeout_ms", config.attempt_timeout);
    if let Some(ms) = v.integer_in("tokenizer.touch_window_ms", 0..=3_600_000, "milliseconds") {
        config.touch_window = Duration::from_millis(ms.unsigned_abs());
    }
    if let Some((rate, _)) = v.number("tokenizer.max_read_units_per_second") {
        config.max_read_units_per_second = rate;
    }
    if v.errors.len() > before {
        return None;
    }
    match config.validate() {
        Ok(()) => Some(config),
        Err(DynamoDbError::InvalidConfig { key, reason }) => {
            let key = format!("tokenizer.{key}");
            if v.is_set(&key) {
                v.refuse(&key, reason);
            } else {
                v.missing(&key, reason);
            }
            None
        }
        Err(other) => {
            v.refuse("tokenizer.type", other.to_string());
            None
        }
    }
}
