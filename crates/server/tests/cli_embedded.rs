//! The embedded default with the real binary: first start, restart with the
//! same token, file modes, and the administrative commands on the same
//! data directory.

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

mod cli_support;

use cli_support::{BASE, json_field, request};

fn tessera(data_dir: &Path) -> Command {
    let mut command = cli_support::tessera();
    command
        .env("TESSERA_DATA_DIR", data_dir)
        .env("HOME", data_dir.parent().unwrap());
    command
}

/// Starts the embedded default on a free port.
fn serve(data_dir: &Path) -> cli_support::Server {
    let mut command = tessera(data_dir);
    command.arg("serve");
    cli_support::serve(command)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_start_generates_once_and_restarts_reuse_the_token() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");

    let first = serve(&data_dir);
    let token = first
        .token
        .clone()
        .unwrap_or_else(|| panic!("no token on first start:\n{}", first.banner));
    assert_eq!(token.len(), 43);
    assert!(
        first.banner.contains(&format!(
            "curl -i -X POST http://{}{BASE}/sessions",
            first.addr
        )),
        "{}",
        first.banner
    );
    // Standard output is a pipe here: the token is in a private file, not
    // in the banner.
    assert!(!first.banner.contains(&token), "{}", first.banner);
    assert!(first.banner.contains("Bearer $TESSERA_TOKEN"));
    assert_eq!(mode(&data_dir.join("new_api_token")), 0o600);

    // The data directory and its files are private; the token is stored
    // only as its hash.
    assert_eq!(mode(&data_dir), 0o700);
    for file in ["safe_password", "api_token.sha256"] {
        assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
    }
    let stored = std::fs::read_to_string(data_dir.join("api_token.sha256")).unwrap();
    assert!(!stored.contains(&token));
    assert_eq!(stored.trim().len(), 64);
    let password = std::fs::read_to_string(data_dir.join("safe_password")).unwrap();
    assert!(password.trim().len() >= 16);
    assert!(data_dir.join("sessions-store").is_dir());

    // 401 without the token, 201 with it.
    let sessions = format!("{BASE}/sessions");
    let (status, _) = request(&first.addr, "POST", &sessions, &[], r#"{"sub":"alice"}"#);
    assert_eq!(status, 401);
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let (status, body) = request(&first.addr, "POST", &sessions, &auth, r#"{"sub":"alice"}"#);
    assert_eq!(status, 201, "{body}");
    let sid = json_field(&body, "sid");
    drop(first);

    // Restart: same password, same token, no token printed.
    let second = serve(&data_dir);
    assert_eq!(second.token, None, "{}", second.banner);
    assert!(!second.banner.contains(&token));
    assert!(
        second.banner.contains("Bearer $TESSERA_TOKEN"),
        "{}",
        second.banner
    );
    assert_eq!(
        std::fs::read_to_string(data_dir.join("safe_password")).unwrap(),
        password
    );
    // The session made before the restart is still there, and its SID still
    // verifies (same safe_password).
    let with_sid = [("Authorization", bearer.as_str()), ("SID", sid.as_str())];
    let (status, body) = request(&second.addr, "GET", &sessions, &with_sid, "");
    assert_eq!(status, 200, "{body}");
    let (status, _) = request(&second.addr, "GET", &sessions, &[("SID", sid.as_str())], "");
    assert_eq!(status, 401);
}

#[test]
fn admin_commands_work_on_the_embedded_store() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");

    // Before any start there is nothing to administer.
    let out = tessera(&data_dir)
        .args(["sessions", "list", "--subject", "bob"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tessera serve"));

    let server = serve(&data_dir);
    let bearer = format!("Bearer {}", server.token.clone().unwrap());
    let auth = [("Authorization", bearer.as_str())];
    let sessions = format!("{BASE}/sessions");
    let mut sids = Vec::new();
    for ctx in ["web", "web", "app"] {
        let body = format!(r#"{{"sub":"bob","ctx":"{ctx}"}}"#);
        let (status, body) = request(&server.addr, "POST", &sessions, &auth, &body);
        assert_eq!(status, 201, "{body}");
        sids.push(json_field(&body, "sid"));
    }

    // List, as JSON, from another process sharing the folder.
    let out = tessera(&data_dir)
        .args(["sessions", "list", "--subject", "bob", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 3);
    let out = tessera(&data_dir)
        .args(["sessions", "list", "--subject", "bob", "--ctx", "app"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(!table.contains(&sids[2]), "a SID is never listed");
    let app_id = table
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    // Revoke one by id: its SID stops working.
    let out = tessera(&data_dir)
        .args(["sessions", "revoke", "--id", &app_id])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ended session"));
    let with_sid = [
        ("Authorization", bearer.as_str()),
        ("SID", sids[2].as_str()),
    ];
    let (status, _) = request(&server.addr, "GET", &sessions, &with_sid, "");
    assert_eq!(status, 404);

    // Revoke the rest by subject.
    let out = tessera(&data_dir)
        .args(["sessions", "revoke", "--subject", "bob"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ended 2 session(s)"));

    // Purge runs and reports.
    let out = tessera(&data_dir).arg("purge").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("purged "));

    // create-table needs a DynamoDB configuration.
    let out = tessera(&data_dir)
        .args(["dynamodb", "create-table"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not dynamodb"));
}

#[test]
fn a_data_directory_others_can_write_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = tessera(&data_dir)
        .args(["serve", "-Dserver.listen=127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("other users may write"));
}

#[test]
fn configured_token_hashes_replace_the_generated_token() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let token = "configured-token-0123456789abcdefghijklmnopq";
    let mut command = tessera(&data_dir);
    command
        .env(
            "TESSERA_SESSIONSTORE__APIACCESSTOKENSHA256__OPS",
            tessera_crypto::TokenHash::of(token).to_hex(),
        )
        .arg("serve");
    let server = cli_support::serve(command);
    assert_eq!(server.token, None, "{}", server.banner);
    assert!(
        !server.banner.contains("generated on the first start"),
        "{}",
        server.banner
    );
    assert!(!data_dir.join("api_token.sha256").exists());
    assert!(data_dir.join("safe_password").exists());
    let bearer = format!("Bearer {token}");
    let (status, body) = request(
        &server.addr,
        "POST",
        &format!("{BASE}/sessions"),
        &[("Authorization", bearer.as_str())],
        r#"{"sub":"erin"}"#,
    );
    assert_eq!(status, 201, "{body}");
}

#[test]
fn a_first_start_token_never_reaches_stdout_or_stderr_when_they_are_not_a_terminal() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    // Everything the process writes is kept, at the most talkative log level.
    let mut child = tessera(&data_dir)
        .args([
            "serve",
            "-Dserver.listen=127.0.0.1:0",
            "-Dserver.log_level=debug",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    let mut addr = None;
    while !banner.contains("curl ") {
        let before = banner.len();
        stdout.read_line(&mut banner).unwrap();
        assert!(banner.len() > before, "the server stopped:\n{banner}");
        if let Some(rest) = banner
            .lines()
            .last()
            .unwrap()
            .strip_prefix("tessera: listening on http://")
        {
            addr = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no address in\n{banner}"));

    // The token is in a private file the banner names, in one line.
    let file = data_dir.join("new_api_token");
    assert_eq!(mode(&file), 0o600);
    let token = std::fs::read_to_string(&file)
        .unwrap()
        .trim_end()
        .to_owned();
    assert_eq!(token.len(), 43);
    let naming: Vec<_> = banner
        .lines()
        .filter(|l| l.contains(&file.display().to_string()))
        .collect();
    assert_eq!(naming.len(), 1, "{banner}");
    // It works, and its use is logged without it.
    let bearer = format!("Bearer {token}");
    let (status, body) = request(
        &addr,
        "POST",
        &format!("{BASE}/sessions"),
        &[("Authorization", bearer.as_str())],
        r#"{"sub":"frank"}"#,
    );
    assert_eq!(status, 201, "{body}");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    child.wait().unwrap();
    let stdout = banner + &rest;
    let stderr = stderr.join().unwrap();
    assert!(stderr.contains("request"), "the log was captured: {stderr}");
    assert!(
        !stdout.contains(&token),
        "the token is on stdout:\n{stdout}"
    );
    assert!(
        !stderr.contains(&token),
        "the token is on stderr:\n{stderr}"
    );
}
