//! Every bad value is an error naming its key and where it came from, and
//! all of them are reported at once.

use std::path::{Path, PathBuf};

use tessera_server::config::{self, ConfigError, ConfigErrors, ConfigSources, Origin};

const STRONG: &str = "hT4k-9qZ_mW2xVbR-long";
const HASH: &str = "7e106527ae813dd8ec7096203235045a2b990c099b52f2ecbffe5219fff4ee54";

fn load_yaml(
    contents: &str,
) -> (
    PathBuf,
    Result<config::Config, ConfigErrors>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.yml");
    std::fs::write(&file, contents).unwrap();
    let result = config::load(&ConfigSources {
        files: vec![file.clone()],
        env: vec![("HOME".into(), "/home/t".into())],
        defines: Vec::new(),
    });
    (file, result, dir)
}

/// Loads `extra` appended to a valid local configuration and returns the
/// one error it causes.
fn one_error(extra: &str) -> (PathBuf, ConfigError) {
    let contents =
        format!("tokenizer:\n  type: local\n  safe_password: {STRONG}\n  path: /tmp/t\n{extra}");
    let (file, result, _dir) = load_yaml(&contents);
    let errors = result.expect_err(extra);
    let [error] = errors.errors() else {
        panic!("{extra}: expected one error, got {errors}");
    };
    (file, error.clone())
}

#[test]
#[expect(clippy::too_many_lines, reason = "one table of cases, one per line")]
fn each_bad_value_names_its_key_and_file() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "sessionStore:\n  maxLifetime: 0\n",
            "sessionStore.maxLifetime",
            "must not be 0",
        ),
        (
            "sessionStore:\n  authLifetime: 0\n",
            "sessionStore.authLifetime",
            "must not be 0",
        ),
        (
            "sessionStore:\n  maxIdleTime: 0\n",
            "sessionStore.maxIdleTime",
            "must not be 0",
        ),
        (
            "sessionStore:\n  maxLifetime: 99999999999\n",
            "sessionStore.maxLifetime",
            "maximum",
        ),
        (
            "sessionStore:\n  quotaPerSubject: 0\n",
            "sessionStore.quotaPerSubject",
            "1..=25",
        ),
        (
            "sessionStore:\n  quotaPerSubject: 26\n",
            "sessionStore.quotaPerSubject",
            "1..=25",
        ),
        (
            "sessionStore:\n  onQuotaExhaustion: deny\n",
            "sessionStore.onQuotaExhaustion",
            "DENY_LOGIN",
        ),
        (
            "sessionStore:\n  apiAccessTokenSHA256: abc\n",
            "sessionStore.apiAccessTokenSHA256",
            "64 hex",
        ),
        (
            "sessionStore:\n  secondaryAPIAccessTokenSHA256: nothex\n",
            "sessionStore.secondaryAPIAccessTokenSHA256",
            "64 hex",
        ),
        (
            "sessionStore:\n  apiAccessTokenSHA256.ops: 12\n",
            "sessionStore.apiAccessTokenSHA256.ops",
            "expected text",
        ),
        (
            &format!("sessionStore:\n  apiAccessTokenSHA256.primary: {HASH}\n"),
            "sessionStore.apiAccessTokenSHA256.primary",
            "taken",
        ),
        (
            &format!("sessionStore:\n  apiAccessTokenSHA256.bad label: {HASH}\n"),
            "sessionStore.apiAccessTokenSHA256.bad label",
            "label",
        ),
        (
            "sessionStore:\n  acceptLegacySIDs: maybe\n",
            "sessionStore.acceptLegacySIDs",
            "true or false",
        ),
        (
            "sessionStore:\n  internal:\n    subjectIndexPurgeInterval: -2\n",
            "sessionStore.internal.subjectIndexPurgeInterval",
            "-1 off",
        ),
        (
            "sessionStore:\n  sessionMap:\n    expirationInterval: 10\n",
            "sessionStore.sessionMap.expirationInterval",
            "0 (off)",
        ),
        (
            "sessionStore:\n  maxLifetime: sixty\n",
            "sessionStore.maxLifetime",
            "whole number",
        ),
        (
            "sessionStore:\n  maxLifetime: 1.5\n",
            "sessionStore.maxLifetime",
            "fraction",
        ),
        // Unknown keys, at every depth.
        (
            "sessionStore:\n  maxLifeTime: 5\n",
            "sessionStore.maxLifeTime",
            "did you mean `sessionStore.maxLifetime`",
        ),
        (
            "sessionStore:\n  internal:\n    nope: 1\n",
            "sessionStore.internal.nope",
            "unknown key",
        ),
        ("server:\n  port: 80\n", "server.port", "unknown key"),
        ("colour: blue\n", "colour", "unknown key"),
        (
            "sessionstore:\n  maxLifetime: 5\n",
            "sessionstore",
            "did you mean `sessionStore`",
        ),
        (
            "server:\n  listen: localhost\n",
            "server.listen",
            "IP address and port",
        ),
        (
            "server:\n  max_body_bytes: 0\n",
            "server.max_body_bytes",
            "allowed range",
        ),
        (
            "server:\n  max_header_bytes: 10\n",
            "server.max_header_bytes",
            "allowed range",
        ),
        (
            "server:\n  request_timeout_ms: 0\n",
            "server.request_timeout_ms",
            "allowed range",
        ),
        (
            "server:\n  max_connections: 0\n",
            "server.max_connections",
            "allowed range",
        ),
        (
            "server:\n  shutdown_timeout_ms: -1\n",
            "server.shutdown_timeout_ms",
            "allowed range",
        ),
        (
            "server:\n  log_format: xml\n",
            "server.log_format",
            "text, json",
        ),
        (
            "server:\n  log_level: '[[['\n",
            "server.log_level",
            "log filter",
        ),
        // Found by the config_parse fuzz target: the filter parser
        // panicked on a multi-byte character after leading space.
        (
            "server:\n  log_level: ' \u{e9}=info'\n",
            "server.log_level",
            "log filter",
        ),
        ("server: 5\n", "server", "table"),
    ];
    for (extra, key, fragment) in cases {
        let (file, error) = one_error(extra);
        assert_eq!(error.key(), *key, "{extra}");
        assert_eq!(error.origin(), Some(&Origin::File(file.clone())), "{extra}");
        assert!(error.message().contains(fragment), "{extra}: {error}");
        let shown = error.to_string();
        assert!(shown.starts_with(key), "{shown}");
        assert!(shown.contains(&file.display().to_string()), "{shown}");
    }
}

#[test]
#[expect(clippy::too_many_lines, reason = "one table of cases, one per line")]
fn tokenizer_mistakes_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "  type: memcached\n",
            "tokenizer.type",
            "not one of local, dynamodb, redis",
        ),
        (
            "  type: local\n  timeout: 0\n",
            "tokenizer.timeout",
            "must not be 0",
        ),
        (
            "  type: local\n  options:\n    ssl: true\n",
            "tokenizer.options.ssl",
            "only to type redis",
        ),
        (
            "  type: local\n  table: tab\n",
            "tokenizer.table",
            "only to type dynamodb",
        ),
        (
            "  type: local\n  colour: 1\n",
            "tokenizer.colour",
            "unknown key",
        ),
        (
            "  type: redis\n  host: h\n  options:\n    tls: true\n",
            "tokenizer.options.tls",
            "unknown key",
        ),
        (
            "  type: redis\n  host: h\n  port: 70000\n",
            "tokenizer.port",
            "1..=65535",
        ),
        (
            "  type: redis\n  host: h\n  url: redis://h\n",
            "tokenizer.url",
            "exactly one",
        ),
        ("  type: redis\n", "tokenizer.host", "tokenizer.url"),
        (
            "  type: redis\n  url: http://h\n",
            "tokenizer.url",
            "rediss://",
        ),
        (
            "  type: redis\n  url: redis://h:notaport\n",
            "tokenizer.url",
            "invalid Redis URL",
        ),
        (
            "  type: redis\n  host: h\n  options:\n    db: 300\n",
            "tokenizer.options.db",
            "0..=255",
        ),
        (
            "  type: redis\n  host: h\n  key_prefix: a{b}\n",
            "tokenizer.key_prefix",
            "hash tag",
        ),
        (
            "  type: redis\n  host: h\n  touch_window_ms: 3600001\n",
            "tokenizer.touch_window_ms",
            "0..=3600000",
        ),
        (
            "  type: dynamodb\n  table: tab\n  touch_window_ms: 3600001\n",
            "tokenizer.touch_window_ms",
            "0..=3600000",
        ),
        (
            "  type: redis\n  sentinel:\n    service_name: m\n",
            "tokenizer.sentinel.nodes",
            "required",
        ),
        (
            "  type: dynamodb\n  table: t\n",
            "tokenizer.table",
            "3 to 255",
        ),
        (
            "  type: dynamodb\n  table: tab\n  max_read_units_per_second: -1\n",
            "tokenizer.max_read_units_per_second",
            "0 or more",
        ),
        (
            "  type: redis\n  host: h\n  tls_insecure_skip_verify: true\n",
            "tokenizer.tls_insecure_skip_verify",
            "TLS is off",
        ),
        ("  type: dynamodb\n", "tokenizer.table", "required"),
        (
            "  type: dynamodb\n  table: tab\n  aws_access_key: AKIA\n",
            "tokenizer.aws_secret_key",
            "aws_access_key",
        ),
        (
            "  type: dynamodb\n  table: tab\n  profile_name: a\n  aws_profile_name: b\n",
            "tokenizer.aws_profile_name",
            "profile_name",
        ),
        (
            "  type: dynamodb\n  table: tab\n  endpoint_url: localhost:8000\n",
            "tokenizer.endpoint_url",
            "http://",
        ),
        (
            "  type: local\n  previous_safe_passwords: [changeme]\n",
            "tokenizer.previous_safe_passwords.0",
            "password rule",
        ),
    ];
    for (block, key, fragment) in cases {
        let (file, result, _dir) =
            load_yaml(&format!("tokenizer:\n  safe_password: {STRONG}\n{block}"));
        check_one_error(&file, result, block, key, fragment);
    }
}

#[test]
fn guessable_passwords_and_short_salts_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "tokenizer:\n  type: local\n  safe_password: passwordpassword1\n",
            "tokenizer.safe_password",
            "too easy to guess",
        ),
        (
            "tokenizer:\n  type: local\n  safe_password: default_password\n",
            "tokenizer.safe_password",
            "well-known default",
        ),
        (
            "tokenizer:\n  type: local\n  safe_password: aaaaaaaabcdefghi\n",
            "tokenizer.safe_password",
            "too easy to guess",
        ),
        (
            &format!(
                "tokenizer:\n  type: local\n  safe_password: {STRONG}\n  safe_password_salt: short\n"
            ),
            "tokenizer.safe_password_salt",
            "shorter than 16",
        ),
        (
            &format!(
                "tokenizer:\n  type: local\n  safe_password: {STRONG}\n  safe_password_salt: \
                 our-own-salt-0123456789\n  previous_safe_password_salt: tiny\n"
            ),
            "tokenizer.previous_safe_password_salt",
            "shorter than 16",
        ),
    ];
    for (text, key, fragment) in cases {
        let (file, result, _dir) = load_yaml(text);
        check_one_error(&file, result, text, key, fragment);
    }
    let (_, result, _dir) = load_yaml(&format!(
        "tokenizer:\n  type: local\n  safe_password: {STRONG}\n  safe_password_salt: \
         our-own-salt-0123456789\n  previous_safe_password_salt: none\n"
    ));
    let config = result.expect("a salt and no previous salt are accepted");
    let passwords = config.passwords.expect("passwords");
    assert!(passwords.salt.is_some() && passwords.previous_salt.is_none());
}

fn check_one_error(
    file: &Path,
    result: Result<config::Config, ConfigErrors>,
    block: &str,
    key: &str,
    fragment: &str,
) {
    {
        let errors = result.expect_err(block);
        let [error] = errors.errors() else {
            panic!("{block}: expected one error, got {errors}");
        };
        assert_eq!(error.key(), key, "{block}");
        assert_eq!(
            error.origin(),
            Some(&Origin::File(file.to_path_buf())),
            "{block}"
        );
        assert!(error.message().contains(fragment), "{block}: {error}");
    }
}

#[test]
fn a_missing_password_and_all_other_errors_are_reported_together() {
    let (file, result, _dir) = load_yaml(
        "tokenizer:\n  type: local\nsessionStore:\n  quotaPerSubject: 0\n  maxLifetime: 0\nserver:\n  nope: 1\n",
    );
    let errors = result.unwrap_err();
    let keys: Vec<&str> = errors.errors().iter().map(ConfigError::key).collect();
    assert_eq!(
        keys,
        [
            "server.nope",
            "tokenizer.safe_password",
            "sessionStore.maxLifetime",
            "sessionStore.quotaPerSubject"
        ]
    );
    assert!(
        errors
            .errors()
            .iter()
            .all(|e| e.origin() == Some(&Origin::File(file.clone())))
    );
    assert!(
        errors
            .to_string()
            .starts_with("invalid configuration (4 errors):")
    );
}

#[test]
fn a_file_that_cannot_be_read_is_the_only_error() {
    let (file, result, _dir) = load_yaml("tokenizer: [unclosed\n");
    let errors = result.unwrap_err();
    assert_eq!(errors.errors().len(), 1, "{errors}");
    assert_eq!(errors.errors()[0].origin(), Some(&Origin::File(file)));

    for (name, fragment) in [
        ("missing.yml", "no such file"),
        ("settings.ini", ".yml, .yaml, .toml or .properties"),
    ] {
        let errors = config::load(&ConfigSources {
            files: vec![PathBuf::from(name)],
            ..ConfigSources::default()
        })
        .unwrap_err();
        assert!(errors.to_string().contains(fragment), "{errors}");
        assert!(errors.to_string().contains(name), "{errors}");
    }
}

#[test]
fn unknown_variables_and_malformed_arguments_are_named() {
    let errors = config::load(&ConfigSources {
        files: Vec::new(),
        env: vec![
            ("HOME".into(), "/h".into()),
            ("TESSERA_SESSIONSTORE__MAXLIFETIM".into(), "5".into()),
            ("TOKENIZER_COLOUR".into(), "blue".into()),
            // Not a configuration key (no double underscore): ignored.
            ("TESSERA_TEST_REDIS_URL".into(), "redis://x".into()),
        ],
        defines: vec![
            "sessionStore.maxLifetime".into(),
            "sessionStore.nope=1".into(),
        ],
    })
    .unwrap_err();
    let described: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
    assert_eq!(described.len(), 4, "{errors}");
    assert!(
        described[0].starts_with("environment variable TOKENIZER_COLOUR"),
        "{}",
        described[0]
    );
    assert!(
        described[1].starts_with("environment variable TESSERA_SESSIONSTORE__MAXLIFETIM"),
        "{}",
        described[1]
    );
    assert!(
        described[2].contains("-DsessionStore.maxLifetime: expected -Dkey=value"),
        "{}",
        described[2]
    );
    assert_eq!(
        described[3],
        "sessionStore.nope (command-line argument -DsessionStore.nope): unknown key"
    );
}

#[test]
fn errors_never_quote_secrets() {
    let secret = "S3cr3t-Value-Not-To-Print";
    let (_file, result, _dir) = load_yaml(&format!(
        "tokenizer:\n  type: dynamodb\n  safe_password: {secret}x\n  aws_secret_key: {secret}\n  table: 5\n  password: {secret}\nsessionStore:\n  apiAccessTokenSHA256: {secret}\n  maxLifetime: {secret}\n"
    ));
    let shown = result.unwrap_err().to_string();
    assert!(shown.contains("tokenizer.table"), "{shown}");
    assert!(shown.contains("tokenizer.password"), "{shown}");
    assert!(!shown.contains("S3cr3t"), "{shown}");
}

#[test]
fn a_default_above_its_ceiling_names_the_default() {
    let (_, error) = one_error("sessionStore:\n  maxLifetimeCeiling: 60\n");
    assert_eq!(error.key(), "sessionStore.maxLifetime");
    assert!(
        error.message().contains("sessionStore.maxLifetimeCeiling"),
        "{error}"
    );
    let (_, error) = one_error("sessionStore:\n  maxIdleTimeCeiling: 0\n");
    assert_eq!(error.key(), "sessionStore.maxIdleTimeCeiling");
    // The pre-login defaults give way to a ceiling unless set above it.
    let (_, error) = one_error(
        "sessionStore:\n  maxLifetime: 60\n  maxLifetimeCeiling: 60\n  preLoginMaxLifetime: 61\n",
    );
    assert_eq!(error.key(), "sessionStore.preLoginMaxLifetime");
    assert!(error.message().contains("maxLifetimeCeiling"), "{error}");
}

/// The first `lang` block after `marker` in docs/configuration.md.
fn documented_example(marker: &str, lang: &str) -> String {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let after = &docs[docs.find(marker).expect(marker)..];
    let fence = format!("```{lang}\n");
    let start = after.find(&fence).expect("a code block") + fence.len();
    after[start..start + after[start..].find("```").unwrap()].to_owned()
}

#[test]
fn the_documented_production_file_pasted_as_is_is_refused_with_how_to_fix_it() {
    for lang in ["yaml", "toml"] {
        let example = documented_example("A minimal production file", lang);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!(
            "settings.{}",
            if lang == "yaml" { "yml" } else { "toml" }
        ));
        std::fs::write(&file, &example).unwrap();
        let errors = config::load(&ConfigSources {
            files: vec![file],
            env: vec![("HOME".into(), "/home/t".into())],
            defines: Vec::new(),
        })
        .expect_err(lang)
        .to_string();
        for (key, fix) in [
            ("tokenizer.safe_password", "openssl rand -base64 32"),
            ("sessionStore.apiAccessTokenSHA256", "tessera token new"),
        ] {
            let line = errors
                .lines()
                .find(|l| l.contains(key))
                .unwrap_or_else(|| panic!("{lang}: no error for {key} in\n{errors}"));
            assert!(line.contains("placeholder"), "{line}");
            assert!(errors.contains(fix), "{lang}: no `{fix}` in\n{errors}");
        }
    }
}

#[test]
fn hashes_of_tokens_anyone_could_present_are_refused() {
    // The samples of earlier docs: SHA-256 of "test", "test2", "test3".
    for (key, hash) in [
        (
            "sessionStore.apiAccessTokenSHA256",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
        (
            "sessionStore.apiAccessTokenSHA256.ops",
            "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
        ),
        (
            "sessionStore.secondaryAPIAccessTokenSHA256",
            "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13",
        ),
        // SHA-256 of "1234".
        (
            "server.metrics_token_sha256",
            "03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4",
        ),
    ] {
        let (block, name) = key.split_once('.').unwrap();
        let (_, error) = one_error(&format!("{block}:\n  {name}: {hash}\n"));
        let shown = error.to_string();
        assert!(shown.contains(key), "{shown}");
        assert!(shown.contains("well-known or short token"), "{shown}");
        assert!(shown.contains("tessera token new"), "{shown}");
    }
}

#[test]
fn a_redis_client_certificate_needs_its_key_and_tls() {
    for (extra, key, why) in [
        (
            "  options:\n    ssl: true\n  tls_cert_file: /etc/tessera/client.crt\n",
            "tokenizer.tls_key_file",
            "is needed with tls_cert_file",
        ),
        (
            "  options:\n    ssl: true\n  tls_key_file: /etc/tessera/client.key\n",
            "tokenizer.tls_cert_file",
            "is needed with tls_key_file",
        ),
        (
            "  options:\n    ssl: true\n  tls_cert_file: /nonexistent/client.crt\n  tls_key_file: /nonexistent/client.key\n",
            "tokenizer.tls_cert_file",
            "cannot read /nonexistent/client.crt",
        ),
        (
            "  tls_cert_file: /etc/tessera/client.crt\n  tls_key_file: /etc/tessera/client.key\n",
            "tokenizer.tls_cert_file",
            "TLS is off",
        ),
    ] {
        let (_file, result, _dir) = load_yaml(&format!(
            "tokenizer:\n  type: redis\n  safe_password: {STRONG}\n  host: redis.internal\n{extra}"
        ));
        let shown = result.expect_err(extra).to_string();
        let line = shown
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("no error for {key} in\n{shown}"));
        assert!(line.contains(why), "{line}");
    }
}
