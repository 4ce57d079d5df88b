//! `tessera config show`'s text: the effective values, every secret
//! redacted.

use tessera_server::config::{self, ConfigSources};

const STRONG: &str = "hT4k-9qZ_mW2xVbR-long";
const HASH: &str = "7e106527ae813dd8ec7096203235045a2b990c099b52f2ecbffe5219fff4ee54";

fn show(contents: &str, defines: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.yml");
    std::fs::write(&file, contents).unwrap();
    config::load(&ConfigSources {
        files: vec![file],
        env: vec![("HOME".into(), "/home/t".into())],
        defines: defines.iter().map(|d| (*d).to_owned()).collect(),
    })
    .unwrap()
    .to_redacted_yaml()
}

#[test]
fn secrets_are_redacted_and_everything_else_is_shown() {
    let shown = show(
        &format!(
            "tokenizer:\n  type: redis\n  safe_password: {STRONG}\n  previous_safe_passwords: [Older-pass-9qZ_mW2x]\n  url: rediss://app:redis-pass-123@cache:6380/1\nsessionStore:\n  apiAccessTokenSHA256: {HASH}\n  apiAccessTokenSHA256.ops: {HASH}\n"
        ),
        &["sessionStore.maxLifetime=-1"],
    );
    for secret in [STRONG, "Older-pass", "redis-pass-123"] {
        assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
    }
    for expected in [
        "safe_password: <redacted>",
        "- <redacted>",
        "url: rediss://app:<redacted>@cache:6380/1",
        &format!("apiAccessTokenSHA256: {HASH}"),
        &format!("apiAccessTokenSHA256.ops: {HASH}"),
        "maxLifetime: -1",
        "quotaPerSubject: 5",
        "listen: 127.0.0.1:8080",
        "max_body_bytes: 65536",
        // The Redis store's touch window, by default.
        "touch_window_ms: 60000",
    ] {
        assert!(
            shown.contains(expected),
            "{expected} missing from:\n{shown}"
        );
    }
    // The output is itself YAML with the three blocks.
    let parsed: serde_yaml::Value = serde_yaml::from_str(&shown).unwrap();
    for block in ["tokenizer", "sessionStore", "server"] {
        assert!(parsed.get(block).is_some(), "{block}");
    }
}

#[test]
fn aws_secret_keys_are_redacted() {
    let shown = show(
        &format!(
            "tokenizer:\n  type: dynamodb\n  safe_password: {STRONG}\n  table: tab\n  aws_access_key: AKIAEXAMPLE\n  aws_secret_key: wJalrXUtnFEMI\n"
        ),
        &[],
    );
    assert!(shown.contains("aws_access_key: AKIAEXAMPLE"), "{shown}");
    assert!(shown.contains("aws_secret_key: <redacted>"), "{shown}");
    assert!(!shown.contains("wJalr"), "{shown}");
}

#[test]
fn redis_option_and_sentinel_passwords_are_redacted() {
    let shown = show(
        &format!(
            "tokenizer:\n  type: redis\n  safe_password: {STRONG}\n  host: cache\n  options:\n    ssl: true\n    username: app\n    password: other-redis-secret\n"
        ),
        &[],
    );
    assert!(!shown.contains("other-redis-secret"), "{shown}");
    assert!(shown.contains("password: <redacted>"), "{shown}");
    assert!(shown.contains("username: app"), "{shown}");
    assert!(
        shown.contains("host: cache\n  port: 6379\n"),
        "the default port is shown with its host: {shown}"
    );
    let shown = show(
        &format!(
            "tokenizer:\n  type: redis\n  safe_password: {STRONG}\n  sentinel:\n    service_name: main\n    nodes: [s1:26379]\n    password: sentinel-secret\n"
        ),
        &[],
    );
    assert!(!shown.contains("sentinel-secret"), "{shown}");
    assert!(shown.contains("service_name: main"), "{shown}");
    let shown = show(
        &format!(
            "tokenizer:\n  type: redis\n  safe_password: {STRONG}\n  cluster_nodes: [\"redis://:node-secret@n1:7000\"]\n"
        ),
        &[],
    );
    assert!(!shown.contains("node-secret"), "{shown}");
    assert!(shown.contains("redis://:<redacted>@n1:7000"), "{shown}");
}

#[test]
fn every_default_is_filled_in_even_the_empty_and_backend_ones() {
    let shown = show(
        &format!("tokenizer:\n  type: local\n  safe_password: {STRONG}\n  path: /tmp/t\n"),
        &[],
    );
    for expected in [
        "previous_safe_passwords: []",
        "touch_window_ms: 60000",
        "expirationInterval: 300000",
        "subjectIndexPurgeInterval: 0",
    ] {
        assert!(
            shown.contains(expected),
            "{expected} missing from:\n{shown}"
        );
    }
    assert!(!shown.contains("backend default"), "{shown}");
}
