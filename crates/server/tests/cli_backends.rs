//! The real binary on the real Redis and DynamoDB services that
//! `cargo xtask test` starts: configured by file, environment and `-D`,
//! serving the API, two servers sharing one Redis, and the administrative
//! commands on the same backend.

use std::path::Path;
use std::process::Command;
use tessera_store::testkit::{service_env, unique};

use tessera_crypto::TokenHash;

mod cli_support;

use cli_support::{BASE, json_field, request};

const STRONG: &str = "hT4k-9qZ_mW2xVbR-long";
const TOKEN: &str = "backend-test-token-0123456789abcdefghijklmnop";

fn with_file(dir: &Path, contents: &str) -> Command {
    let file = dir.join("settings.yml");
    std::fs::write(&file, contents).unwrap();
    let mut command = cli_support::tessera();
    command.env("HOME", dir).arg("--config").arg(file);
    command
}

#[test]
fn two_servers_share_one_redis_and_the_admin_commands_see_it() {
    let url = service_env("TESSERA_TEST_REDIS_URL");
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}:", unique("redis"));
    // The tokenizer's block plus a token hash; the URL comes from the
    // environment and the prefix from -D, to go through every layer.
    let config = format!(
        "tokenizer:\n  type: redis\n  timeout: 30\n  safe_password: {STRONG}\nsessionStore:\n  apiAccessTokenSHA256: {}\n  quotaPerSubject: 2\n  onQuotaExhaustion: DENY_LOGIN\n",
        TokenHash::of(TOKEN)
    );
    let command = || {
        let mut command = with_file(dir.path(), &config);
        command
            .env("TESSERA_TOKENIZER__URL", &url)
            .arg(format!("-Dtokenizer.key_prefix={prefix}"));
        command
    };
    let mut serve = command();
    serve.arg("serve");
    let first = cli_support::serve(serve);
    let mut serve = command();
    serve.arg("serve");
    let second = cli_support::serve(serve);
    assert!(first.banner.contains("(redis store)"), "{}", first.banner);

    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let sessions = format!("{BASE}/sessions");
    let (status, body) = request(&first.addr, "POST", &sessions, &auth, r#"{"sub":"carol"}"#);
    assert_eq!(status, 201, "{body}");
    let sid = json_field(&body, "sid");
    // The other server sees the session, and the idle timeout from the
    // tokenizer's `timeout`.
    let with_sid = [("Authorization", bearer.as_str()), ("SID", sid.as_str())];
    let (status, body) = request(&second.addr, "GET", &sessions, &with_sid, "");
    assert_eq!(status, 200, "{body}");
    let session: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(session["max_idle"], 30);
    // The quota is kept across both servers.
    let (status, body) = request(&second.addr, "POST", &sessions, &auth, r#"{"sub":"carol"}"#);
    assert_eq!(status, 201, "{body}");
    let (status, body) = request(&first.addr, "POST", &sessions, &auth, r#"{"sub":"carol"}"#);
    assert!(
        (400..500).contains(&status),
        "a third login is denied: {status} {body}"
    );

    // The admin commands work on the same Redis, with the same layers.
    let out = command()
        .args(["sessions", "list", "--subject", "carol", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 2);
    let out = command()
        .args(["sessions", "revoke", "--subject", "carol"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ended 2 session(s)"));
    let (status, _) = request(&first.addr, "GET", &sessions, &with_sid, "");
    assert_eq!(status, 404);
    let out = command().arg("purge").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dynamodb_create_table_then_serve_on_it() {
    let endpoint = service_env("TESSERA_TEST_DYNAMODB_ENDPOINT");
    let dir = tempfile::tempdir().unwrap();
    let table = unique("ddb");
    // The tokenizer's DynamoDB example with keys, plus the emulator.
    let config = format!(
        "tokenizer:\n  type: dynamodb\n  timeout: 60\n  safe_password: {STRONG}\n  table: {table}\n  aws_region_name: us-east-1\n  aws_access_key: testing\n  aws_secret_key: testing\n  endpoint_url: {endpoint}\nsessionStore:\n  apiAccessTokenSHA256.deploy: {}\n",
        TokenHash::of(TOKEN)
    );

    // Before the table exists, serve fails with a clear error.
    let out = with_file(dir.path(), &config)
        .arg("serve")
        .arg("-Dserver.listen=127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&table));

    let out = with_file(dir.path(), &config)
        .args(["dynamodb", "create-table"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&table));

    let mut serve = with_file(dir.path(), &config);
    serve.arg("serve");
    let server = cli_support::serve(serve);
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let sessions = format!("{BASE}/sessions");
    let (status, body) = request(&server.addr, "POST", &sessions, &auth, r#"{"sub":"dave"}"#);
    assert_eq!(status, 201, "{body}");

    let out = with_file(dir.path(), &config)
        .args(["sessions", "list", "--subject", "dave"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

/// `dynamodb create-table` says whether it created the table or found it,
/// and what it did about TTL; `serve` on a table whose TTL is off warns.
#[test]
fn create_table_tells_created_from_found_and_serve_warns_when_ttl_is_off() {
    let endpoint = service_env("TESSERA_TEST_DYNAMODB_ENDPOINT");
    let dir = tempfile::tempdir().unwrap();
    let table = unique("ttl");
    let config = format!(
        "tokenizer:\n  type: dynamodb\n  safe_password: {STRONG}\n  table: {table}\n  aws_region_name: us-east-1\n  aws_access_key: testing\n  aws_secret_key: testing\n  endpoint_url: {endpoint}\nsessionStore:\n  apiAccessTokenSHA256: {}\n",
        TokenHash::of(TOKEN)
    );
    let create = || {
        let out = with_file(dir.path(), &config)
            .args(["dynamodb", "create-table"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        create(),
        format!("created table {table} (partition key `username`, TTL on `ttl` turned on)")
    );
    assert_eq!(
        create(),
        format!(
            "table {table} exists with the right key schema (partition key `username`); TTL on \
             `ttl` already on"
        )
    );

    // TTL turned off behind Tessera's back.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut dynamo = tessera_store_dynamodb::DynamoDbConfig::new(table.clone());
        dynamo.endpoint_url = Some(endpoint.clone());
        dynamo.aws_region_name = Some("us-east-1".into());
        dynamo.aws_access_key = Some("testing".into());
        dynamo.aws_secret_key = Some("testing".into());
        let client = dynamo.client().await.unwrap();
        let off = tessera_store_dynamodb::sdk::types::TimeToLiveSpecification::builder()
            .enabled(false)
            .attribute_name("ttl")
            .build()
            .unwrap();
        client
            .update_time_to_live()
            .table_name(&table)
            .time_to_live_specification(off)
            .send()
            .await
            .unwrap();
    });
    let log = dir.path().join("serve.log");
    let mut serve = with_file(dir.path(), &config);
    serve.arg("serve");
    let server = cli_support::serve_with_stderr(serve, std::fs::File::create(&log).unwrap().into());
    let (status, _) = request(&server.addr, "GET", "/readyz", &[], "");
    assert_eq!(status, 200, "TTL off is a warning, not a failure");
    drop(server);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("TTL is off on the table")),
        "{log}"
    );
    assert_eq!(
        create(),
        format!(
            "table {table} exists with the right key schema (partition key `username`); TTL on \
             `ttl` turned on"
        )
    );
}
