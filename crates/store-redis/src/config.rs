//! How to reach Redis: one URL, the tokenizer's `host`/`port`/`options`, a
//! list of Cluster nodes, or Sentinel, plus TLS, pool size, timeouts and the
//! key prefix.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use fred::types::config::{Config, Server, ServerConfig};
use serde::Deserialize;

use crate::tls;

/// The default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "tessera:";
/// The default number of connections (per Redis node).
pub const DEFAULT_POOL_SIZE: usize = 4;
/// The default time allowed to connect (TCP, TLS and handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default time allowed for one command.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_PORT: u16 = 6379;
const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// Connection settings of the Redis store.
///
/// Exactly one way to find the server(s) must be given:
///
/// * `url`: `redis://[user:password@]host[:port][/db]`, `rediss://` for TLS;
///   `redis-cluster://host:port?node=host:port` and
///   `redis-sentinel://host:port/db?sentinelServiceName=name` also work.
///   With `cluster: true` a plain `redis://` URL names one Cluster node.
/// * `host` (+ `port`, default 6379, and `options`): the tokenizer's form,
///   `options: {ssl: true}` for TLS. `cluster: true` works here too.
/// * `cluster_nodes`: URLs of some Cluster nodes (`redis://host:port`); the
///   first one's scheme and credentials are used for all.
/// * `sentinel`: the service name and Sentinel addresses; credentials, `db`
///   and TLS of the data nodes come from `options`.
///
/// TLS is always verified against the system's roots (plus `tls_ca_file`
/// if set). `tls_insecure_skip_verify` turns verification **off**: anyone on
/// the network path can then read and change every session. It exists for
/// self-signed test setups only; prefer `tls_ca_file`.
///
/// `Debug` never shows passwords.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// A Redis URL (see above).
    pub url: Option<String>,
    /// The tokenizer's `host`.
    pub host: Option<String>,
    /// The tokenizer's `port` (default 6379).
    pub port: Option<u16>,
    /// The tokenizer's `options`.
    pub options: ConnectionOptions,
    /// Treat `url` or `host` as one node of a Redis Cluster.
    pub cluster: bool,
    /// URLs of Redis Cluster nodes to discover the cluster from.
    pub cluster_nodes: Vec<String>,
    /// Find the primary through Redis Sentinel.
    pub sentinel: Option<SentinelConfig>,
    /// A PEM file of extra certificate authorities to trust for TLS.
    pub tls_ca_file: Option<PathBuf>,
    /// A PEM file with the client certificate (and its chain) to present,
    /// for a Redis that asks for one (`tls-auth-clients yes`, its
    /// default). With `tls_key_file`.
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of `tls_cert_file`. Secret: keep it readable by
    /// the server's user only.
    pub tls_key_file: Option<PathBuf>,
    /// **Disables TLS certificate verification.** For self-signed test
    /// setups only; never in production.
    pub tls_insecure_skip_verify: bool,
    /// Connections per Redis node (default 4).
    pub pool_size: usize,
    /// Time allowed to connect (default 5 s; key `connect_timeout_ms`).
    /// Also bounds how long
    /// [`RedisStore::open`](crate::RedisStore::open) retries.
    #[serde(rename = "connect_timeout_ms", with = "tessera_store::millis")]
    pub connect_timeout: Duration,
    /// Time allowed for one command (default 2 s; key
    /// `command_timeout_ms`). No operation waits longer for Redis, down or
    /// not.
    #[serde(rename = "command_timeout_ms", with = "tessera_store::millis")]
    pub command_timeout: Duration,
    /// Prepended to every key (default `tessera:`). Must not contain `{` or
    /// `}`, which would move the Cluster hash tag.
    pub key_prefix: String,
    /// Touch coalescing window (default 60 s; key `touch_window_ms`): a
    /// read writes the session's last use only when this much time has
    /// passed since the stored one, so most reads are one plain `GET`. A
    /// session can therefore idle out up to one window early, never late.
    /// 0 writes every touch.
    #[serde(rename = "touch_window_ms", with = "tessera_store::millis")]
    pub touch_window: Duration,
}

/// The default touch coalescing window ([`RedisConfig::touch_window`]).
pub const DEFAULT_TOUCH_WINDOW: Duration = Duration::from_secs(60);

/// The tokenizer's `options` block (and the data-node settings under
/// Sentinel).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionOptions {
    /// Use TLS (verified unless `tls_insecure_skip_verify`).
    pub ssl: bool,
    /// ACL user name.
    pub username: Option<String>,
    /// Password (of the ACL user, or `requirepass`).
    pub password: Option<String>,
    /// Database number (not available under Cluster).
    pub db: Option<u8>,
}

/// Redis Sentinel settings.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelConfig {
    /// The monitored service (master) name.
    pub service_name: String,
    /// Sentinel addresses, `host:port` (port default 26379).
    pub nodes: Vec<String>,
    /// User name for the Sentinels, if they require one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for the Sentinels, if they require one.
    #[serde(default)]
    pub password: Option<String>,
}

/// What [`RedisStore::open`](crate::RedisStore::open) fails with: a
/// configuration that cannot work (naming the setting at fault), a Redis
/// that cannot be reached, or one that refuses the store. Store operations
/// return [`StoreError`](tessera_store::StoreError).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// None or more than one of `url`, `host`, `cluster_nodes`, `sentinel`.
    #[error(
        "configure exactly one of `url`, `host`, `cluster_nodes` or `sentinel` for Redis (found {found})"
    )]
    Servers {
        /// How many were given.
        found: usize,
    },
    /// A setting holds a value that cannot work.
    #[error("invalid Redis setting `{setting}`: {reason}")]
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL does not parse.
    #[error("invalid Redis URL in `{setting}`")]
    Url {
        /// The setting's name.
        setting: &'static str,
        /// The parser's error (the URL itself is not repeated: it may hold
        /// a password).
        #[source]
        source: fred::error::Error,
    },
    /// The TLS settings cannot be turned into a TLS client.
    #[error("Redis TLS setup failed: {reason}")]
    Tls {
        /// The setting at fault (`tls_ca_file`, `tls_cert_file`,
        /// `tls_key_file`, or `ssl` for TLS as a whole).
        setting: &'static str,
        /// What failed.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Redis did not answer within `connect_timeout_ms`; retrying later may
    /// succeed.
    #[error("Redis is unreachable while {what}")]
    Unreachable {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: fred::error::Error,
    },
    /// Redis answered but refused: a wrong password, a missing ACL
    /// permission, an untrusted certificate. Retrying does not help.
    #[error("Redis refused the store while {what}")]
    Refused {
        /// What was being done.
        what: &'static str,
        /// The driver's error (Redis's reply, never a password).
        #[source]
        source: fred::error::Error,
    },
}

impl RedisError {
    /// Whether Redis could not be reached (as opposed to a configuration
    /// that cannot work or a refusal): retrying later may succeed.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// Sorts a driver error met while connecting.
    pub(crate) fn from_driver(what: &'static str, source: fred::error::Error) -> Self {
        if crate::errors::is_unavailable(&source) {
            Self::Unreachable { what, source }
        } else {
            Self::Refused { what, source }
        }
    }

    pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            host: None,
            port: None,
            options: ConnectionOptions::default(),
            cluster: false,
            cluster_nodes: Vec::new(),
            sentinel: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_insecure_skip_verify: false,
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            touch_window: DEFAULT_TOUCH_WINDOW,
        }
    }
}

impl RedisConfig {
    /// A configuration for one server (or one Cluster node, see `cluster`)
    /// given by URL, everything else default.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// A configuration for a Redis Cluster found through these node URLs.
    pub fn from_cluster_nodes<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            cluster_nodes: nodes.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Checks every setting and builds the [`fred`] client configuration
    /// it describes, for tools that need a connection of their own (tests,
    /// benchmarks, repair scripts). [`RedisStore::open`](crate::RedisStore::open)
    /// calls it too. Not part of the API: the `fred` types may change with
    /// any release.
    #[doc(hidden)]
    pub fn fred_config(&self) -> Result<Config, RedisError> {
        self.check_limits()?;
        let found = usize::from(self.url.is_some())
            + usize::from(self.host.is_some())
            + usize::from(!self.cluster_nodes.is_empty())
            + usize::from(self.sentinel.is_some());
        if found != 1 {
            return Err(RedisError::Servers { found });
        }
        let (mut config, wants_tls) = if let Some(url) = &self.url {
            self.url_server(url)?
        } else if let Some(host) = &self.host {
            self.host_server(host)?
        } else if let Some(sentinel) = &self.sentinel {
            self.sentinel_server(sentinel)?
        } else {
            self.nodes_server()?
        };
        if self.url.is_some() && self.options != ConnectionOptions::default() {
            return Err(RedisError::invalid(
                "options",
                "put credentials, db and TLS in the URL when `url` is set",
            ));
        }
        if config.server.is_clustered() && config.database.is_some_and(|db| db != 0) {
            return Err(RedisError::invalid(
                "db",
                "Redis Cluster has only database 0",
            ));
        }
        let client_identity = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            (Some(_), None) => {
                return Err(RedisError::invalid(
                    "tls_key_file",
                    "is needed with tls_cert_file: the private key of the client certificate",
                ));
            }
            (None, Some(_)) => {
                return Err(RedisError::invalid(
                    "tls_cert_file",
                    "is needed with tls_key_file: the client certificate of that key",
                ));
            }
        };
        config.tls = if wants_tls {
            Some(
                tls::connector(
                    self.tls_ca_file.as_deref(),
                    self.tls_insecure_skip_verify,
                    client_identity,
                )?
                .into(),
            )
        } else {
            let given = [
                ("tls_cert_file", client_identity.is_some()),
                ("tls_ca_file", self.tls_ca_file.is_some()),
                ("tls_insecure_skip_verify", self.tls_insecure_skip_verify),
            ];
            if let Some((setting, _)) = given.iter().find(|(_, set)| *set) {
                return Err(RedisError::invalid(
                    setting,
                    "TLS settings are given but TLS is off (use rediss:// or options.ssl: true)",
                ));
            }
            None
        };
        Ok(config)
    }

    fn check_limits(&self) -> Result<(), RedisError> {
        if self.key_prefix.contains(['{', '}']) {
            return Err(RedisError::invalid(
                "key_prefix",
                "must not contain `{` or `}`: they would move the Redis Cluster hash tag",
            ));
        }
        if self.pool_size == 0 || self.pool_size > 256 {
            return Err(RedisError::invalid(
                "pool_size",
                format!("{} is outside 1..=256", self.pool_size),
            ));
        }
        if self.touch_window > Duration::from_secs(3_600) {
            return Err(RedisError::invalid(
                "touch_window_ms",
                format!(
                    "{} is outside 0..=3600000 ms",
                    self.touch_window.as_millis()
                ),
            ));
        }
        for (setting, timeout) in [
            ("connect_timeout_ms", self.connect_timeout),
            ("command_timeout_ms", self.command_timeout),
        ] {
            let ms = timeout.as_millis();
            if ms == 0 || ms > 600_000 {
                return Err(RedisError::invalid(
                    setting,
                    format!("{ms} is outside 1..=600000 ms"),
                ));
            }
        }
        Ok(())
    }

    fn url_server(&self, url: &str) -> Result<(Config, bool), RedisError> {
        let wants_tls = url_uses_tls(url);
        let mut config = Config::from_url(url).map_err(|source| RedisError::Url {
            setting: "url",
            source,
        })?;
        if self.cluster {
            config.server = match config.server {
                ServerConfig::Centralized { server } => ServerConfig::Clustered {
                    hosts: vec![server],
                    policy: fred::types::config::ClusterDiscoveryPolicy::default(),
                },
                clustered @ ServerConfig::Clustered { .. } => clustered,
                _ => {
                    return Err(RedisError::invalid(
                        "cluster",
                        "`cluster: true` needs a redis:// or rediss:// URL of one Cluster node",
                    ));
                }
            };
        }
        Ok((config, wants_tls))
    }

    fn host_server(&self, host: &str) -> Result<(Config, bool), RedisError> {
        if host.is_empty() {
            return Err(RedisError::invalid("host", "must not be empty"));
        }
        let server = Server::new(host, self.port.unwrap_or(DEFAULT_PORT));
        let config = Config {
            server: if self.cluster {
                ServerConfig::Clustered {
                    hosts: vec![server],
                    policy: fred::types::config::ClusterDiscoveryPolicy::default(),
                }
            } else {
                ServerConfig::Centralized { server }
            },
            username: self.options.username.clone(),
            password: self.options.password.clone(),
            database: self.options.db,
            ..Config::default()
        };
        Ok((config, self.options.ssl))
    }

    fn nodes_server(&self) -> Result<(Config, bool), RedisError> {
        if self.cluster_nodes.iter().any(|u| url_uses_tls(u))
            != self.cluster_nodes.iter().all(|u| url_uses_tls(u))
        {
            return Err(RedisError::invalid(
                "cluster_nodes",
                "mixes TLS (rediss://) and plain (redis://) URLs",
            ));
        }
        let mut hosts = Vec::with_capacity(self.cluster_nodes.len());
        let mut first = None;
        for url in &self.cluster_nodes {
            let node = Config::from_url_centralized(url).map_err(|source| RedisError::Url {
                setting: "cluster_nodes",
                source,
            })?;
            hosts.extend(node.server.hosts());
            first.get_or_insert(node);
        }
        let first = first.expect("cluster_nodes is not empty");
        let config = Config {
            server: ServerConfig::Clustered {
                hosts,
                policy: fred::types::config::ClusterDiscoveryPolicy::default(),
            },
            username: first.username,
            password: first.password,
            ..Config::default()
        };
        Ok((config, url_uses_tls(&self.cluster_nodes[0])))
    }

    fn sentinel_server(&self, sentinel: &SentinelConfig) -> Result<(Config, bool), RedisError> {
        if sentinel.service_name.is_empty() {
            return Err(RedisError::invalid(
                "sentinel.service_name",
                "must not be empty",
            ));
        }
        if sentinel.nodes.is_empty() {
            return Err(RedisError::invalid(
                "sentinel.nodes",
                "list at least one Sentinel as host:port",
            ));
        }
        let hosts = sentinel
            .nodes
            .iter()
            .map(|node| parse_host_port(node, DEFAULT_SENTINEL_PORT))
            .collect::<Result<Vec<_>, _>>()?;
        if self.cluster {
            return Err(RedisError::invalid(
                "cluster",
                "Sentinel and Cluster do not combine",
            ));
        }
        let config = Config {
            server: ServerConfig::Sentinel {
                hosts,
                service_name: sentinel.service_name.clone(),
                username: sentinel.username.clone(),
                password: sentinel.password.clone(),
            },
            username: self.options.username.clone(),
            password: self.options.password.clone(),
            database: self.options.db,
            ..Config::default()
        };
        Ok((config, self.options.ssl))
    }
}

fn url_uses_tls(url: &str) -> bool {
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    scheme.starts_with("rediss") || scheme.starts_with("valkeys")
}

fn parse_host_port(node: &str, default_port: u16) -> Result<Server, RedisError> {
    let bad = || {
        RedisError::invalid(
            "sentinel.nodes",
            format!("`{node}` is not host or host:port"),
        )
    };
    let (host, port) = match node.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
            (host, port.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (node, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Server::new(host, port))
}

/// Shows everything but secrets: passwords and the credentials part of
/// URLs are replaced by `<redacted>`.
impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("options", &self.options)
            .field("cluster", &self.cluster)
            .field(
                "cluster_nodes",
                &self
                    .cluster_nodes
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("sentinel", &self.sentinel)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("tls_insecure_skip_verify", &self.tls_insecure_skip_verify)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("key_prefix", &self.key_prefix)
            .field("touch_window", &self.touch_window)
            .finish()
    }
}

impl fmt::Debug for ConnectionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionOptions")
            .field("ssl", &self.ssl)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .finish()
    }
}

impl fmt::Debug for SentinelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelConfig")
            .field("service_name", &self.service_name)
            .field("nodes", &self.nodes)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A URL with its `user:password@` part replaced.
fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => "<not a URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> RedisConfig {
        // The server reads YAML; JSON is YAML, and serde_json is at hand.
        serde_json::from_str(text).expect("parses")
    }

    #[test]
    fn url_forms() {
        let c = RedisConfig::from_url("redis://user:pw@127.0.0.1:7000/3")
            .fred_config()
            .unwrap();
        assert!(c.server.is_centralized());
        assert_eq!(c.database, Some(3));
        assert_eq!(c.username.as_deref(), Some("user"));
        assert_eq!(c.password.as_deref(), Some("pw"));
        assert!(c.tls.is_none());

        let c = RedisConfig::from_url("rediss://127.0.0.1:7000")
            .fred_config()
            .unwrap();
        assert!(c.tls.is_some(), "rediss:// turns TLS on, verified");

        let mut cluster = RedisConfig::from_url("redis://127.0.0.1:7000");
        cluster.cluster = true;
        assert!(cluster.fred_config().unwrap().server.is_clustered());

        let c =
            RedisConfig::from_cluster_nodes(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
                .fred_config()
                .unwrap();
        assert_eq!(c.server.hosts().len(), 2);
    }

    #[test]
    fn tokenizer_form() {
        let c = yaml(r#"{"host": "cache.internal", "port": 6380, "options": {"ssl": true}}"#);
        let f = c.fred_config().unwrap();
        assert_eq!(&*f.server.hosts()[0].host, "cache.internal");
        assert_eq!(f.server.hosts()[0].port, 6380);
        assert!(f.tls.is_some());
        let c = yaml(r#"{"host": "h"}"#);
        assert_eq!(c.fred_config().unwrap().server.hosts()[0].port, 6379);
    }

    #[test]
    fn sentinel_form() {
        let c = yaml(
            r#"{"sentinel": {"service_name": "main", "nodes": ["s1:26380", "s2"]},
                "options": {"password": "p", "db": 2}}"#,
        );
        let f = c.fred_config().unwrap();
        assert!(f.server.is_sentinel());
        let hosts = f.server.hosts();
        assert_eq!((hosts[0].port, hosts[1].port), (26380, 26379));
        assert_eq!(f.database, Some(2));
    }

    #[test]
    fn mistakes_name_the_setting() {
        let err = |c: RedisConfig| c.fred_config().unwrap_err().to_string();
        assert!(err(RedisConfig::default()).contains("found 0"));
        let mut both = RedisConfig::from_url("redis://a");
        both.host = Some("b".into());
        assert!(err(both).contains("found 2"));
        let mut prefix = RedisConfig::from_url("redis://a");
        prefix.key_prefix = "x{y}:".into();
        assert!(err(prefix).contains("key_prefix"));
        let mut insecure = RedisConfig::from_url("redis://a");
        insecure.tls_insecure_skip_verify = true;
        assert!(err(insecure).contains("TLS is off"));
        let mut timeout = RedisConfig::from_url("redis://a");
        timeout.command_timeout = Duration::ZERO;
        assert!(err(timeout).contains("command_timeout_ms"));
        let mut db = RedisConfig::from_url("redis://a/2");
        db.cluster = true;
        assert!(err(db).contains("`db`"));
        assert!(err(RedisConfig::from_url("not a url")).contains("`url`"));
        assert!(
            serde_json::from_str::<RedisConfig>(r#"{"hots": "a"}"#)
                .unwrap_err()
                .to_string()
                .contains("hots")
        );
    }

    #[test]
    fn debug_hides_passwords() {
        let mut c = RedisConfig::from_url("rediss://user:s3cret@host:1/0");
        c.options.password = Some("s3cret".into());
        c.cluster_nodes = vec!["redis://:s3cret@n:1".into()];
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("rediss://<redacted>@host:1/0"), "{shown}");
    }
}
