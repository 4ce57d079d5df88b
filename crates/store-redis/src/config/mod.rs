//! How to reach Redis: one URL, the tokenizer's `host`/`port`/`options`, a
//! list of Cluster nodes, or Sentinel, plus TLS, pool size, timeouts and the
//! key prefix.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

mod connection;
mod error;

pub use error::RedisError;

/// The default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "tessera:";
/// The default number of connections (per Redis node).
pub const DEFAULT_POOL_SIZE: usize = 4;
/// The default time allowed to connect (TCP, TLS and handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default time allowed for one command.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// The port of `host` when `port` is not given.
pub const DEFAULT_PORT: u16 = 6379;
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
    #[serde(rename = "connect_timeout_ms", with = "tessera_store::backend::millis")]
    pub connect_timeout: Duration,
    /// Time allowed for one command (default 2 s; key
    /// `command_timeout_ms`). No operation waits longer for Redis, down or
    /// not.
    #[serde(rename = "command_timeout_ms", with = "tessera_store::backend::millis")]
    pub command_timeout: Duration,
    /// Prepended to every key (default `tessera:`). Must not contain `{` or
    /// `}`, which would move the Cluster hash tag.
    pub key_prefix: String,
    /// Touch coalescing window (default 60 s; key `touch_window_ms`): a
    /// read writes the session's last use only when this much time has
    /// passed since the stored one, so most reads are one plain `GET`. A
    /// session can therefore idle out up to one window early, never late.
    /// 0 writes every touch.
    #[serde(rename = "touch_window_ms", with = "tessera_store::backend::millis")]
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
mod tests;
