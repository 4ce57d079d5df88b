//! `tessera sessions import` with the real binary on every backend (the
//! local folder, and the Redis and DynamoDB services `cargo xtask test`
//! starts): good and bad lines, the report, a second import that changes
//! nothing, then the imported sessions through the API with
//! `acceptLegacySIDs` off and on.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use tessera_store::testkit::{service_env, unique};

use serde_json::json;
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{MasterKeys, SafePassword, SidKeys, StorageKey, SubjectTag, TokenHash};

mod cli_support;

use cli_support::{BASE, request};

const STRONG: &str = "hT4k-9qZ_mW2xVbR-long";
const TOKEN: &str = "import-test-token-0123456789abcdefghijklmnop";
const CREDENTIAL: &str = "upstream-pw-7f3a";
/// A value given where an object belongs, which no error may quote.
const SECRET_VALUE: &str = "hunter2-secret-value";

fn now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The SID keys the configured safe_password derives.
fn sid_keys() -> &'static SidKeys {
    static KEYS: OnceLock<SidKeys> = OnceLock::new();
    KEYS.get_or_init(|| MasterKeys::derive(&SafePassword::new(STRONG).unwrap(), &[]).sid_keys())
}

fn session(sub: &str, age: i64, max_life: i64) -> serde_json::Value {
    let now = now_secs();
    json!({
        "sub": sub, "ctx": "web",
        "creation_time": now - age, "auth_time": now - age, "last_used": now - age / 2,
        "max_life": max_life, "auth_life": max_life, "max_idle": 60,
        "data": {"cart": 1},
    })
}

struct Case {
    dir: tempfile::TempDir,
    config: String,
    env: Vec<(String, String)>,
}

impl Case {
    fn command(&self, extra: &[&str]) -> Command {
        let file = self.dir.path().join("settings.yml");
        std::fs::write(&file, &self.config).unwrap();
        let mut command = cli_support::tessera();
        command
            .env("HOME", self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("--config")
            .arg(file)
            .args(extra);
        command
    }

    fn import(&self, file: &Path) -> Output {
        self.command(&["sessions", "import"])
            .arg(file)
            .output()
            .unwrap()
    }
}

fn config(tokenizer: &str) -> String {
    format!(
        "tokenizer:\n{tokenizer}  safe_password: {STRONG}\nsessionStore:\n  apiAccessTokenSHA256: {}\n  quotaPerSubject: 2\n  onQuotaExhaustion: DENY_LOGIN\n",
        TokenHash::of(TOKEN)
    )
}

fn run(case: &Case) {
    // A token of the tokenizer's shape: 32 lowercase hex characters.
    let legacy = &StorageKey::from_legacy_sid(&unique("legacy")).to_hex()[..32];
    let frank: Vec<String> = (0..3).map(|i| format!("{legacy}f{i}")).collect();
    let (tessera_sid, erin_ref) = sid_keys()
        .mint(
            SubjectTag::of("erin"),
            &SeededRandom::new(unique("erin").as_bytes()),
        )
        .unwrap();
    let tessera_sid = tessera_sid.expose_secret().to_owned();
    let mut dave = session("dave", 600, 600);
    dave["credentials"] = json!({"password": CREDENTIAL});
    let lines = [
        json!({"sid": legacy, "session": dave}).to_string(),
        json!({"sid": tessera_sid, "session": session("erin", 600, 600)}).to_string(),
        json!({"sid": format!("{legacy}e"), "session": session("gail", 7200, 60)}).to_string(),
        "not json".to_owned(),
        json!({"sid": "short", "session": session("hugo", 60, 600)}).to_string(),
        json!({"sid": format!("{legacy}m"), "session": {"ctx": "web"}}).to_string(),
        json!({"sid": &frank[0], "session": session("frank", 60, 600)}).to_string(),
        json!({"sid": &frank[1], "session": session("frank", 60, 600)}).to_string(),
        json!({"sid": &frank[2], "session": session("frank", 60, 600)}).to_string(),
        String::new(),
        // A value of the wrong type, which must not be quoted back.
        json!({"sid": format!("{legacy}t"), "session": {"sub": "ivan", "ctx": "web", "data": SECRET_VALUE}}).to_string(),
        // A field name that would clear the operator's screen.
        json!({"sid": format!("{legacy}u"), "session": session("ivan", 60, 600), "\u{1b}[2J\u{1b}[Hfake summary": 1}).to_string(),
        // A line over the cap: reported, never held.
        format!("{{\"sid\": \"{}\"}}", "x".repeat(3 << 20)),
    ];
    let file = case.dir.path().join("sessions.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();

    let secrets = [legacy, tessera_sid.as_str(), CREDENTIAL, &frank[2]];
    let check_output = |out: &Output, summary: &str| {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(stdout.contains(summary), "{stdout}");
        assert!(stdout.contains("line 9: refused"), "{stdout}");
        assert!(stderr.contains("line 4: not JSON"), "{stderr}");
        assert!(stderr.contains("line 5: `sid` is neither"), "{stderr}");
        assert!(
            stderr.contains("line 6: `session` is not a session object"),
            "{stderr}"
        );
        assert!(
            stderr.contains("line 11: `session` is not a session object"),
            "{stderr}"
        );
        assert!(stderr.contains("line 12: an unknown field"), "{stderr}");
        assert!(
            stderr.contains("line 13: longer than 2097152 bytes"),
            "{stderr}"
        );
        assert!(
            !stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'),
            "a terminal escape was printed raw"
        );
        for secret in secrets.iter().chain([&SECRET_VALUE]) {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "a secret was printed"
            );
        }
        stderr.into_owned()
    };
    let first = case.import(&file);
    let stderr = check_output(
        &first,
        "imported 4, already present 0, expired 1, ended since an earlier import 0, refused by \
         quota 1, bad 6",
    );
    assert!(
        stderr.contains("3 session(s) were imported under legacy SIDs"),
        "{stderr}"
    );
    let second = case.import(&file);
    check_output(
        &second,
        "imported 0, already present 4, expired 1, ended since an earlier import 0, refused by \
         quota 1, bad 6",
    );

    // The API logs dave out (his legacy SID).
    through_the_api(case, legacy, &tessera_sid, &erin_ref.to_string(), &frank);

    ended_sessions_stay_ended(case, &file, legacy, &tessera_sid, &frank);
}

/// After the API logged dave out, and after `revoke --all`, importing the
/// same file again brings no ended session back.
fn ended_sessions_stay_ended(
    case: &Case,
    file: &Path,
    legacy: &str,
    tessera_sid: &str,
    frank: &[String],
) {
    let import_says = |expected: &str| {
        let out = case.import(file);
        let summary = String::from_utf8_lossy(&out.stdout);
        assert!(summary.contains(expected), "{summary}");
    };
    // Importing the same file again does not bring dave back.
    import_says(
        "imported 0, already present 3, expired 1, ended since an earlier import 1, refused by \
         quota 1, bad 6",
    );
    // Every session ended at once: none of them comes back either. The
    // one the quota refused was never imported, so now it is.
    let revoke = case
        .command(&["sessions", "revoke", "--all", "--yes"])
        .output()
        .unwrap();
    assert!(revoke.status.success(), "{revoke:?}");
    import_says(
        "imported 1, already present 0, expired 1, ended since an earlier import 4, refused by \
         quota 0, bad 6",
    );
    let server = cli_support::serve({
        let mut serve = case.command(&["serve"]);
        serve.arg("-DsessionStore.acceptLegacySIDs=true");
        serve
    });
    let bearer = format!("Bearer {TOKEN}");
    for sid in [legacy, tessera_sid, &frank[0], &frank[1]] {
        let (status, body) = request(
            &server.addr,
            "GET",
            &format!("{BASE}/sessions"),
            &[("Authorization", bearer.as_str()), ("SID", sid)],
            "",
        );
        assert_eq!(status, 404, "an ended session came back: {body}");
    }
}

/// The imported sessions through the API, with `acceptLegacySIDs` off
/// and on.
fn through_the_api(case: &Case, legacy: &str, tessera_sid: &str, erin_ref: &str, frank: &[String]) {
    let bearer = format!("Bearer {TOKEN}");
    let sessions = format!("{BASE}/sessions");
    let with_sid = |sid: &str| [("Authorization", bearer.clone()), ("SID", sid.to_owned())];
    let get = |addr: &str, sid: &str| {
        let headers = with_sid(sid);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request(addr, "GET", &sessions, &headers, "")
    };

    // Flag off: the legacy SID is a 400, the Tessera SID works.
    let mut serve = case.command(&["serve"]);
    serve.arg("-DsessionStore.acceptLegacySIDs=false");
    let server = cli_support::serve(serve);
    let (status, body) = get(&server.addr, legacy);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_sid"), "{body}");
    let (status, body) = get(&server.addr, tessera_sid);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(erin_ref), "{body}");
    drop(server);

    // Flag on: forged is a 404; the imported legacy session works.
    let mut serve = case.command(&["serve"]);
    serve.arg("-DsessionStore.acceptLegacySIDs=true");
    let server = cli_support::serve(serve);
    let (status, body) = get(&server.addr, &format!("{legacy}zz"));
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(&server.addr, legacy);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"sub\":\"dave\""), "{body}");
    let headers = with_sid(legacy);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = request(
        &server.addr,
        "GET",
        &format!("{sessions}?credentials=true"),
        &headers,
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(CREDENTIAL),
        "credentials sealed on import: {body}"
    );
    let (status, body) = request(
        &server.addr,
        "PUT",
        &sessions,
        &headers,
        r#"{"data":{"cart":2}}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"cart\":2"), "{body}");
    let (status, body) = get(&server.addr, &frank[1]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&server.addr, &frank[2]);
    assert_eq!(status, 404, "refused by the quota: {body}");
    let (status, body) = request(&server.addr, "DELETE", &sessions, &headers, "");
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&server.addr, legacy);
    assert_eq!(status, 404, "{body}");
}

#[test]
fn import_on_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = format!(
        "  type: local\n  path: {}\n",
        dir.path().join("store").display()
    );
    run(&Case {
        config: config(&tokenizer),
        dir,
        env: Vec::new(),
    });
}

#[test]
fn import_on_redis() {
    let url = service_env("TESSERA_TEST_REDIS_URL");
    let prefix = format!("{}:", unique("redis"));
    run(&Case {
        dir: tempfile::tempdir().unwrap(),
        config: config(&format!("  type: redis\n  key_prefix: '{prefix}'\n")),
        env: vec![("TESSERA_TOKENIZER__URL".to_owned(), url)],
    });
}

#[test]
fn import_on_dynamodb() {
    let endpoint = service_env("TESSERA_TEST_DYNAMODB_ENDPOINT");
    let table = unique("ddb");
    let case = Case {
        dir: tempfile::tempdir().unwrap(),
        config: config(&format!(
            "  type: dynamodb\n  table: {table}\n  aws_region_name: us-east-1\n  aws_access_key: testing\n  aws_secret_key: testing\n  endpoint_url: {endpoint}\n"
        )),
        env: Vec::new(),
    };
    let out = case
        .command(&["dynamodb", "create-table"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(&case);
}
