//! The tokenizer's documented `tokenizer:` examples, verbatim: every key
//! parses and maps to its meaning, and the only error is the password rule
//! refusing the documented example password.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera_core::Lifetime;
use tessera_server::config::{self, Backend, ConfigSources, Origin};

const EXAMPLES: [&str; 4] = [
    "tokenizer-local.yml",
    "tokenizer-dynamodb-profile.yml",
    "tokenizer-dynamodb-keys.yml",
    "tokenizer-redis.yml",
];

const STRONG: &str = "hT4k-9qZ_mW2xVbR-long";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn sources(file: PathBuf) -> ConfigSources {
    ConfigSources {
        files: vec![file],
        env: vec![("HOME".into(), "/home/tessera".into())],
        defines: Vec::new(),
    }
}

#[test]
fn the_only_error_in_each_example_is_the_documented_password() {
    for name in EXAMPLES {
        let file = fixture(name);
        let errors = config::load(&sources(file.clone())).unwrap_err();
        let [error] = errors.errors() else {
            panic!("{name}: expected exactly one error, got {errors}");
        };
        assert_eq!(error.key(), "tokenizer.safe_password", "{name}");
        assert_eq!(error.origin(), Some(&Origin::File(file.clone())), "{name}");
        let shown = error.to_string();
        assert!(shown.contains("password rule"), "{shown}");
        assert!(shown.contains(&file.display().to_string()), "{shown}");
        assert!(
            !shown.contains("abc123456abcdef"),
            "the password is quoted: {shown}"
        );
    }
}

/// The example with its password replaced by a strong one, in a temporary
/// copy.
fn with_strong_password(name: &str) -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    assert!(text.contains("safe_password: abc123456abcdef"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.yml");
    std::fs::write(&path, text.replace("abc123456abcdef", STRONG)).unwrap();
    (dir, path)
}

#[test]
fn with_a_strong_password_every_example_passes_and_means_what_it_says() {
    let mut seen = 0;
    for name in EXAMPLES {
        let (_dir, path) = with_strong_password(name);
        let config = config::load(&sources(path)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!config.embedded);
        // `timeout: 60` is the sliding idle timeout, in minutes.
        assert_eq!(
            config.session_store.policy.max_idle_time,
            Lifetime::minutes_const(60),
            "{name}"
        );
        let passwords = config.passwords.as_ref().expect("configured password");
        assert_eq!(passwords.current.expose_secret(), STRONG);
        assert!(passwords.previous.is_empty());
        match (name, &config.backend) {
            ("tokenizer-local.yml", Backend::Local(local)) => {
                assert_eq!(local.path, Path::new("/tmp/tokens"));
                assert_eq!(local.touch_window, None);
            }
            ("tokenizer-dynamodb-profile.yml", Backend::DynamoDb(d)) => {
                assert_eq!(d.table, "tokenizer");
                assert_eq!(d.aws_region_name.as_deref(), Some("us-east-1"));
                assert_eq!(d.profile().unwrap(), Some("default"));
                assert_eq!(d.aws_access_key, None);
                assert_eq!(d.aws_secret_key, None);
            }
            ("tokenizer-dynamodb-keys.yml", Backend::DynamoDb(d)) => {
                assert_eq!(d.table, "tokenizer");
                assert_eq!(d.aws_region_name.as_deref(), Some("us-east-1"));
                assert_eq!(d.profile().unwrap(), None);
                assert_eq!(d.aws_access_key.as_deref(), Some("AKIA..."));
                assert_eq!(d.aws_secret_key.as_deref(), Some("..."));
            }
            ("tokenizer-redis.yml", Backend::Redis(r)) => {
                assert_eq!(r.host.as_deref(), Some("localhost"));
                assert_eq!(r.port, Some(6379));
                assert!(r.options.ssl);
                assert!(!r.tls_insecure_skip_verify);
                assert_eq!(r.url, None);
            }
            (name, backend) => panic!("{name} gave {backend:?}"),
        }
        seen += 1;
    }
    assert_eq!(seen, EXAMPLES.len());
}

#[test]
fn the_same_examples_in_toml_pass_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.toml");
    std::fs::write(
        &path,
        format!(
            "[tokenizer]\ntype = \"redis\"\ntimeout = 60\nsafe_password = \"{STRONG}\"\n\
             host = \"localhost\"\nport = 6379\n\n[tokenizer.options]\nssl = true\n"
        ),
    )
    .unwrap();
    let config = config::load(&sources(path)).unwrap();
    let Backend::Redis(redis) = &config.backend else {
        panic!("{:?}", config.backend);
    };
    assert!(redis.options.ssl);
    assert_eq!(redis.port, Some(6379));
}

#[test]
fn previous_passwords_and_the_other_backend_keys_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.yml");
    std::fs::write(
        &path,
        format!(
            "tokenizer:\n  type: dynamodb\n  safe_password: {STRONG}\n  previous_safe_passwords:\n    - Older-pass-9qZ_mW2x\n  table: sessions\n  aws_profile_name: prod\n  endpoint_url: http://127.0.0.1:8000\n"
        ),
    )
    .unwrap();
    let config = config::load(&sources(path)).unwrap();
    assert_eq!(config.passwords.as_ref().unwrap().previous.len(), 1);
    let Backend::DynamoDb(d) = &config.backend else {
        panic!();
    };
    assert_eq!(d.profile().unwrap(), Some("prod"));
    assert_eq!(d.endpoint_url.as_deref(), Some("http://127.0.0.1:8000"));

    let path = dir.path().join("redis.yml");
    std::fs::write(
        &path,
        format!(
            "tokenizer:\n  type: redis\n  safe_password: {STRONG}\n  url: rediss://app:pw@cache:6380/2\n  key_prefix: tessera-\n  pool_size: 8\n  command_timeout_ms: 500\n  cluster: false\n"
        ),
    )
    .unwrap();
    let config = config::load(&sources(path)).unwrap();
    let Backend::Redis(r) = &config.backend else {
        panic!();
    };
    assert_eq!(r.url.as_deref(), Some("rediss://app:pw@cache:6380/2"));
    assert_eq!(r.key_prefix, "tessera-");
    assert_eq!(r.pool_size, 8);
    assert_eq!(r.command_timeout, Duration::from_millis(500));
}
