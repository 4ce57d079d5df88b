//! The tokenizer's Redis: one key per user, the bare lower-cased name,
//! holding the record as a JSON string, in the database it connects to.
//! Every key is scanned, since the tokenizer uses no prefix; values of
//! other types (another application's hashes, lists, ...) are skipped as
//! unreadable, and strings that are not JSON by the record check.

use fred::clients::Client;
use fred::interfaces::{ClientLike as _, KeysInterface as _, LuaInterface as _};
use fred::types::{Builder, Key, Value};
use futures::TryStreamExt as _;
use tessera_store_redis::RedisConfig;
use zeroize::Zeroizing;

use super::{Location, RawRecord, Removed, SourceRecord};
use crate::ServerError;

/// Keys asked for per `SCAN` step.
const SCAN_COUNT: u32 = 500;

/// A connected client, whether it speaks to a Cluster, and the
/// `host:port` list its errors name.
struct Connection {
    client: Client,
    clustered: bool,
    at: String,
}

impl Connection {
    async fn open(config: &RedisConfig) -> Result<Self, ServerError> {
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
        let (connect_timeout, command_timeout) = (config.connect_timeout, config.command_timeout);
        let mut builder = Builder::from_config(fred_config);
        builder
            .with_connection_config(|c| c.connection_timeout = connect_timeout)
            .with_performance_config(|p| p.default_command_timeout = command_timeout);
        let client = builder
            .build()
            .map_err(|e| failed(&format!("the settings are not usable ({at})"), e))?;
        match tokio::time::timeout(connect_timeout, client.init()).await {
            Ok(Ok(_connection_task)) => Ok(Self {
                client,
                clustered,
                at,
            }),
            Ok(Err(e)) => Err(failed(&format!("cannot connect to {at}"), e)),
            Err(_) => Err(ServerError::TokenizerStore {
                backend: "redis",
                what: format!(
                    "cannot connect to {at} within {} ms",
                    connect_timeout.as_millis()
                ),
                source: None,
            }),
        }
    }

    /// Adds the `host:port` list to an error of this connection.
    fn locate(&self, error: ServerError) -> ServerError {
        match error {
            ServerError::TokenizerStore {
                backend,
                what,
                source,
            } => ServerError::TokenizerStore {
                backend,
                what: format!("{what} ({})", self.at),
                source,
            },
            other => other,
        }
    }

    async fn close(self) {
        let _ = self.client.quit().await;
    }
}

pub(super) async fn read_all(config: &RedisConfig) -> Result<Vec<RawRecord>, ServerError> {
    let connection = Connection::open(config).await?;
    let result = read_keys(&connection.client, connection.clustered, &config.key_prefix)
        .await
        .map_err(|e| connection.locate(e));
    connection.close().await;
    result
}

/// Deletes `key` if it still holds `text`, in one step on the server: 1
/// deleted, 0 no such key, -1 another value.
const DELETE_IF_UNCHANGED: &str = "local v = redis.call('GET', KEYS[1]) if not v then return 0 end \
     if v == ARGV[1] then return redis.call('DEL', KEYS[1]) end return -1";

/// Removes each key that still holds the text read: 1 removed, 0 already
/// gone, -1 changed since (kept).
pub(super) async fn remove(
    config: &RedisConfig,
    records: &[SourceRecord],
    removed: &mut Removed,
) -> Result<(), ServerError> {
    let connection = Connection::open(config).await?;
    let mut result = Ok(());
    for record in records {
        let Location::RedisKey(key) = &record.location else {
            continue;
        };
        let outcome: Result<i64, _> = connection
            .client
            .eval(
                DELETE_IF_UNCHANGED,
                vec![Key::from(key.as_slice())],
                vec![record.text.as_str()],
            )
            .await;
        match outcome {
            Ok(1) => removed.removed += 1,
            Ok(0) => removed.gone += 1,
            Ok(_) => removed.changed += 1,
            Err(e) => {
                result = Err(connection.locate(failed("EVAL (delete if unchanged) failed", e)));
                break;
            }
        }
    }
    connection.close().await;
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
        let location = Location::RedisKey(key.as_bytes().to_vec());
        if key.as_bytes().starts_with(prefix.as_bytes()) {
            records.push(RawRecord {
                origin,
                location,
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
            location,
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
