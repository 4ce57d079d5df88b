//! Configuration, with the tokenizer's key names, and building the SDK
//! client from it.

use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use serde::Deserialize;

use crate::DynamoDbError;

/// The DynamoDB store's settings.
///
/// The first six keys are the tokenizer's (`table`, `aws_region_name`,
/// `profile_name` / `aws_profile_name`, `aws_access_key`,
/// `aws_secret_key`), so its `tokenizer:` block carries over unchanged.
/// Without keys or a profile, credentials come from the standard AWS chain
/// (environment, shared config files, SSO, web identity, container and
/// instance roles).
///
/// `Debug` never shows the secret key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoDbConfig {
    /// The table's name.
    pub table: String,
    /// The AWS region (`eu-west-1`). Unset: the standard chain
    /// (`AWS_REGION`, the profile); with `endpoint_url` set, `us-east-1`.
    #[serde(default)]
    pub aws_region_name: Option<String>,
    /// The shared-config profile to use (the tokenizer's documented name).
    #[serde(default)]
    pub profile_name: Option<String>,
    /// The same, under the name the tokenizer's code reads. Setting both to
    /// different values is an error.
    #[serde(default)]
    pub aws_profile_name: Option<String>,
    /// A static access key ID. Not recommended: prefer a role or a profile,
    /// so no long-lived secret sits in a configuration file.
    #[serde(default)]
    pub aws_access_key: Option<String>,
    /// The static secret access key that goes with `aws_access_key`.
    #[serde(default)]
    pub aws_secret_key: Option<String>,
    /// A custom endpoint, for local emulators (`http://127.0.0.1:8000`).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Attempts per request, the first included, before a throttled or
    /// failed call is reported as unavailable.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// Time to establish a connection (default 3 s; key
    /// `connect_timeout_ms`).
    #[serde(
        rename = "connect_timeout_ms",
        with = "tessera_store::backend::millis",
        default = "defaults::connect_timeout"
    )]
    pub connect_timeout: Duration,
    /// Time for one attempt of one request (default 5 s; key
    /// `attempt_timeout_ms`).
    #[serde(
        rename = "attempt_timeout_ms",
        with = "tessera_store::backend::millis",
        default = "defaults::attempt_timeout"
    )]
    pub attempt_timeout: Duration,
    /// Times a create retries after losing the race for the subject index
    /// to a concurrent login of the same subject.
    #[serde(default = "defaults::create_attempts")]
    pub create_attempts: u32,
    /// Items per Scan page (count and purge only).
    #[serde(default = "defaults::scan_page_size")]
    pub scan_page_size: u32,
    /// Read capacity units per second that count and purge may spend on
    /// scanning; 0 means no limit.
    #[serde(default = "defaults::max_read_units_per_second")]
    pub max_read_units_per_second: f64,
    /// Touch coalescing window (default 60 s, as on the other stores; key
    /// `touch_window_ms`): a lookup is one strongly consistent `GetItem`,
    /// and writes `last_used` (one conditional `UpdateItem`) only once the
    /// window has passed since the stored last use.
    #[serde(
        rename = "touch_window_ms",
        with = "tessera_store::backend::millis",
        default = "defaults::touch_window"
    )]
    pub touch_window: Duration,
}

mod defaults {
    pub(super) fn max_attempts() -> u32 {
        3
    }
    use std::time::Duration;

    pub(super) fn connect_timeout() -> Duration {
        Duration::from_secs(3)
    }
    pub(super) fn attempt_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn create_attempts() -> u32 {
        // 32 concurrent logins of one subject each lose at most 31 races.
        48
    }
    pub(super) fn scan_page_size() -> u32 {
        100
    }
    pub(super) fn max_read_units_per_second() -> f64 {
        100.0
    }
    pub(super) fn touch_window() -> Duration {
        Duration::from_secs(60)
    }
}

impl fmt::Debug for DynamoDbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoDbConfig")
            .field("table", &self.table)
            .field("aws_region_name", &self.aws_region_name)
            .field("profile_name", &self.profile_name)
            .field("aws_profile_name", &self.aws_profile_name)
            .field("aws_access_key", &self.aws_access_key)
            .field(
                "aws_secret_key",
                &self.aws_secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("endpoint_url", &self.endpoint_url)
            .field("max_attempts", &self.max_attempts)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("create_attempts", &self.create_attempts)
            .field("scan_page_size", &self.scan_page_size)
            .field("max_read_units_per_second", &self.max_read_units_per_second)
            .field("touch_window", &self.touch_window)
            .finish()
    }
}

impl DynamoDbConfig {
    /// The defaults for `table`: standard credential chain and region.
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            aws_region_name: None,
            profile_name: None,
            aws_profile_name: None,
            aws_access_key: None,
            aws_secret_key: None,
            endpoint_url: None,
            max_attempts: defaults::max_attempts(),
            connect_timeout: defaults::connect_timeout(),
            attempt_timeout: defaults::attempt_timeout(),
            create_attempts: defaults::create_attempts(),
            scan_page_size: defaults::scan_page_size(),
            max_read_units_per_second: defaults::max_read_units_per_second(),
            touch_window: defaults::touch_window(),
        }
    }

    /// The profile to use, from either of its two names.
    pub fn profile(&self) -> Result<Option<&str>, DynamoDbError> {
        match (
            self.profile_name.as_deref(),
            self.aws_profile_name.as_deref(),
        ) {
            (Some(a), Some(b)) if a != b => Err(invalid(
                "aws_profile_name",
                format!("is `{b}` but `profile_name` is `{a}`; set one of them"),
            )),
            (a, b) => Ok(a.or(b)),
        }
    }

    /// Checks the values without contacting AWS.
    pub fn validate(&self) -> Result<(), DynamoDbError> {
        // Table names: 3 to 255 of A-Z a-z 0-9 _ - .
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if !(3..=255).contains(&self.table.len()) || !self.table.chars().all(ok) {
            return Err(invalid(
                "table",
                "must be 3 to 255 characters from A-Z a-z 0-9 _ - .".into(),
            ));
        }
        self.profile()?;
        match (&self.aws_access_key, &self.aws_secret_key) {
            (Some(_), None) => {
                return Err(invalid(
                    "aws_secret_key",
                    "is missing while `aws_access_key` is set".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "aws_access_key",
                    "is missing while `aws_secret_key` is set".into(),
                ));
            }
            _ => {}
        }
        if self.max_attempts == 0 {
            return Err(invalid("max_attempts", "must be at least 1".into()));
        }
        if self.create_attempts == 0 {
            return Err(invalid("create_attempts", "must be at least 1".into()));
        }
        if self.scan_page_size == 0 {
            return Err(invalid("scan_page_size", "must be at least 1".into()));
        }
        if !(self.max_read_units_per_second >= 0.0 && self.max_read_units_per_second.is_finite()) {
            return Err(invalid(
                "max_read_units_per_second",
                "must be a finite number, 0 or more (0: no limit)".into(),
            ));
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "endpoint_url",
                "must start with http:// or https://".into(),
            ));
        }
        Ok(())
    }

    /// The SDK client configuration these settings describe, for callers
    /// that add their own interceptors before building a client (as the
    /// request-count benchmark does).
    ///
    /// With `aws_access_key` set, the static keys are used and no other
    /// credential source is consulted; they take precedence over a profile.
    ///
    /// Feature `unstable-driver`: outside this crate's semver promise, as
    /// the SDK's types change with the SDK.
    #[cfg(feature = "unstable-driver")]
    pub async fn sdk_config(&self) -> Result<aws_sdk_dynamodb::config::Builder, DynamoDbError> {
        self.sdk_builder().await
    }

    /// A client for these settings (feature `unstable-driver`, as
    /// [`sdk_config`](Self::sdk_config)).
    #[cfg(feature = "unstable-driver")]
    pub async fn client(&self) -> Result<aws_sdk_dynamodb::Client, DynamoDbError> {
        self.sdk_client().await
    }

    /// The SDK client configuration these settings describe.
    pub(crate) async fn sdk_builder(
        &self,
    ) -> Result<aws_sdk_dynamodb::config::Builder, DynamoDbError> {
        self.validate()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_attempt_timeout(self.attempt_timeout)
                    .build(),
            );
        match (&self.aws_region_name, &self.endpoint_url) {
            (Some(region), _) => loader = loader.region(Region::new(region.clone())),
            // An emulator ignores the region but the request signer needs
            // one; not asking the chain also keeps tests off the network.
            (None, Some(_)) => loader = loader.region(Region::from_static("us-east-1")),
            (None, None) => {}
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let (Some(key), Some(secret)) = (&self.aws_access_key, &self.aws_secret_key) {
            if self.profile()?.is_some() {
                tracing::warn!(
                    "DynamoDB: aws_access_key is set, so the configured profile is not used"
                );
            }
            loader = loader.credentials_provider(Credentials::new(
                key.clone(),
                secret.clone(),
                None,
                None,
                "tessera-config",
            ));
        } else if let Some(profile) = self.profile()? {
            loader = loader.profile_name(profile);
        }
        let shared = loader.load().await;
        Ok(aws_sdk_dynamodb::config::Builder::from(&shared))
    }

    /// A client for these settings.
    pub(crate) async fn sdk_client(&self) -> Result<aws_sdk_dynamodb::Client, DynamoDbError> {
        Ok(aws_sdk_dynamodb::Client::from_conf(
            self.sdk_builder().await?.build(),
        ))
    }
}

/// HTTPS with rustls on ring, verifying against the platform's roots.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

fn invalid(key: &'static str, reason: String) -> DynamoDbError {
    DynamoDbError::InvalidConfig { key, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml_like_json: &str) -> Result<DynamoDbConfig, serde_json::Error> {
        serde_json::from_str(yaml_like_json)
    }

    #[test]
    fn tokenizer_keys_parse_and_defaults_apply() {
        let c = parse(
            r#"{"table":"tokens","aws_region_name":"eu-west-1","profile_name":"prod",
                "aws_access_key":"AKIA","aws_secret_key":"s3cret"}"#,
        )
        .unwrap();
        assert_eq!(c.aws_region_name.as_deref(), Some("eu-west-1"));
        assert_eq!(c.profile().unwrap(), Some("prod"));
        assert_eq!(c.max_attempts, 3);
        c.validate().unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn both_profile_names_must_agree() {
        let same =
            parse(r#"{"table":"tokens","profile_name":"p","aws_profile_name":"p"}"#).unwrap();
        assert_eq!(same.profile().unwrap(), Some("p"));
        let only_code_name = parse(r#"{"table":"tokens","aws_profile_name":"q"}"#).unwrap();
        assert_eq!(only_code_name.profile().unwrap(), Some("q"));
        let differ =
            parse(r#"{"table":"tokens","profile_name":"p","aws_profile_name":"q"}"#).unwrap();
        let err = differ.validate().unwrap_err().to_string();
        assert!(
            err.contains("aws_profile_name") && err.contains("profile_name"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let unknown = parse(r#"{"table":"tokens","regoin":"x"}"#).unwrap_err();
        assert!(unknown.to_string().contains("regoin"), "{unknown}");
        for (json, key) in [
            (r#"{"table":"t"}"#, "table"),
            (
                r#"{"table":"tokens","aws_access_key":"a"}"#,
                "aws_secret_key",
            ),
            (
                r#"{"table":"tokens","aws_secret_key":"a"}"#,
                "aws_access_key",
            ),
            (r#"{"table":"tokens","max_attempts":0}"#, "max_attempts"),
            (
                r#"{"table":"tokens","endpoint_url":"localhost:8000"}"#,
                "endpoint_url",
            ),
            (
                r#"{"table":"tokens","max_read_units_per_second":-1}"#,
                "max_read_units_per_second",
            ),
        ] {
            let err = parse(json).unwrap().validate().unwrap_err();
            assert!(
                matches!(err, DynamoDbError::InvalidConfig { key: k, .. } if k == key),
                "{json}: {err}"
            );
        }
    }
}
