//! The procedures of docs/operations.md, run with the real binary in the
//! order the docs give them: the `safe_password` rotation in three passes
//! across two servers, the local folder's backup and restore, and Redis'
//! backup and restore with AOF and without. The shell steps are taken from
//! the docs themselves, so a changed step changes what runs here; the steps
//! the docs give in prose (stop the servers, start Redis) are done here
//! between the blocks, where the docs put them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tessera_crypto::TokenHash;
use tessera_store::testkit::service_env;

mod cli_support;
mod docs_support;

use cli_support::redis::PrivateRedis;
use cli_support::{BASE, Server, json_field, request};
use docs_support::{Block, run, shell_blocks};

const OLD_PASSWORD: &str = "hT4k-9qZ_mW2xVbR-long";
const NEW_PASSWORD: &str = "Vq7p_Lx3-Rz8Nw2k-fresh";
const TOKEN: &str = "procedure-test-token-0123456789abcdefghijklmno";

/// Writes a configuration with `backend` (the lines under `tokenizer:`
/// after `type`), the current password and the previous ones, and returns
/// its path.
fn settings(path: &Path, backend: &str, current: &str, previous: &[&str], extra: &str) -> PathBuf {
    let previous = if previous.is_empty() {
        String::new()
    } else {
        format!("  previous_safe_passwords: [{}]\n", previous.join(", "))
    };
    let text = format!(
        "tokenizer:\n  type: {backend}\n  safe_password: {current}\n{previous}sessionStore:\n  \
         apiAccessTokenSHA256: {}\n{extra}",
        TokenHash::of(TOKEN)
    );
    std::fs::write(path, text).unwrap();
    path.to_owned()
}

fn serve(settings: &Path, home: &Path) -> Server {
    let mut command = cli_support::tessera();
    command
        .env("HOME", home)
        .arg("--config")
        .arg(settings)
        .arg("serve");
    cli_support::serve(command)
}

fn config_check(settings: &Path, home: &Path) {
    let out = cli_support::tessera()
        .env("HOME", home)
        .arg("--config")
        .arg(settings)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "config check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// Logs `subject` in; returns the SID.
fn login(addr: &str, subject: &str) -> String {
    let (status, body) = request(
        addr,
        "POST",
        &format!("{BASE}/sessions"),
        &[("Authorization", &bearer())],
        &format!(r#"{{"sub":"{subject}"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    json_field(&body, "sid")
}

/// The status of a lookup of `sid`.
fn lookup(addr: &str, sid: &str) -> u16 {
    request(
        addr,
        "GET",
        &format!("{BASE}/sessions"),
        &[("Authorization", &bearer()), ("SID", sid)],
        "",
    )
    .0
}

/// The status of a lookup once the backend answers (not 503), within 20 s.
fn lookup_when_up(addr: &str, sid: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = lookup(addr, sid);
        if status != 503 || Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn logout(addr: &str, sid: &str) {
    let (status, body) = request(
        addr,
        "DELETE",
        &format!("{BASE}/sessions"),
        &[("Authorization", &bearer()), ("SID", sid)],
        "",
    );
    assert_eq!(status, 200, "{body}");
}

/// docs/operations.md, "Rotating the `safe_password`", several servers:
/// teach, switch, retire, each a rolling restart of both servers on one
/// local folder. No user is logged out until the retiring pass, which ends
/// only the SIDs of the old password.
#[test]
fn the_safe_password_rotates_in_three_passes_across_two_servers() {
    let dir = tempfile::tempdir().unwrap();
    let backend = format!("local\n  path: {}", dir.path().join("store").display());
    let config = |server: &str, current: &str, previous: &[&str]| {
        settings(
            &dir.path().join(format!("settings-{server}.yml")),
            &backend,
            current,
            previous,
            "",
        )
    };
    let start = |server: &str, current: &str, previous: &[&str]| {
        let file = config(server, current, previous);
        config_check(&file, dir.path());
        serve(&file, dir.path())
    };
    let mut x = start("x", OLD_PASSWORD, &[]);
    let mut y = start("y", OLD_PASSWORD, &[]);
    let old_sid = login(&x.addr, "alice");

    // 1. Teach: the new password as a previous one; the old one current.
    x = start("x", OLD_PASSWORD, &[NEW_PASSWORD]);
    for server in [&x, &y] {
        assert_eq!(lookup(&server.addr, &old_sid), 200);
    }
    y = start("y", OLD_PASSWORD, &[NEW_PASSWORD]);
    for server in [&x, &y] {
        assert_eq!(lookup(&server.addr, &old_sid), 200);
    }

    // 2. Switch, server by server: a SID the switched one signs verifies on
    // the one not switched yet, since it was taught.
    x = start("x", NEW_PASSWORD, &[OLD_PASSWORD]);
    let new_sid = login(&x.addr, "alice");
    assert_eq!(lookup(&y.addr, &new_sid), 200, "taught in pass 1");
    y = start("y", NEW_PASSWORD, &[OLD_PASSWORD]);
    for server in [&x, &y] {
        assert_eq!(lookup(&server.addr, &old_sid), 200);
        assert_eq!(lookup(&server.addr, &new_sid), 200);
    }

    // 3. Retire: the old password removed; its SIDs stop verifying.
    x = start("x", NEW_PASSWORD, &[]);
    y = start("y", NEW_PASSWORD, &[]);
    for server in [&x, &y] {
        assert_eq!(lookup(&server.addr, &old_sid), 400);
        assert_eq!(lookup(&server.addr, &new_sid), 200);
    }
}

/// Runs one documented block with the docs' paths replaced by this test's.
fn run_block(block: &Block, dir: &Path, env: &[(&str, &str)], replace: &[(&str, String)]) {
    run(std::slice::from_ref(block), dir, env, replace);
}

/// docs/operations.md, "Local folder: backup and restore": every subfolder
/// comes back, the imported legacy SID included, and nothing later.
#[test]
fn the_local_folder_is_backed_up_and_restored_as_documented() {
    let blocks = shell_blocks("docs/operations.md", "Local folder: backup and restore");
    let [backup, restore] = blocks.as_slice() else {
        panic!("the docs give a backup block and a restore block")
    };
    let scratch = tempfile::tempdir().unwrap();
    let lib = scratch.path().join("var/lib/tessera");
    let backups = scratch.path().join("var/backups");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&backups).unwrap();
    let file = settings(
        &scratch.path().join("settings.yml"),
        &format!("local\n  path: {}", lib.join("sessions").display()),
        OLD_PASSWORD,
        &[],
        "  acceptLegacySIDs: true\n",
    );
    let replace = [
        ("/var/lib/tessera", lib.display().to_string()),
        ("/var/backups", backups.display().to_string()),
        ("/etc/tessera/settings.yml", file.display().to_string()),
    ];
    let home = scratch.path().display().to_string();
    let env = [("HOME", home.as_str())];

    let server = serve(&file, scratch.path());
    let alice = login(&server.addr, "alice");
    let bob = login(&server.addr, "bob");
    let legacy = "0f8fad5bd9cb469fa16570867728950e";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let line = serde_json::json!({"sid": legacy, "session": {
        "sub": "carol", "ctx": "web", "creation_time": now - 60, "auth_time": now - 60,
        "last_used": now - 30, "max_life": 720, "auth_life": 720, "max_idle": 60}});
    let import_file = scratch.path().join("import.jsonl");
    std::fs::write(&import_file, format!("{line}\n")).unwrap();
    let out = cli_support::tessera()
        .env("HOME", scratch.path())
        .arg("--config")
        .arg(&file)
        .args(["sessions", "import"])
        .arg(&import_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lookup(&server.addr, legacy), 200);

    // Backup: the servers stopped, the block, the servers started.
    drop(server);
    run_block(backup, scratch.path(), &env, &replace);
    let server = serve(&file, scratch.path());
    logout(&server.addr, &alice);
    let dave = login(&server.addr, "dave");

    // Restore: the servers stopped, the block, the servers started.
    drop(server);
    run_block(restore, scratch.path(), &env, &replace);
    assert!(lib.join("sessions.before-restore").is_dir());
    let server = serve(&file, scratch.path());
    assert_eq!(lookup(&server.addr, &alice), 200, "as it was at the copy");
    assert_eq!(lookup(&server.addr, &bob), 200);
    assert_eq!(lookup(&server.addr, legacy), 200, "legacy/ came back");
    assert_eq!(lookup(&server.addr, &dave), 404, "created after the copy");
    let listed = cli_support::tessera()
        .env("HOME", scratch.path())
        .arg("--config")
        .arg(&file)
        .args(["sessions", "list", "--subject", "bob", "--json"])
        .output()
        .unwrap();
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.len(), 1, "subjects/ came back");
}

/// docs/operations.md, "Redis: backup and restore": the sessions of the
/// snapshot come back, nothing later does, and with AOF they are still
/// there after one more restart (the new append-only file holds them).
fn redis_backup_and_restore(aof: bool) {
    let blocks = shell_blocks("docs/operations.md", "Redis: backup and restore");
    let [backup, restore_plain, aof_set_aside, aof_back_on] = blocks.as_slice() else {
        panic!("the docs give a backup block, one restore without AOF and two with")
    };
    let scratch = tempfile::tempdir().unwrap();
    let backups = scratch.path().join("var/backups");
    std::fs::create_dir_all(&backups).unwrap();
    let mut redis = PrivateRedis::new(scratch.path(), aof);
    redis.start();
    let cli = PathBuf::from(service_env("TESSERA_TEST_REDIS_CLI_BIN"));
    let path = format!(
        "{}:{}",
        cli.parent().unwrap().display(),
        docs_support::path_with_tessera()
    );
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let env = [("PATH", path.as_str()), ("REDIS_URL", url.as_str())];
    let replace = [
        ("/var/lib/redis", redis.dir.display().to_string()),
        ("/etc/redis/redis.conf", redis.conf.display().to_string()),
        ("/var/backups", backups.display().to_string()),
        (
            "chown redis:redis",
            "chown \"$(id -u):$(id -g)\"".to_owned(),
        ),
    ];
    let file = settings(
        &scratch.path().join("settings.yml"),
        &format!("redis\n  host: 127.0.0.1\n  port: {}", redis.port),
        OLD_PASSWORD,
        &[],
        "",
    );
    let server = serve(&file, scratch.path());
    let alice = login(&server.addr, "alice");
    let bob = login(&server.addr, "bob");

    run_block(backup, scratch.path(), &env, &replace);
    logout(&server.addr, &alice);
    let carol = login(&server.addr, "carol");

    redis.stop();
    if aof {
        run_block(aof_set_aside, scratch.path(), &env, &replace);
        redis.start();
        run_block(aof_back_on, scratch.path(), &env, &replace);
        let conf = std::fs::read_to_string(&redis.conf).unwrap();
        assert!(conf.contains("\nappendonly yes\n"), "{conf}");
    } else {
        run_block(restore_plain, scratch.path(), &env, &replace);
        redis.start();
    }
    let check = |when: &str| {
        assert_eq!(
            lookup_when_up(&server.addr, &alice),
            200,
            "{when}: as at the snapshot"
        );
        assert_eq!(lookup(&server.addr, &bob), 200, "{when}");
        assert_eq!(
            lookup(&server.addr, &carol),
            404,
            "{when}: created after the snapshot"
        );
    };
    check("restored");
    redis.stop();
    redis.start();
    check("after one more restart");
}

#[test]
fn redis_is_backed_up_and_restored_as_documented_without_aof() {
    redis_backup_and_restore(false);
}

#[test]
fn redis_is_backed_up_and_restored_as_documented_with_aof() {
    redis_backup_and_restore(true);
}
