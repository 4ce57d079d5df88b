//! Configuration files as the two reference products' users have them: the
//! SQL tool's whole `settings.yml`, the session store's
//! `sessionStore.properties`, both at once, and the defaults each brings.

mod cli_support;

use std::path::{Path, PathBuf};

use cli_support::tessera;
use tessera_server::config::{self, Config, ConfigErrors, ConfigSources, Origin};

const STRONG: &str = "hT4k-9qZ_mW2xVbR-long";
const HASH: &str = "1c6cd2a16f4b8b2f0e59bd1f0e0b7c57f2b4a1de7c5b0c2f8e9d3a4b5c6d7e8f";

/// A settings.yml as the SQL tool ships it: its own blocks around the
/// tokenizer's.
fn tool_settings(tokenizer: &str) -> String {
    format!(
        "settings:\n  application_name: Query Commander\n  records_per_request: 200\n  \
         rate_limit:\n    records: -1\n    period: 60\n\
         tokenizer:\n{tokenizer}\
         authenticator:\n  type: local\n  users:\n    - username: admin\n      password: x\n\
         connections:\n  - name: main\n    type: postgres\n    host: db\n    port: 5432\n\
         profiler:\n  type: local\n  path: /tmp/profiles\n"
    )
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn load(&self, files: &[&Path]) -> Result<Config, ConfigErrors> {
        config::load(&ConfigSources {
            files: files.iter().map(|f| f.to_path_buf()).collect(),
            env: vec![("HOME".into(), self.dir.path().display().to_string())],
            defines: Vec::new(),
        })
    }
}

fn local_tokenizer(extra: &str) -> String {
    format!("  type: local\n  path: /tmp/tessera-tokens\n  safe_password: {STRONG}\n{extra}")
}

#[test]
fn the_tools_whole_settings_file_is_read_and_its_other_blocks_named() {
    let files = Files::new();
    let settings = files.write("settings.yml", &tool_settings(&local_tokenizer("")));
    let config = files.load(&[&settings]).expect("the tool's file loads");
    let ignored: Vec<&str> = config
        .ignored_blocks
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(
        ignored,
        ["authenticator", "connections", "profiler", "settings"]
    );
    assert!(config.ignored_blocks.iter().all(|b| b.file == settings));

    // `config check` accepts it and names each block once.
    let out = tessera()
        .arg("--config")
        .arg(&settings)
        .args(["config", "check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for block in ["settings", "authenticator", "connections", "profiler"] {
        let line = format!("note: block `{block}` of ");
        assert_eq!(stdout.matches(&line).count(), 1, "{stdout}");
    }
}

#[test]
fn a_misspelt_block_or_key_is_an_error_with_a_hint() {
    let files = Files::new();
    for (extra, key, hint) in [
        (
            "sesionStore:\n  maxLifetime: 60\n",
            "sesionStore",
            "did you mean `sessionStore`",
        ),
        (
            "Server:\n  listen: 127.0.0.1:9\n",
            "Server",
            "did you mean `server`",
        ),
        (
            "sessionStore:\n  maxLifetme: 60\n",
            "sessionStore.maxLifetme",
            "did you mean `sessionStore.maxLifetime`",
        ),
        // A single value at the top is not a block: it is still checked.
        ("colour: blue\n", "colour", "unknown key"),
    ] {
        let settings = files.write(
            "settings.yml",
            &format!("{}{extra}", tool_settings(&local_tokenizer(""))),
        );
        let errors = files.load(&[&settings]).expect_err(extra);
        let [error] = errors.errors() else {
            panic!("{extra}: expected one error, got {errors}");
        };
        assert_eq!(error.key(), key, "{extra}");
        assert!(error.message().contains(hint), "{extra}: {error}");
        assert_eq!(error.origin(), Some(&Origin::File(settings.clone())));
    }
    // Inside the tokenizer block too.
    let settings = files.write(
        "settings.yml",
        &tool_settings(&local_tokenizer("  timout: 20\n")),
    );
    let errors = files.load(&[&settings]).unwrap_err();
    assert!(
        errors.to_string().contains("tokenizer.timout (file ")
            && errors
                .to_string()
                .contains("did you mean `tokenizer.timeout`"),
        "{errors}"
    );
}

#[test]
fn a_properties_file_is_read_as_java_reads_it() {
    let files = Files::new();
    // Every syntax java.util.Properties accepts: both comment marks, the
    // three separators, a continued line, \uXXXX escapes and a key given
    // twice (the last one wins).
    let hash_escaped = HASH.replacen('1', "\\u0031", 1);
    let properties = files.write(
        "sessionStore.properties",
        &format!(
            "# The session store's file, as shipped\n\
             ! another comment\n\
             sessionStore.apiAccessTokenSHA256 = {hash_escaped}\n\
             sessionStore.maxLifetime:600\n\
             sessionStore.authLifetime 120\n\
             sessionStore.maxIdleTime=15\n\
             sessionStore.onQuotaExhaustion = DENY_\\\n    LOGIN\n\
             sessionStore.quotaPerSubject=9\n\
             sessionStore.quotaPerSubject=3\n\
             tokenizer.type=local\n\
             tokenizer.path=/tmp/tessera-properties\n\
             tokenizer.safe_password={STRONG}\n"
        ),
    );
    let config = files
        .load(&[&properties])
        .expect("the properties file loads");
    let policy = config.session_store.policy;
    assert_eq!(policy.max_lifetime.as_minutes(), 600);
    assert_eq!(policy.auth_lifetime.as_minutes(), 120);
    assert_eq!(policy.max_idle_time.as_minutes(), 15);
    assert_eq!(policy.quota_per_subject.get(), 3);
    assert_eq!(policy.on_quota_exhaustion.as_str(), "DENY_LOGIN");
    assert_eq!(config.session_store.tokens.len(), 1);
    assert_eq!(config.session_store.tokens[0].1.to_string(), HASH);

    // A misspelt key names its key and file; a broken escape names its line.
    let typo = files.write(
        "typo.properties",
        "sessionStore.maxLifetim=60\ntokenizer.type=local\n",
    );
    let errors = files.load(&[&typo]).unwrap_err();
    assert!(
        errors
            .to_string()
            .contains("sessionStore.maxLifetim (file ",)
            && errors
                .to_string()
                .contains("did you mean `sessionStore.maxLifetime`"),
        "{errors}"
    );
    // A key of the reference that Tessera does not support is named whole.
    let unsupported = files.write(
        "unsupported.properties",
        "infinispan.defaultExpirationInterval=60\ntokenizer.type=local\n",
    );
    let errors = files.load(&[&unsupported]).unwrap_err();
    assert!(
        errors
            .to_string()
            .contains("infinispan.defaultExpirationInterval (file "),
        "{errors}"
    );
    let broken = files.write("broken.properties", "a=1\nb=\\u12\n");
    let errors = files.load(&[&broken]).unwrap_err();
    assert!(errors.to_string().contains("line 2:"), "{errors}");
}

#[test]
fn several_files_layer_in_order_and_show_their_origins() {
    let files = Files::new();
    let settings = files.write(
        "settings.yml",
        &tool_settings(&local_tokenizer("  timeout: 30\n")),
    );
    let properties = files.write(
        "sessionStore.properties",
        &format!(
            "sessionStore.apiAccessTokenSHA256={HASH}\nsessionStore.maxIdleTime=30\n\
             sessionStore.quotaPerSubject=2\n"
        ),
    );
    let override_file = files.write("override.toml", "[sessionStore]\nquotaPerSubject = 4\n");
    let config = files
        .load(&[&settings, &properties, &override_file])
        .expect("three files load");
    assert_eq!(
        config.files,
        [settings.clone(), properties.clone(), override_file.clone()]
    );
    assert_eq!(config.session_store.policy.quota_per_subject.get(), 4);
    assert_eq!(config.session_store.policy.max_idle_time.as_minutes(), 30);

    // `config show` says which file each value came from.
    let out = tessera()
        .env("HOME", files.dir.path())
        .arg("--config")
        .arg(&settings)
        .arg("--config")
        .arg(&properties)
        .arg("--config")
        .arg(&override_file)
        .args(["config", "show"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for (key, file) in [
        ("tokenizer.timeout", &settings),
        ("sessionStore.apiAccessTokenSHA256", &properties),
        ("sessionStore.quotaPerSubject", &override_file),
    ] {
        let line = format!("#   {key}: file {}", file.display());
        assert!(stdout.contains(&line), "no `{line}` in\n{stdout}");
    }
}

#[test]
fn each_reference_brings_its_own_defaults() {
    let files = Files::new();
    let minutes = |config: &Config| {
        let p = config.session_store.policy;
        (
            p.max_lifetime.as_minutes(),
            p.auth_lifetime.as_minutes(),
            p.max_idle_time.as_minutes(),
        )
    };
    // The tool's file alone: the tokenizer's 20-minute sliding timeout,
    // under the session store's absolute limits.
    let settings = files.write("settings.yml", &tool_settings(&local_tokenizer("")));
    let tool = files.load(&[&settings]).unwrap();
    assert_eq!(minutes(&tool), (259_200, 43_200, 20));

    // With the session store's properties file: its defaults.
    let properties = files.write(
        "sessionStore.properties",
        &format!("sessionStore.apiAccessTokenSHA256={HASH}\n"),
    );
    let both = files.load(&[&settings, &properties]).unwrap();
    assert_eq!(minutes(&both), (259_200, 43_200, 14_400));

    // The embedded default (no file): the session store's defaults.
    let embedded = config::load(&ConfigSources {
        env: vec![("TESSERA_DATA_DIR".into(), "/tmp/tessera-embedded".into())],
        ..ConfigSources::default()
    })
    .unwrap();
    assert_eq!(minutes(&embedded), (259_200, 43_200, 14_400));
    assert_eq!(embedded.session_store.policy.quota_per_subject.get(), 5);
    assert_eq!(
        embedded.session_store.expiration_interval,
        config::DEFAULT_EXPIRATION_INTERVAL
    );
    assert_eq!(config::DEFAULT_EXPIRATION_INTERVAL.as_millis(), 300_000);
}
