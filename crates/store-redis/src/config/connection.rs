//! From a [`RedisConfig`] to the driver's configuration: URL, host and
//! port, Cluster nodes or Sentinel, TLS, and the limits' checks.

use fred::types::config::{Config, Server, ServerConfig};

use super::{
    ConnectionOptions, DEFAULT_PORT, DEFAULT_SENTINEL_PORT, Duration, RedisConfig, RedisError,
    SentinelConfig,
};
use crate::tls;

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

    /// Checks every setting, without connecting: what
    /// [`RedisStore::open`](crate::RedisStore::open) would refuse before it
    /// tries to reach Redis (reading the TLS files included).
    pub fn validate(&self) -> Result<(), RedisError> {
        self.client_config().map(drop)
    }

    /// Checks every setting and builds the [`fred`] client configuration
    /// it describes, for tools that need a connection of their own (tests,
    /// benchmarks, the server's import from the tokenizer's Redis).
    ///
    /// Feature `unstable-driver`: outside this crate's semver promise, as
    /// the `fred` types may change with any release.
    #[cfg(feature = "unstable-driver")]
    pub fn fred_config(&self) -> Result<Config, RedisError> {
        self.client_config()
    }

    /// Checks every setting and builds the client configuration it
    /// describes.
    pub(crate) fn client_config(&self) -> Result<Config, RedisError> {
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
            source: Box::new(source),
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
                source: Box::new(source),
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
