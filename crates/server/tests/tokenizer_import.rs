//! Reading a tokenizer store written by the SQL tool's own code
//! (querycommander 1.0.1, through `fixtures/tokenizer_records.py`) on each
//! of its three backends: a real folder, the Redis and the DynamoDB
//! emulator that `cargo xtask test` starts. The tool's `tokenizer:` block is
//! read by the tool and by Tessera's configuration alike.

mod cli_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
use tessera_store::testkit::{service_env, unique};

use serde_json::{Value, json};
use tessera_core::Timestamp;
use tessera_server::config::{self, ConfigSources};
use tessera_server::migrate::tokenizer::{
    ImportRecord, Removed, Skip, SkipReason, TokenizerPassword, TokenizerSource,
    read_tokenizer_store, remove_source_records,
};

/// The tool's `safe_password`, strong enough for Tessera's rule too, since
/// the same file configures both here.
const SAFE_PASSWORD: &str = "tokenizer-import-Passphrase-7f3a";
const TIMEOUT_MINUTES: i64 = 20;

fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Timestamp::from_millis(i64::try_from(millis).unwrap())
}

/// Writes the tool's `settings.yml` (the given `tokenizer:` and `profiler:`
/// blocks and one connection the test users may use) in `dir`, runs the
/// tool's code to fill the store, and returns its manifest. Tessera's
/// `tessera.yml` gets the same `tokenizer:` block: Tessera's configuration
/// refuses the tool's other top-level blocks.
fn write_store(dir: &Path, tokenizer: &str, profiler: &str, prefix: &str) -> Value {
    let block = format!(
        "tokenizer:\n  type: {tokenizer}\n  timeout: {TIMEOUT_MINUTES}\n  safe_password: \
         {SAFE_PASSWORD}\n"
    );
    let settings = format!(
        "{block}{profiler}connections:\n  type: config\n  items:\n    - name: warehouse\n      \
         type: postgres\n      roles: [analysts]\n"
    );
    std::fs::write(dir.join("settings.yml"), settings).unwrap();
    std::fs::write(dir.join("tessera.yml"), block).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_records.py");
    let output = Command::new(service_env("TESSERA_TEST_QUERYCOMMANDER_PYTHON"))
        .args(["-W", "ignore"])
        .arg(script)
        .arg(dir)
        .arg(prefix)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the tool's code failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The same `tokenizer:` block, read by Tessera's configuration.
fn source(dir: &Path, password: &str) -> TokenizerSource {
    let sources = ConfigSources {
        files: vec![dir.join("tessera.yml")],
        ..ConfigSources::default()
    };
    let config = config::load(&sources).unwrap_or_else(|e| panic!("{e}"));
    TokenizerSource::new(config.backend, TokenizerPassword::new(password))
}

type Results = Vec<Result<ImportRecord, Skip>>;

fn imported<'a>(results: &'a Results, username: &str) -> &'a Value {
    let subject = username.to_lowercase();
    let found: Vec<&ImportRecord> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|r| r.subject() == subject)
        .collect();
    assert_eq!(found.len(), 1, "one record for {subject}: {results:?}");
    found[0].value()
}

fn skips_of<'a>(results: &'a Results, needle: &str) -> Vec<&'a Skip> {
    results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|s| s.origin.contains(needle))
        .collect()
}

/// The counts of a removal that met no error.
fn removed_ok((removed, error): (Removed, Option<tessera_server::ServerError>)) -> Removed {
    assert!(error.is_none(), "{error:?}");
    removed
}

/// Removing the live user's record after an import: a copy that differs
/// from the stored text is kept, the record read is removed, a second
/// removal finds it gone, and a new read no longer yields it; the other
/// users' records stay.
async fn check_removal(source: &TokenizerSource, results: &Results, manifest: &Value) {
    let subject = |kind: &str| manifest[kind]["username"].as_str().unwrap().to_lowercase();
    let record_of = |results: &Results, kind: &str| {
        results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .find(|r| r.subject() == subject(kind))
            .map(|r| r.source().clone())
    };
    let live = record_of(results, "live").expect("the live user's record");
    let mut changed = live.clone();
    changed.text.push(' ');
    let removed = removed_ok(remove_source_records(source, &[changed]).await);
    assert_eq!(
        removed,
        Removed {
            removed: 0,
            gone: 0,
            changed: 1
        }
    );
    let removed = removed_ok(remove_source_records(source, std::slice::from_ref(&live)).await);
    assert_eq!(
        removed,
        Removed {
            removed: 1,
            gone: 0,
            changed: 0
        }
    );
    let removed = removed_ok(remove_source_records(source, &[live]).await);
    assert_eq!(
        removed,
        Removed {
            removed: 0,
            gone: 1,
            changed: 0
        }
    );
    let again = read_tokenizer_store(source, now()).await.unwrap();
    assert!(record_of(&again, "live").is_none(), "removed: {again:?}");
    assert!(
        record_of(&again, "no_credentials").is_some(),
        "kept: {again:?}"
    );
}

/// What every backend must yield for the manifest's users.
fn check_live_records(results: &Results, manifest: &Value, started: Timestamp) {
    let timeout = manifest["timeout"].as_i64().unwrap();
    assert_eq!(timeout, TIMEOUT_MINUTES);
    for kind in ["live", "no_credentials"] {
        let user = &manifest[kind];
        assert_eq!(user["accepted"], true, "the tool accepts its {kind} user");
        let line = imported(results, user["username"].as_str().unwrap());
        assert_eq!(line["sid"], user["token"], "{kind}: the SID is the token");
        let session = &line["session"];
        let expected_sub = user["username"].as_str().unwrap().to_lowercase();
        assert_eq!(session["sub"], expected_sub.as_str());
        assert_eq!(session["ctx"], "web");
        assert_eq!(session["max_idle"], timeout);
        assert_eq!(session["max_life"], -1);
        assert_eq!(session["auth_life"], -1);
        // The session ends exactly when the tool would have ended it.
        let last_used = session["last_used"].as_i64().unwrap();
        assert_eq!(
            last_used + timeout * 60,
            user["expires_epoch"].as_i64().unwrap()
        );
        assert!(
            last_used >= started.as_secs() - 1,
            "{kind}: signed in during the test"
        );
        assert_eq!(session["creation_time"], last_used);
        assert_eq!(session["auth_time"], last_used);
        assert_eq!(session["data"]["username"], user["username"]);
        assert_eq!(
            session["data"]["connections"],
            json!([{"name": "warehouse", "type": "postgres"}])
        );
        assert_eq!(
            session["data"]["role_selected"],
            session["data"]["roles"][0]
        );
    }
    let live = imported(results, manifest["live"]["username"].as_str().unwrap());
    assert_eq!(
        live["session"]["credentials"],
        manifest["live"]["credentials"]
    );
    assert_eq!(live["session"]["data"]["roles"], json!(["global"]));
    let other = imported(
        results,
        manifest["no_credentials"]["username"].as_str().unwrap(),
    );
    assert!(other["session"].get("credentials").is_none(), "{other}");
    assert_eq!(
        other["session"]["data"]["roles"],
        json!(["analysts", "readers"])
    );

    for kind in ["expired", "logged_out", "profile"] {
        let subject = manifest[kind]["username"].as_str().unwrap().to_lowercase();
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .all(|r| r.subject() != subject),
            "{kind} is not imported"
        );
    }
    for kind in ["expired", "logged_out"] {
        assert_eq!(manifest[kind]["accepted"], false, "the tool refuses {kind}");
    }
}

/// No skip and no record's `Debug` quotes a token or a password.
fn check_no_secret_shown(results: &Results, manifest: &Value) {
    let secrets: Vec<&str> = ["live", "no_credentials", "expired", "logged_out"]
        .iter()
        .map(|kind| manifest[kind]["token"].as_str().unwrap())
        .chain([manifest["live"]["credentials"]["password"]
            .as_str()
            .unwrap()])
        .collect();
    for result in results {
        let shown = match result {
            Ok(record) => format!("{record:?}"),
            Err(skip) => format!("{skip} {skip:?}"),
        };
        for secret in &secrets {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

/// With another `safe_password`, the record with credentials is a clear
/// per-record error and the others still come through.
async fn check_wrong_password(dir: &Path, manifest: &Value, origin_of_live: &str) {
    let wrong = source(dir, "not-the-tokenizers-password");
    let results = read_tokenizer_store(&wrong, now()).await.unwrap();
    let skips = skips_of(&results, origin_of_live);
    assert_eq!(skips.len(), 1, "{results:?}");
    assert_eq!(skips[0].reason, SkipReason::CredentialsWrongPassword);
    assert!(
        skips[0].to_string().contains("safe_password"),
        "{}",
        skips[0]
    );
    imported(
        &results,
        manifest["no_credentials"]["username"].as_str().unwrap(),
    );
}

fn sha1_file(username: &str) -> String {
    // The tool names files by SHA-1 of the lower-cased name; ask it, rather
    // than trusting our own reading of that rule.
    let output = Command::new(service_env("TESSERA_TEST_QUERYCOMMANDER_PYTHON"))
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.sha1(sys.argv[1].lower().encode()).hexdigest())",
            username,
        ])
        .output()
        .unwrap();
    format!("{}.json", String::from_utf8(output.stdout).unwrap().trim())
}

#[tokio::test]
async fn reads_a_local_folder_written_by_the_tool() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens");
    let started = now();
    let prefix = unique("t").replace('-', "x");
    let path = store.display();
    let manifest = write_store(
        dir.path(),
        &format!("local\n  path: {path}"),
        &format!("profiler:\n  type: local\n  path: {path}\n"),
        &prefix,
    );

    let results = read_tokenizer_store(&source(dir.path(), SAFE_PASSWORD), now())
        .await
        .unwrap();
    assert_eq!(results.len(), 5, "one file per user: {results:?}");
    check_live_records(&results, &manifest, started);
    check_no_secret_shown(&results, &manifest);
    let reason_of = |kind: &str| {
        let file = sha1_file(manifest[kind]["username"].as_str().unwrap());
        let skips = skips_of(&results, &file);
        assert_eq!(skips.len(), 1, "{kind}: {results:?}");
        skips[0].reason.clone()
    };
    assert_eq!(reason_of("expired"), SkipReason::Expired);
    assert_eq!(reason_of("logged_out"), SkipReason::LoggedOut);
    assert_eq!(reason_of("profile"), SkipReason::NotATokenRecord);

    let live_file = sha1_file(manifest["live"]["username"].as_str().unwrap());
    check_wrong_password(dir.path(), &manifest, &live_file).await;
    check_removal(&source(dir.path(), SAFE_PASSWORD), &results, &manifest).await;
}

#[tokio::test]
async fn reads_redis_keys_written_by_the_tool() {
    let url = service_env("TESSERA_TEST_REDIS_URL");
    let (host, port) = url.trim_start_matches("redis://").rsplit_once(':').unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = now();
    let prefix = unique("t").replace('-', "x");
    let manifest = write_store(
        dir.path(),
        &format!("redis\n  host: {host}\n  port: {port}"),
        "",
        &prefix,
    );

    // The tool uses database 0 without a prefix, so the scan also meets
    // other tests' keys: only this test's users are checked.
    let results = read_tokenizer_store(&source(dir.path(), SAFE_PASSWORD), now())
        .await
        .unwrap();
    check_live_records(&results, &manifest, started);
    check_no_secret_shown(&results, &manifest);
    let reason_of = |key: String| {
        let origin = format!("redis key {key}");
        let skips: Vec<&Skip> = skips_of(&results, &origin)
            .into_iter()
            .filter(|s| s.origin == origin)
            .collect();
        assert_eq!(skips.len(), 1, "{key}: {results:?}");
        skips[0].reason.clone()
    };
    let key = |kind: &str| manifest[kind]["username"].as_str().unwrap().to_lowercase();
    assert_eq!(reason_of(key("expired")), SkipReason::Expired);
    assert_eq!(reason_of(key("logged_out")), SkipReason::LoggedOut);
    assert_eq!(reason_of(key("profile")), SkipReason::NotATokenRecord);
    assert_eq!(
        reason_of(format!("{prefix}:not-json")),
        SkipReason::Unreadable("not JSON")
    );
    assert_eq!(
        reason_of(format!("{prefix}:a-hash")),
        SkipReason::Unreadable("not a string value")
    );

    check_wrong_password(dir.path(), &manifest, &format!("redis key {}", key("live"))).await;
    check_removal(&source(dir.path(), SAFE_PASSWORD), &results, &manifest).await;
}

#[tokio::test]
async fn reads_dynamodb_items_written_by_the_tool() {
    let endpoint = service_env("TESSERA_TEST_DYNAMODB_ENDPOINT");
    let dir = tempfile::tempdir().unwrap();
    let started = now();
    let prefix = unique("t").replace('-', "x");
    let table = format!("tokens-{prefix}");
    let aws = format!(
        "  aws_region_name: us-east-1\n  aws_access_key: test\n  aws_secret_key: test\n  \
         endpoint_url: {endpoint}"
    );
    let manifest = write_store(
        dir.path(),
        &format!("dynamodb\n  table: {table}\n{aws}"),
        &format!("profiler:\n  type: dynamodb\n  table: {table}\n{aws}\n"),
        &prefix,
    );

    let mut source = source(dir.path(), SAFE_PASSWORD);
    // Several pages, so that paging is exercised.
    if let tessera_server::config::Backend::DynamoDb(config) = &mut source.backend {
        config.scan_page_size = 2;
    }
    let results = read_tokenizer_store(&source, now()).await.unwrap();
    assert_eq!(results.len(), 5, "one item per user: {results:?}");
    check_live_records(&results, &manifest, started);
    check_no_secret_shown(&results, &manifest);
    let names: BTreeSet<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|s| format!("{} {}", s.origin, s.reason))
        .collect();
    let item = |kind: &str| manifest[kind]["username"].as_str().unwrap().to_lowercase();
    let expected: BTreeSet<String> = [
        format!("dynamodb item {} expired", item("expired")),
        format!("dynamodb item {} logged out", item("logged_out")),
        // The profiler keys its items by the name as typed.
        format!(
            "dynamodb item {} not a token record",
            manifest["profile"]["username"].as_str().unwrap()
        ),
    ]
    .into();
    assert_eq!(names, expected);

    check_wrong_password(
        dir.path(),
        &manifest,
        &format!("dynamodb item {}", item("live")),
    )
    .await;
    check_removal(&source, &results, &manifest).await;
}

#[tokio::test]
async fn a_missing_folder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    std::fs::write(
        dir.path().join("tessera.yml"),
        format!(
            "tokenizer:\n  type: local\n  safe_password: {SAFE_PASSWORD}\n  path: {}\n",
            missing.display()
        ),
    )
    .unwrap();
    let error = read_tokenizer_store(&source(dir.path(), SAFE_PASSWORD), now())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("no-such-folder"), "{message}");
    assert!(message.starts_with("tokenizer store (local)"), "{message}");
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error() {
    // A port nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tessera.yml"),
        format!(
            "tokenizer:\n  type: redis\n  safe_password: {SAFE_PASSWORD}\n  host: 127.0.0.1\n  \
             port: {port}\n  connect_timeout_ms: 500\n"
        ),
    )
    .unwrap();
    let error = read_tokenizer_store(&source(dir.path(), SAFE_PASSWORD), now())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "tokenizer store (redis): cannot connect to 127.0.0.1:{port}"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_dynamodb_table_is_an_error_naming_it() {
    let endpoint = service_env("TESSERA_TEST_DYNAMODB_ENDPOINT");
    let dir = tempfile::tempdir().unwrap();
    let table = format!("no-such-table-{}", unique("t").replace('-', "x"));
    std::fs::write(
        dir.path().join("tessera.yml"),
        format!(
            "tokenizer:\n  type: dynamodb\n  safe_password: {SAFE_PASSWORD}\n  table: {table}\n  \
             aws_region_name: us-east-1\n  aws_access_key: test\n  aws_secret_key: test\n  \
             endpoint_url: {endpoint}\n  max_attempts: 1\n"
        ),
    )
    .unwrap();
    let error = read_tokenizer_store(&source(dir.path(), SAFE_PASSWORD), now())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert_eq!(
        message,
        format!("tokenizer store (dynamodb): Scan of table {table} failed")
    );
}

/// The whole migration with the real binary: `--config` the tool's own
/// `settings.yml` (its other blocks set aside), import the tool's live
/// sessions from the folder both share, then the same again (nothing new),
/// and every live user has one session under the subject the tool knew.
/// Step 5 of operations.md's move from the tokenizer, on the tool's
/// folder: the tool's records whose sessions are in Tessera go, with the
/// expired and logged-out ones; the profile record and Tessera's own
/// marker file stay.
fn check_cleanup(tessera: &dyn Fn(&[&str]) -> (bool, String), store: &Path, manifest: &Value) {
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(store)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| Path::new(n).extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        files().len(),
        6,
        "five users and Tessera's marker: {:?}",
        files()
    );
    // Refused while legacy SIDs are off: the tool's tokens are the SIDs.
    let (ok, refused) = tessera(&[
        "sessions",
        "import",
        "--from-tokenizer",
        "--remove-imported",
    ]);
    assert!(!ok && refused.contains("acceptLegacySIDs"), "{refused}");
    assert_eq!(files().len(), 6, "nothing removed: {:?}", files());
    let (ok, cleaned) = tessera(&[
        "-DsessionStore.acceptLegacySIDs=true",
        "sessions",
        "import",
        "--from-tokenizer",
        "--remove-imported",
    ]);
    assert!(ok, "{cleaned}");
    assert!(
        cleaned.contains("imported 0, already present 2"),
        "{cleaned}"
    );
    assert!(
        cleaned.contains(
            "removed 4 tokenizer record(s) whose sessions are in Tessera or had ended; 0 already \
             gone; 0 changed"
        ),
        "{cleaned}"
    );
    let profile = sha1_file(manifest["profile"]["username"].as_str().unwrap());
    let mut kept = vec![profile, "tessera-local.json".to_owned()];
    kept.sort();
    assert_eq!(files(), kept);
}

#[tokio::test]
async fn the_binary_imports_the_tools_sessions_from_its_own_settings_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens");
    let path = store.display();
    let manifest = write_store(
        dir.path(),
        &format!("local\n  path: {path}"),
        &format!("profiler:\n  type: local\n  path: {path}\n"),
        &unique("t").replace('-', "x"),
    );
    let tessera = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .env_clear()
            .env("HOME", dir.path())
            .arg("--config")
            .arg(dir.path().join("settings.yml"))
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let (ok, first) = tessera(&["sessions", "import", "--from-tokenizer"]);
    assert!(ok, "{first}");
    assert!(
        first.contains("imported 2, already present 0"),
        "the live users with and without credentials: {first}"
    );
    // The expired, logged-out and profile records are listed; the marker
    // file of Tessera's own store, which shares the folder, is counted.
    assert!(first.contains("tokenizer records skipped: 3"), "{first}");
    assert!(
        first.contains("Tessera's own records passed by (not listed): 1"),
        "{first}"
    );
    for kind in ["live", "no_credentials"] {
        let token = manifest[kind]["token"].as_str().unwrap();
        assert!(!first.contains(token), "a token was printed: {first}");
    }
    let (ok, again) = tessera(&["sessions", "import", "--from-tokenizer"]);
    assert!(ok, "{again}");
    assert!(again.contains("imported 0, already present 2"), "{again}");

    check_cleanup(&tessera, &store, &manifest);

    for kind in ["live", "no_credentials"] {
        let subject = manifest[kind]["username"].as_str().unwrap().to_lowercase();
        let (ok, listed) = tessera(&["sessions", "list", "--subject", &subject, "--json"]);
        assert!(ok, "{listed}");
        let list: Value = serde_json::from_str(&listed).unwrap();
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{kind}: {listed}");
    }

    // Signed-in users stay signed in: with legacy SIDs accepted, the
    // tool's token is the SID, and the credentials it encrypted come back.
    let token = "tokenizer-import-api-token-0123456789abcdef";
    let hash = tessera_crypto::TokenHash::of(token).to_string();
    let mut command = cli_support::tessera();
    command
        .env("HOME", dir.path())
        .arg("--config")
        .arg(dir.path().join("settings.yml"))
        .arg(format!("-DsessionStore.apiAccessTokenSHA256={hash}"))
        .arg("-DsessionStore.acceptLegacySIDs=true")
        .arg("serve");
    let server = cli_support::serve(command);
    let bearer = format!("Bearer {token}");
    let live = &manifest["live"];
    let (status, body) = cli_support::request(
        &server.addr,
        "GET",
        "/session-store/rest/v2/sessions?credentials=true",
        &[
            ("Authorization", &bearer),
            ("SID", live["token"].as_str().unwrap()),
        ],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let session: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(session["credentials"], live["credentials"]);
    let (status, _) = cli_support::request(
        &server.addr,
        "GET",
        "/session-store/rest/v2/sessions",
        &[
            ("Authorization", &bearer),
            (
                "SID",
                manifest["logged_out"]["token"]
                    .as_str()
                    .unwrap_or("x".repeat(32).as_str()),
            ),
        ],
        "",
    );
    assert_ne!(status, 200, "a logged-out session stays out");
}
