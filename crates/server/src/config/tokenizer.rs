//! The `tokenizer:` block: which backend, its connection settings, the
//! sliding `timeout` and the `safe_password`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tessera_core::Lifetime;
use tessera_crypto::{CryptoError, SafePassword};

use super::origin::Origin;
use super::schema::{self, Scope};
use super::secret::Secret;
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

/// Settings of the Redis store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `tokenizer.url` (`redis://` or `rediss://`). It may carry a password.
    pub url: Option<Secret>,
    /// `tokenizer.host`.
    pub host: Option<String>,
    /// `tokenizer.port` (default 6379).
    pub port: u16,
    /// `tokenizer.options.ssl`: TLS, with the server's certificate verified.
    pub ssl: bool,
    /// `tokenizer.username`.
    pub username: Option<String>,
    /// `tokenizer.password`.
    pub password: Option<Secret>,
    /// `tokenizer.db`.
    pub db: Option<u32>,
    /// `tokenizer.tls_insecure_skip_verify`: accept any certificate (test
    /// setups with self-signed certificates only).
    pub tls_insecure_skip_verify: bool,
    /// `tokenizer.cluster`: the server is a Redis Cluster.
    pub cluster: bool,
    /// `tokenizer.pool_size`.
    pub pool_size: Option<usize>,
    /// `tokenizer.connect_timeout_ms`.
    pub connect_timeout: Option<Duration>,
    /// `tokenizer.command_timeout_ms`.
    pub command_timeout: Option<Duration>,
    /// `tokenizer.key_prefix`.
    pub key_prefix: Option<String>,
}

/// Settings of the DynamoDB store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoDbSettings {
    /// `tokenizer.table`.
    pub table: String,
    /// `tokenizer.aws_region_name`.
    pub region: Option<String>,
    /// `tokenizer.profile_name` or `tokenizer.aws_profile_name`.
    pub profile: Option<String>,
    /// `tokenizer.aws_access_key`.
    pub access_key: Option<String>,
    /// `tokenizer.aws_secret_key`.
    pub secret_key: Option<Secret>,
    /// `tokenizer.aws_session_token`.
    pub session_token: Option<Secret>,
    /// `tokenizer.endpoint_url` (a local emulator).
    pub endpoint_url: Option<String>,
}

/// The backend and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `type: local`.
    Local(LocalSettings),
    /// `type: redis`.
    Redis(RedisSettings),
    /// `type: dynamodb`.
    DynamoDb(DynamoDbSettings),
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
/// checked against the password rule. **Secret.**
pub struct Passwords {
    /// Signs new SIDs and seals new credentials.
    pub current: SafePassword,
    /// Still verify old SIDs and open old credentials.
    pub previous: Vec<SafePassword>,
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
        if spec.scope != Scope::Any
            && spec.scope != store_type.scope()
            && !matches!(entry.origin, Origin::Env(_))
        {
            let owner = match spec.scope {
                Scope::Local => "local",
                Scope::Redis => "redis",
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
            Ok(password) => Some(password),
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
    current.map(|current| Passwords { current, previous })
}

fn password_message(error: &CryptoError) -> String {
    match error {
        CryptoError::WeakPassword { reason } => format!(
            "refused by the password rule: {reason} (use at least 16 characters with at least 8 \
             different ones, not an example or default value)"
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

fn millis(v: &mut Validator<'_>, key: &str, max: i64) -> Option<Duration> {
    v.integer_in(key, 1..=max, "milliseconds")
        .map(|ms| Duration::from_millis(ms.unsigned_abs()))
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

fn redis(v: &mut Validator<'_>) -> Option<RedisSettings> {
    let url = v.text("tokenizer.url").map(|(s, _)| s);
    let host = v.text("tokenizer.host").map(|(s, _)| s.to_owned());
    let mut ok = true;
    match (url, &host) {
        (Some(_), Some(_)) => {
            v.refuse(
                "tokenizer.url",
                "give either tokenizer.url or tokenizer.host (with port and options.ssl), not both",
            );
            ok = false;
        }
        (None, None) => {
            v.missing(
                "tokenizer.host",
                "type redis needs tokenizer.host (and port) or tokenizer.url",
            );
            ok = false;
        }
        (Some(url), None) => {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                v.refuse(
                    "tokenizer.url",
                    "must start with redis:// or rediss:// (TLS)",
                );
                ok = false;
            }
        }
        (None, Some(_)) => {}
    }
    let port = match v.integer_in("tokenizer.port", 1..=65_535, "") {
        Some(p) => u16::try_from(p).unwrap_or(6379),
        None if v.is_set("tokenizer.port") => {
            ok = false;
            6379
        }
        None => 6379,
    };
    let ssl = v.boolean("tokenizer.options.ssl").is_some_and(|(b, _)| b);
    let tls = ssl || url.is_some_and(|u| u.starts_with("rediss://"));
    let tls_insecure_skip_verify = v
        .boolean("tokenizer.tls_insecure_skip_verify")
        .is_some_and(|(b, _)| b);
    if tls_insecure_skip_verify && !tls {
        v.refuse(
            "tokenizer.tls_insecure_skip_verify",
            "has no effect without TLS (options.ssl: true or a rediss:// URL)",
        );
        ok = false;
    }
    let db = v
        .integer_in("tokenizer.db", 0..=1_000_000, "")
        .and_then(|d| u32::try_from(d).ok());
    let pool_size = v
        .integer_in("tokenizer.pool_size", 1..=1024, "connections")
        .and_then(|p| usize::try_from(p).ok());
    let connect_timeout = millis(v, "tokenizer.connect_timeout_ms", 600_000);
    let command_timeout = millis(v, "tokenizer.command_timeout_ms", 600_000);
    ok.then(|| RedisSettings {
        url: url.map(Secret::new),
        host,
        port,
        ssl,
        username: v.text("tokenizer.username").map(|(s, _)| s.to_owned()),
        password: v.text("tokenizer.password").map(|(s, _)| Secret::new(s)),
        db,
        tls_insecure_skip_verify,
        cluster: v.boolean("tokenizer.cluster").is_some_and(|(b, _)| b),
        pool_size,
        connect_timeout,
        command_timeout,
        key_prefix: v.text("tokenizer.key_prefix").map(|(s, _)| s.to_owned()),
    })
}

fn dynamodb(v: &mut Validator<'_>) -> Option<DynamoDbSettings> {
    let mut ok = true;
    let table = v.text("tokenizer.table").map(|(s, _)| s.to_owned());
    if table.is_none() {
        v.missing("tokenizer.table", "is required for type dynamodb");
        ok = false;
    }
    let profile = v.text("tokenizer.profile_name").map(|(s, _)| s.to_owned());
    let aws_profile = v
        .text("tokenizer.aws_profile_name")
        .map(|(s, _)| s.to_owned());
    let profile = match (profile, aws_profile) {
        (Some(a), Some(b)) if a != b => {
            v.refuse(
                "tokenizer.aws_profile_name",
                "differs from tokenizer.profile_name; they name the same setting, give one",
            );
            ok = false;
            None
        }
        (a, b) => a.or(b),
    };
    let access_key = v
        .text("tokenizer.aws_access_key")
        .map(|(s, _)| s.to_owned());
    let secret_key = v
        .text("tokenizer.aws_secret_key")
        .map(|(s, _)| Secret::new(s));
    match (&access_key, &secret_key) {
        (Some(_), None) => {
            v.refuse(
                "tokenizer.aws_access_key",
                "needs tokenizer.aws_secret_key as well",
            );
            ok = false;
        }
        (None, Some(_)) => {
            v.refuse(
                "tokenizer.aws_secret_key",
                "needs tokenizer.aws_access_key as well",
            );
            ok = false;
        }
        _ => {}
    }
    if access_key.is_some() && profile.is_some() {
        v.refuse(
            "tokenizer.aws_access_key",
            "give either a profile (profile_name) or keys (aws_access_key, aws_secret_key), not both",
        );
        ok = false;
    }
    let endpoint_url = v.text("tokenizer.endpoint_url").map(|(s, _)| s.to_owned());
    if let Some(url) = &endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        v.refuse(
            "tokenizer.endpoint_url",
            "must start with http:// or https://",
        );
        ok = false;
    }
    let settings = DynamoDbSettings {
        table: table.unwrap_or_default(),
        region: v
            .text("tokenizer.aws_region_name")
            .map(|(s, _)| s.to_owned()),
        profile,
        access_key,
        secret_key,
        session_token: v
            .text("tokenizer.aws_session_token")
            .map(|(s, _)| Secret::new(s)),
        endpoint_url,
    };
    ok.then_some(settings)
}
