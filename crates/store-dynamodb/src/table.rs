//! Creating the table in the documented shape, and refusing a table of
//! another shape.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};

use crate::errors::{self, GaveUp};
use crate::item::{KEY, TTL};
use crate::{DynamoDbConfig, DynamoDbError};

/// How long [`create_table`] waits for a new table to become active.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// Creates the table `config.table`, with the region, endpoint and
/// credentials of `config`, in the shape the tokenizer documents (one
/// String partition key `username`, on-demand capacity) and enables TTL on
/// its `ttl` attribute.
///
/// Idempotent: an existing table of the right shape is kept, and TTL is
/// enabled on it if it is not yet; an existing table of another shape is
/// [`DynamoDbError::WrongTableShape`]. Needs `dynamodb:CreateTable`,
/// `DescribeTable`, `UpdateTimeToLive` and `DescribeTimeToLive`.
pub async fn create_table(config: &DynamoDbConfig) -> Result<TableSetup, DynamoDbError> {
    let client = config.sdk_client().await?;
    create_table_on(&client, &config.table).await
}

/// [`create_table`] on a client already built.
pub(crate) async fn create_table_on(
    client: &Client,
    table: &str,
) -> Result<TableSetup, DynamoDbError> {
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KEY)
                .key_type(KeyType::Hash)
                .build()
                .expect("name and type are set"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    let created = match created {
        Ok(_) => true,
        Err(e) if errors::code(&e) == Some("ResourceInUseException") => false,
        Err(e) => return Err(errors::setup("creating the table", e)),
    };
    wait_active(client, table).await?;
    verify_table(client, table).await?;
    let ttl_before = enable_ttl(client, table).await?;
    Ok(TableSetup {
        created,
        ttl_before,
    })
}

/// What [`create_table`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSetup {
    /// Whether the table was created (else it existed, with the right
    /// shape).
    pub created: bool,
    /// The TTL setting found: `Off` means this call turned TTL on for
    /// `ttl`; TTL on another attribute is left alone.
    pub ttl_before: TtlState,
}

/// The table's native expiry, as far as Tessera's items are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtlState {
    /// TTL is on (or being turned on) for `ttl`: expired items go by
    /// themselves.
    OnTtl,
    /// TTL is off: expired sessions stay until a purge removes them.
    Off,
    /// TTL is on for another attribute, which Tessera does not write.
    OtherAttribute(String),
}

/// Reads the table's TTL setting (`dynamodb:DescribeTimeToLive`).
///
/// # Errors
///
/// [`DynamoDbError`] when the setting cannot be read.
pub(crate) async fn ttl_state(client: &Client, table: &str) -> Result<TtlState, DynamoDbError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| errors::setup("reading the table's TTL setting", e))?;
    let description = current.time_to_live_description();
    let on = matches!(
        description.and_then(|d| d.time_to_live_status()),
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    );
    Ok(match description.and_then(|d| d.attribute_name()) {
        Some(TTL) if on => TtlState::OnTtl,
        Some(other) if on => TtlState::OtherAttribute(other.to_owned()),
        _ => TtlState::Off,
    })
}

async fn wait_active(client: &Client, table: &str) -> Result<(), DynamoDbError> {
    let deadline = tokio::time::Instant::now() + ACTIVE_TIMEOUT;
    loop {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| errors::setup("describing the table", e))?;
        let status = described.table().and_then(|t| t.table_status());
        if matches!(status, Some(TableStatus::Active) | None) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DynamoDbError::Unreachable {
                what: "waiting for the new table to become active".to_owned(),
                source: GaveUp(format!("table `{table}` is still {status:?}")).into(),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Turns TTL on for `ttl` unless it is on already; returns the setting it
/// found. TTL on another attribute is the operator's choice and is left
/// alone, with a warning.
async fn enable_ttl(client: &Client, table: &str) -> Result<TtlState, DynamoDbError> {
    match ttl_state(client, table).await? {
        TtlState::OnTtl => return Ok(TtlState::OnTtl),
        TtlState::OtherAttribute(attribute) => {
            tracing::warn!(
                table,
                attribute,
                "TTL is enabled on another attribute than `ttl`; rely on purge to remove expired sessions"
            );
            return Ok(TtlState::OtherAttribute(attribute));
        }
        TtlState::Off => {}
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL)
                .build()
                .expect("enabled and attribute are set"),
        )
        .send()
        .await
        .map_err(|e| errors::setup("enabling TTL on `ttl`", e))?;
    Ok(TtlState::Off)
}

/// Checks that `table` exists and has exactly one key, a HASH key
/// `username` of type S.
pub(crate) async fn verify_table(client: &Client, table: &str) -> Result<(), DynamoDbError> {
    let described = match client.describe_table().table_name(table).send().await {
        Ok(d) => d,
        Err(e) if errors::code(&e) == Some("ResourceNotFoundException") => {
            return Err(DynamoDbError::TableMissing {
                table: table.to_owned(),
                source: e.into(),
            });
        }
        Err(e) => return Err(errors::setup("describing the table", e)),
    };
    let Some(t) = described.table() else {
        return Err(shape(table, "no table description".into()));
    };
    let type_of = |name: &str| {
        t.attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == name)
            .map_or_else(
                || "?".to_owned(),
                |d| d.attribute_type().as_str().to_owned(),
            )
    };
    let keys = t.key_schema();
    let ok = matches!(keys, [only] if only.attribute_name() == KEY
        && *only.key_type() == KeyType::Hash
        && type_of(KEY) == "S");
    if ok {
        return Ok(());
    }
    let found = if keys.is_empty() {
        "no key schema".to_owned()
    } else {
        keys.iter()
            .map(|k| {
                format!(
                    "{} key `{}` of type {}",
                    k.key_type().as_str(),
                    k.attribute_name(),
                    type_of(k.attribute_name())
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(shape(table, found))
}

fn shape(table: &str, found: String) -> DynamoDbError {
    DynamoDbError::WrongTableShape {
        table: table.to_owned(),
        found,
    }
}
