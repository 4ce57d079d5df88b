//! Layering: defaults < file < the tokenizer's variables < `TESSERA_*`
//! variables < `-D` arguments; and `tokenizer.timeout` against
//! `sessionStore.maxIdleTime`.

use std::path::PathBuf;

use tessera_core::{Lifetime, OnQuotaExhaustion};
use tessera_crypto::{LegacySids, TokenHash};
use tessera_server::config::{
    self, Backend, Config, ConfigErrors, ConfigSources, Origin, PurgeSchedule,
};

const STRONG: &str = "hT4k-9qZ_mW2xVbR-long";
const HASH_A: &str = "7e106527ae813dd8ec7096203235045a2b990c099b52f2ecbffe5219fff4ee54";
const HASH_B: &str = "8a2cb7579708b805cd14fc320041e567f0e068cd42212703638b25554c6dad83";

struct Setup {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

fn file(contents: &str) -> Setup {
    file_named("settings.yml", contents)
}

fn file_named(name: &str, contents: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, contents).unwrap();
    Setup { _dir: dir, file }
}

fn load(
    setup: Option<&Setup>,
    env: &[(&str, &str)],
    defines: &[&str],
) -> Result<Config, ConfigErrors> {
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    env.push(("HOME".into(), "/home/tessera".into()));
    config::load(&ConfigSources {
        files: setup.map(|s| s.file.clone()).into_iter().collect(),
        env,
        defines: defines.iter().map(|d| (*d).to_owned()).collect(),
    })
}

fn base() -> String {
    format!(
        "tokenizer:\n  type: local\n  safe_password: {STRONG}\n  path: /tmp/tessera-test\n  timeout: 10\n"
    )
}

fn idle(config: &Config) -> i64 {
    config.session_store.policy.max_idle_time.as_minutes()
}

#[test]
fn each_layer_overrides_the_ones_before() {
    let setup = file(&base());
    assert_eq!(
        idle(&load(None, &[("TESSERA_DATA_DIR", "/d")], &[]).unwrap()),
        14400,
        "default"
    );
    assert_eq!(idle(&load(Some(&setup), &[], &[]).unwrap()), 10, "file");
    let tokenizer = [("TOKENIZER_TIMEOUT", "20")];
    assert_eq!(
        idle(&load(Some(&setup), &tokenizer, &[]).unwrap()),
        20,
        "TOKENIZER_*"
    );
    let both = [
        ("TOKENIZER_TIMEOUT", "20"),
        ("TESSERA_TOKENIZER__TIMEOUT", "30"),
    ];
    assert_eq!(
        idle(&load(Some(&setup), &both, &[]).unwrap()),
        30,
        "TESSERA_*"
    );
    assert_eq!(
        idle(&load(Some(&setup), &both, &["tokenizer.timeout=40"]).unwrap()),
        40,
        "-D"
    );
    // The last -D wins.
    assert_eq!(
        idle(
            &load(
                Some(&setup),
                &both,
                &["tokenizer.timeout=40", "tokenizer.timeout=50"]
            )
            .unwrap()
        ),
        50
    );
}

#[test]
fn errors_blame_the_layer_that_set_the_value() {
    let setup = file(&format!("{}sessionStore:\n  quotaPerSubject: 0\n", base()));
    let blame = |env: &[(&str, &str)], defines: &[&str]| {
        let errors = load(Some(&setup), env, defines).unwrap_err();
        let [error] = errors.errors() else {
            panic!("{errors}");
        };
        assert_eq!(error.key(), "sessionStore.quotaPerSubject");
        error.origin().cloned().unwrap()
    };
    assert_eq!(blame(&[], &[]), Origin::File(setup.file.clone()));
    assert_eq!(
        blame(&[("TESSERA_SESSION_STORE__QUOTA_PER_SUBJECT", "26")], &[]),
        Origin::Env("TESSERA_SESSION_STORE__QUOTA_PER_SUBJECT".into())
    );
    assert_eq!(
        blame(&[], &["sessionStore.quotaPerSubject=-1"]),
        Origin::Arg("sessionStore.quotaPerSubject".into())
    );
}

#[test]
fn the_tokenizer_variables_set_their_keys() {
    let config = load(
        None,
        &[
            ("TOKENIZER_TYPE", "redis"),
            ("TOKENIZER_SAFE_PASSWORD", STRONG),
            ("TOKENIZER_HOST", "cache.internal"),
            ("TOKENIZER_PORT", "6380"),
            ("TOKENIZER_SSL", "true"),
            ("TOKENIZER_TIMEOUT", "15"),
            // Ambient: a DynamoDB key from the environment does not stop a
            // Redis configuration.
            ("AWS_REGION_NAME", "eu-west-1"),
            ("TOKENIZER_PATH", "/ignored/for/redis"),
        ],
        &[],
    )
    .unwrap();
    let Backend::Redis(redis) = &config.backend else {
        panic!("{:?}", config.backend);
    };
    assert_eq!(redis.host.as_deref(), Some("cache.internal"));
    assert_eq!(redis.port, Some(6380));
    assert!(redis.options.ssl);
    assert_eq!(idle(&config), 15);

    let config = load(
        None,
        &[
            ("TOKENIZER_TYPE", "dynamodb"),
            ("TOKENIZER_SAFE_PASSWORD", STRONG),
            ("TOKENIZER_TABLE", "sessions"),
            ("AWS_REGION_NAME", "eu-west-1"),
        ],
        &[],
    )
    .unwrap();
    let Backend::DynamoDb(d) = &config.backend else {
        panic!();
    };
    assert_eq!(
        (d.table.as_str(), d.aws_region_name.as_deref()),
        ("sessions", Some("eu-west-1"))
    );

    let config = load(
        None,
        &[
            ("TOKENIZER_TYPE", "local"),
            ("TOKENIZER_SAFE_PASSWORD", STRONG),
            ("TOKENIZER_PATH", "/srv/t"),
        ],
        &[],
    )
    .unwrap();
    let Backend::Local(local) = &config.backend else {
        panic!();
    };
    assert_eq!(local.path, PathBuf::from("/srv/t"));
}

#[test]
fn defines_reach_every_block_and_switch_the_backend() {
    let setup = file(&base());
    let config = load(
        Some(&setup),
        &[],
        &[
            "sessionStore.maxLifetime=-1",
            "sessionStore.authLifetime=120",
            "sessionStore.onQuotaExhaustion=DENY_LOGIN",
            "sessionStore.acceptLegacySIDs=true",
            "sessionStore.internal.subjectIndexPurgeInterval=-1",
            "sessionStore.sessionMap.expirationInterval=0",
            "server.listen=0.0.0.0:9090",
            "server.log_format=json",
        ],
    )
    .unwrap();
    let store = &config.session_store;
    assert_eq!(store.policy.max_lifetime, Lifetime::Unlimited);
    assert_eq!(store.policy.auth_lifetime.as_minutes(), 120);
    assert_eq!(
        store.policy.on_quota_exhaustion,
        OnQuotaExhaustion::DenyLogin
    );
    assert_eq!(store.legacy_sids, LegacySids::Accept);
    assert_eq!(store.subject_index_purge, PurgeSchedule::Off);
    assert_eq!(store.expiration_interval, std::time::Duration::ZERO);
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9090");

    // -Dtokenizer.type=redis needs the Redis keys; the local path from the
    // file is then an error, because the file says it.
    let errors = load(
        Some(&setup),
        &[],
        &["tokenizer.type=redis", "tokenizer.host=h"],
    )
    .unwrap_err();
    let [error] = errors.errors() else {
        panic!("{errors}");
    };
    assert_eq!(error.key(), "tokenizer.path");
    assert!(
        error.message().contains("applies only to type local"),
        "{error}"
    );
    let ok = load(
        Some(&file(&format!(
            "tokenizer:\n  type: local\n  safe_password: {STRONG}\n"
        ))),
        &[],
        &["tokenizer.type=redis", "tokenizer.host=h"],
    )
    .unwrap();
    assert!(matches!(ok.backend, Backend::Redis(_)));
}

#[test]
fn timeout_sets_the_idle_time_unless_max_idle_time_disagrees() {
    // timeout alone.
    let config = load(Some(&file(&base())), &[], &[]).unwrap();
    assert_eq!(idle(&config), 10);
    // maxIdleTime alone.
    let alone = format!(
        "tokenizer:\n  type: local\n  safe_password: {STRONG}\nsessionStore:\n  maxIdleTime: 25\n"
    );
    assert_eq!(idle(&load(Some(&file(&alone)), &[], &[]).unwrap()), 25);
    // Both, equal: fine.
    let equal = format!("{}sessionStore:\n  maxIdleTime: 10\n", base());
    assert_eq!(idle(&load(Some(&file(&equal)), &[], &[]).unwrap()), 10);
    // Both, different: an error naming both keys.
    let differ = format!("{}sessionStore:\n  maxIdleTime: 30\n", base());
    let setup = file(&differ);
    let errors = load(Some(&setup), &[], &[]).unwrap_err();
    let [error] = errors.errors() else {
        panic!("{errors}");
    };
    assert_eq!(error.key(), "sessionStore.maxIdleTime");
    assert!(error.message().contains("tokenizer.timeout"), "{error}");
    assert_eq!(error.origin(), Some(&Origin::File(setup.file.clone())));
    // Unlimited in both spellings agrees.
    let unlimited = format!(
        "tokenizer:\n  type: local\n  safe_password: {STRONG}\n  timeout: -1\nsessionStore:\n  maxIdleTime: -5\n"
    );
    assert_eq!(idle(&load(Some(&file(&unlimited)), &[], &[]).unwrap()), -1);
}

#[test]
fn labelled_tokens_in_every_spelling() {
    let expect = |config: &Config, labels: &[(&str, &str)]| {
        let got: Vec<(String, TokenHash)> = config.session_store.tokens.clone();
        let want: Vec<(String, TokenHash)> = labels
            .iter()
            .map(|(l, h)| ((*l).to_owned(), h.parse().unwrap()))
            .collect();
        assert_eq!(got, want);
    };
    // YAML: a flat key with a dot, beside the primary and secondary.
    let yaml = file(&format!(
        "{}sessionStore:\n  apiAccessTokenSHA256: {HASH_A}\n  secondaryAPIAccessTokenSHA256: {HASH_B}\n  apiAccessTokenSHA256.ops: {HASH_B}\n  apiAccessTokenSHA256.ci-2: {HASH_A}\n",
        base()
    ));
    let config = load(Some(&yaml), &[], &[]).unwrap();
    expect(
        &config,
        &[
            ("primary", HASH_A),
            ("secondary", HASH_B),
            ("ci-2", HASH_A),
            ("ops", HASH_B),
        ],
    );
    // TOML: quoted, or unquoted (a nested table), both work.
    let toml = file_named(
        "settings.toml",
        &format!(
            "[tokenizer]\ntype = \"local\"\nsafe_password = \"{STRONG}\"\n\n[sessionStore]\napiAccessTokenSHA256 = \"{HASH_A}\"\n\"apiAccessTokenSHA256.ops\" = \"{HASH_B}\"\n"
        ),
    );
    expect(
        &load(Some(&toml), &[], &[]).unwrap(),
        &[("primary", HASH_A), ("ops", HASH_B)],
    );
    let nested = file_named(
        "settings.toml",
        &format!(
            "[tokenizer]\ntype = \"local\"\nsafe_password = \"{STRONG}\"\n\n[sessionStore]\napiAccessTokenSHA256.ops = \"{HASH_B}\"\n"
        ),
    );
    expect(&load(Some(&nested), &[], &[]).unwrap(), &[("ops", HASH_B)]);
    // Environment and -D add to the file's tokens without replacing the primary.
    let config = load(
        Some(&yaml),
        &[("TESSERA_SESSIONSTORE__APIACCESSTOKENSHA256__DEPLOY", HASH_B)],
        &[&format!("sessionStore.apiAccessTokenSHA256.admin={HASH_A}")],
    )
    .unwrap();
    expect(
        &config,
        &[
            ("primary", HASH_A),
            ("secondary", HASH_B),
            ("admin", HASH_A),
            ("ci-2", HASH_A),
            ("deploy", HASH_B),
            ("ops", HASH_B),
        ],
    );
    // Reference properties-style keys at the top level work too.
    let flat = file(&format!(
        "{}sessionStore.apiAccessTokenSHA256: {HASH_A}\nsessionStore.internal.subjectIndexPurgeInterval: 600\n",
        base()
    ));
    let config = load(Some(&flat), &[], &[]).unwrap();
    expect(&config, &[("primary", HASH_A)]);
    assert_eq!(
        config.session_store.subject_index_purge,
        PurgeSchedule::Every(std::time::Duration::from_secs(600))
    );
}

#[test]
fn the_embedded_default_applies_only_without_file_type_or_password() {
    let config = load(
        None,
        &[("TESSERA_DATA_DIR", "/var/lib/t")],
        &["server.listen=127.0.0.1:0"],
    )
    .unwrap();
    assert!(config.embedded);
    assert!(config.passwords.is_none());
    let Backend::Local(local) = &config.backend else {
        panic!();
    };
    assert_eq!(local.path, PathBuf::from("/var/lib/t/sessions-store"));

    // XDG_DATA_HOME, then HOME; server.data_dir beats them all.
    let xdg = load(None, &[("XDG_DATA_HOME", "/x")], &[]).unwrap();
    assert_eq!(xdg.server.data_dir, Some(PathBuf::from("/x/tessera")));
    let home = load(None, &[], &[]).unwrap();
    assert_eq!(
        home.server.data_dir,
        Some(PathBuf::from("/home/tessera/.local/share/tessera"))
    );
    let explicit = load(None, &[("TESSERA_DATA_DIR", "/d")], &["server.data_dir=/e"]).unwrap();
    assert_eq!(explicit.server.data_dir, Some(PathBuf::from("/e")));

    // Naming a type (or a password) leaves the embedded default: the
    // password is then required.
    let errors = load(None, &[("TOKENIZER_TYPE", "local")], &[]).unwrap_err();
    assert_eq!(errors.errors()[0].key(), "tokenizer.safe_password");
}

#[test]
fn the_server_defaults_are_the_apis_defaults() {
    let config = load(None, &[("TESSERA_DATA_DIR", "/d")], &[]).unwrap();
    let api = tessera_server::api::ApiLimits::default();
    assert_eq!(config.server.max_body_bytes, api.max_body_bytes);
    assert_eq!(config.server.max_header_bytes, api.max_header_bytes);
    assert_eq!(config.server.request_timeout, api.request_timeout);
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
}
