//! `tessera config show`: the effective configuration, secrets redacted.

use serde_yaml::{Mapping, Value};
use tessera_store_redis::RedisConfig;

use super::Config;
use super::redact::redact_url;
use super::tokenizer::Backend;

const REDACTED: &str = "<redacted>";

/// A YAML mapping built in insertion order.
#[derive(Default)]
struct Block(Mapping);

impl Block {
    fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.0.insert(Value::from(key), value.into());
        self
    }

    fn set_some(&mut self, key: &str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(value) = value {
            self.set(key, value);
        }
        self
    }

    fn into_value(self) -> Value {
        Value::Mapping(self.0)
    }
}

fn millis(d: std::time::Duration) -> Value {
    Value::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn redacted_yaml(config: &Config) -> String {
    let data_dir = config
        .server
        .data_dir
        .as_ref()
        .map(|d| d.display().to_string());
    let mut root = Block::default();
    root.set("tokenizer", tokenizer_block(config, data_dir.as_deref()))
        .set(
            "sessionStore",
            session_store_block(config, data_dir.as_deref()),
        )
        .set("server", server_block(config, data_dir));
    serde_yaml::to_string(&root.into_value()).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
}

fn tokenizer_block(config: &Config, data_dir: Option<&str>) -> Value {
    let mut tokenizer = Block::default();
    tokenizer
        .set("type", config.backend.store_type().as_str())
        .set(
            "timeout",
            config.session_store.policy.max_idle_time.as_minutes(),
        );
    if let Some(passwords) = &config.passwords {
        tokenizer.set("safe_password", REDACTED);
        tokenizer.set(
            "previous_safe_passwords",
            Value::Sequence(vec![Value::from(REDACTED); passwords.previous.len()]),
        );
        let salt_text = |salt: Option<&tessera_crypto::DeploymentSalt>| match salt {
            Some(_) => "<set>",
            None => "none",
        };
        tokenizer
            .set("safe_password_salt", salt_text(passwords.salt.as_ref()))
            .set(
                "previous_safe_password_salt",
                salt_text(passwords.previous_salt.as_ref()),
            );
    } else {
        let place = data_dir.unwrap_or("<data_dir>");
        tokenizer.set(
            "safe_password",
            format!("<generated, kept in {place}/safe_password>"),
        );
    }
    match &config.backend {
        Backend::Local(local) => {
            tokenizer.set("path", local.path.display().to_string()).set(
                "touch_window_ms",
                millis(
                    local
                        .touch_window
                        .unwrap_or(tessera_store_local::LocalConfig::DEFAULT_TOUCH_WINDOW),
                ),
            );
        }
        Backend::Redis(redis) => redis_keys(&mut tokenizer, redis),
        Backend::DynamoDb(dynamo) => {
            tokenizer
                .set("table", dynamo.table.clone())
                .set_some("aws_region_name", dynamo.aws_region_name.clone())
                .set_some("profile_name", dynamo.profile_name.clone())
                .set_some("aws_profile_name", dynamo.aws_profile_name.clone())
                .set_some("aws_access_key", dynamo.aws_access_key.clone())
                .set_some(
                    "aws_secret_key",
                    dynamo.aws_secret_key.as_ref().map(|_| REDACTED),
                )
                .set_some("endpoint_url", dynamo.endpoint_url.clone())
                .set("max_attempts", u64::from(dynamo.max_attempts))
                .set("connect_timeout_ms", millis(dynamo.connect_timeout))
                .set("attempt_timeout_ms", millis(dynamo.attempt_timeout))
                .set("create_attempts", u64::from(dynamo.create_attempts))
                .set("scan_page_size", u64::from(dynamo.scan_page_size))
                .set(
                    "max_read_units_per_second",
                    dynamo.max_read_units_per_second,
                )
                .set("touch_window_ms", millis(dynamo.touch_window));
        }
    }
    tokenizer.into_value()
}

fn redis_keys(tokenizer: &mut Block, redis: &RedisConfig) {
    if let Some(url) = &redis.url {
        tokenizer.set("url", redact_url(url));
    }
    tokenizer
        .set_some("host", redis.host.clone())
        // The port a `host` is reached on, given or not.
        .set_some(
            "port",
            redis
                .port
                .or(redis
                    .host
                    .as_ref()
                    .map(|_| tessera_store_redis::DEFAULT_PORT))
                .map(u64::from),
        );
    let mut options = Block::default();
    options
        .set("ssl", redis.options.ssl)
        .set_some("username", redis.options.username.clone())
        .set_some(
            "password",
            redis.options.password.as_ref().map(|_| REDACTED),
        )
        .set_some("db", redis.options.db.map(u64::from));
    tokenizer.set("options", options.into_value());
    tokenizer.set("cluster", redis.cluster);
    if !redis.cluster_nodes.is_empty() {
        tokenizer.set(
            "cluster_nodes",
            Value::Sequence(
                redis
                    .cluster_nodes
                    .iter()
                    .map(|n| Value::from(redact_url(n)))
                    .collect(),
            ),
        );
    }
    if let Some(sentinel) = &redis.sentinel {
        let mut block = Block::default();
        block
            .set("service_name", sentinel.service_name.clone())
            .set(
                "nodes",
                Value::Sequence(sentinel.nodes.iter().cloned().map(Value::from).collect()),
            )
            .set_some("username", sentinel.username.clone())
            .set_some("password", sentinel.password.as_ref().map(|_| REDACTED));
        tokenizer.set("sentinel", block.into_value());
    }
    tokenizer
        .set_some(
            "tls_ca_file",
            redis.tls_ca_file.as_ref().map(|p| p.display().to_string()),
        )
        .set_some(
            "tls_cert_file",
            redis
                .tls_cert_file
                .as_ref()
                .map(|p| p.display().to_string()),
        )
        .set_some(
            "tls_key_file",
            redis.tls_key_file.as_ref().map(|p| p.display().to_string()),
        )
        .set("tls_insecure_skip_verify", redis.tls_insecure_skip_verify)
        .set("pool_size", redis.pool_size as u64)
        .set("connect_timeout_ms", millis(redis.connect_timeout))
        .set("command_timeout_ms", millis(redis.command_timeout))
        .set("key_prefix", redis.key_prefix.clone())
        .set("touch_window_ms", millis(redis.touch_window));
}

fn session_store_block(config: &Config, data_dir: Option<&str>) -> Value {
    let settings = &config.session_store;
    let policy = &settings.policy;
    let mut store = Block::default();
    for (label, hash) in &settings.tokens {
        let key = match label.as_str() {
            super::PRIMARY_LABEL => "apiAccessTokenSHA256".to_owned(),
            super::SECONDARY_LABEL => "secondaryAPIAccessTokenSHA256".to_owned(),
            other => format!("apiAccessTokenSHA256.{other}"),
        };
        store.set(&key, hash.to_hex());
    }
    if settings.tokens.is_empty() && config.embedded {
        let place = data_dir.unwrap_or("<data_dir>");
        store.set(
            "apiAccessTokenSHA256",
            format!("<generated, kept in {place}/api_token.sha256>"),
        );
    }
    let mut internal = Block::default();
    internal.set(
        "subjectIndexPurgeInterval",
        settings.subject_index_purge.as_seconds(),
    );
    let mut session_map = Block::default();
    session_map.set("expirationInterval", millis(settings.expiration_interval));
    store
        .set("maxLifetime", policy.max_lifetime.as_minutes())
        .set("authLifetime", policy.auth_lifetime.as_minutes())
        .set("maxIdleTime", policy.max_idle_time.as_minutes())
        .set("maxLifetimeCeiling", policy.ceilings.max_life.as_minutes())
        .set(
            "authLifetimeCeiling",
            policy.ceilings.auth_life.as_minutes(),
        )
        .set("maxIdleTimeCeiling", policy.ceilings.max_idle.as_minutes())
        .set(
            "preLoginMaxLifetime",
            policy.pre_login.max_life.as_minutes(),
        )
        .set(
            "preLoginMaxIdleTime",
            policy.pre_login.max_idle.as_minutes(),
        )
        .set("quotaPerSubject", policy.quota_per_subject.get() as u64)
        .set("onQuotaExhaustion", policy.on_quota_exhaustion.as_str())
        .set(
            "acceptLegacySIDs",
            settings.legacy_sids == tessera_crypto::LegacySids::Accept,
        )
        .set("acceptUnsignedRecords", settings.accept_unsigned_records)
        .set("internal", internal.into_value())
        .set("sessionMap", session_map.into_value());
    store.into_value()
}

fn server_block(config: &Config, data_dir: Option<String>) -> Value {
    let server = &config.server;
    let mut server_block = Block::default();
    server_block
        .set("listen", server.listen.to_string())
        .set("max_body_bytes", server.max_body_bytes as u64)
        .set("max_header_bytes", server.max_header_bytes as u64)
        .set("request_timeout_ms", millis(server.request_timeout))
        .set("max_connections", server.max_connections as u64)
        .set("shutdown_timeout_ms", millis(server.shutdown_timeout))
        .set("write_timeout_ms", millis(server.write_timeout))
        .set_some("data_dir", data_dir)
        .set("log_format", server.log_format.as_str())
        .set("log_level", server.log_level.clone())
        .set_some(
            "metrics_token_sha256",
            server.metrics_token.map(|h| h.to_hex()),
        )
        .set_some(
            "tls_cert_file",
            server
                .tls
                .as_ref()
                .map(|t| t.cert_file.display().to_string()),
        )
        .set_some(
            "tls_key_file",
            server
                .tls
                .as_ref()
                .map(|t| t.key_file.display().to_string()),
        );
    server_block.into_value()
}
