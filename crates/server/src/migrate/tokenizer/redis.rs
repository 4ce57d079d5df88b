//! The tokenizer's Redis: one key per user, the bare lower-cased name,
//! holding the record as a JSON string, in the database it connects to.
//! Every key is scanned, since the tokenizer uses no prefix; values of
//! other types (another application's hashes, lists, ...) are skipped as
//! unreadable, and strings that are not JSON by the record check.

use fred::clients::Client;
use fred::interfaces::{ClientLike as _, KeysInterface as _};
use fred::types::{Builder, Key, Value};
use futures::TryStreamExt as _;
use tessera_store_redis::RedisConfig;
use zeroize::Zeroizing;

use super::RawRecord;
use crate::ServerError;

/// Keys asked for per `SCAN` step.
const SCAN_COUNT: u32 = 500;

pub(super) async fn read_all(config: &RedisConfig) -> Result<Vec<RawRecord>, ServerError> {
    let fred_config = config
        .fred_config()
        .map_err(|e| failed("the settings are not usable", e))?;
    let clustered = fred_config.server.is_clustered();
    let at = fred_config
        .server
        .hosts()
        .iter()
        .map(|server| format!("{}:{}", server.host, server.port))
        .collect::<Vec<_>>()
        .join(", ");
    let failed = |what: &str, source: fred::error::Error| failed(&format!("{what} ({at})"), source);
    let (connect_timeout, command_timeout) = (config.connect_timeout, config.command_timeout);
    let mut builder = Builder::from_config(fred_config);
    builder
        .with_connection_config(|c| c.connection_timeout = connect_timeout)
        .with_performance_config(|p| p.default_command_timeout = command_timeout);
    let client = builder
        .build()
        .map_err(|e| failed("the settings are not usable", e))?;
    let connected = tokio::time::timeout(connect_timeout, client.init()).await;
    let result = match connected {
        Ok(Ok(_connection_task)) => read_keys(&client, clustered, &config.key_prefix)
            .await
            .map_err(|e| match e {
                ServerError::TokenizerStore {
                    backend,
                    what,
                    source,
                } => ServerError::TokenizerStore {
                    backend,
                    what: format!("{what} ({at})"),
                    source,
                },
                other => other,
            }),
        Ok(Err(e)) => Err(failed("cannot connect", e)),
        Err(_) => Err(ServerError::TokenizerStore {
            backend: "redis",
            what: format!(
                "cannot connect to {at} within {} ms",
                connect_timeout.as_millis()
            ),
            source: None,
        }),
    };
    let _ = client.quit().await;
    result
}

async fn read_keys(
    client: &Client,
    clustered: bool,
    prefix: &str,
) -> Result<Vec<RawRecord>, ServerError> {
    let keys: Vec<Key> = if clustered {
        client
            .scan_cluster_buffered("*", Some(SCAN_COUNT), None)
            .try_collect()
            .await
    } else {
        client
            .scan_buffered("*", Some(SCAN_COUNT), None)
            .try_collect()
            .await
    }
    .map_err(|e| failed("SCAN failed", e))?;

    let mut records = Vec::with_capacity(keys.len());
    for key in keys {
        let origin = format!("redis key {}", String::from_utf8_lossy(key.as_bytes()));
        if key.as_bytes().starts_with(prefix.as_bytes()) {
            records.push(RawRecord {
                origin,
                tessera: true,
                text: Err("one of Tessera's own keys"),
            });
            continue;
        }
        let text = match client.get::<Value, _>(key).await {
            // Removed since the scan.
            Ok(Value::Null) => continue,
            Ok(Value::String(text)) => Ok(Zeroizing::new(text.to_string())),
            Ok(Value::Bytes(bytes)) => String::from_utf8(bytes.to_vec())
                .map(Zeroizing::new)
                .map_err(|e| {
                    drop(Zeroizing::new(e.into_bytes()));
                    "not UTF-8 text"
                }),
            Ok(_) => Err("not a string value"),
            Err(e) if e.details().starts_with("WRONGTYPE") => Err("not a string value"),
            Err(e) => return Err(failed("GET failed", e)),
        };
        records.push(RawRecord {
            origin,
            tessera: false,
            text,
        });
    }
    Ok(records)
}

fn failed(what: &str, source: impl std::error::Error + Send + Sync + 'static) -> ServerError {
    ServerError::TokenizerStore {
        backend: "redis",
        what: what.to_owned(),
        source: Some(Box::new(source)),
    }
}
