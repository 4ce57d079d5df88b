//! The embedded default with the real binary: first start, restart with the
//! same token, file modes, and the administrative commands on the same
//! data directory.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BASE: &str = "/session-store/rest/v2";

fn tessera(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .env_clear()
        .env("TESSERA_DATA_DIR", data_dir)
        .env("HOME", data_dir.parent().unwrap());
    command
}

/// A running `tessera serve`, killed on drop.
struct Server {
    child: Child,
    addr: String,
    token: Option<String>,
    banner: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the embedded default on a free port and reads its banner up to
/// the ready-to-paste curl line.
fn serve(data_dir: &Path) -> Server {
    let mut child = tessera(data_dir)
        .args(["serve", "-Dserver.listen=127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let mut addr = None;
    let mut token = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if let Some(rest) = line.strip_prefix("tessera: listening on http://") {
            addr = Some(rest.split_whitespace().next().unwrap().to_owned());
        }
        if let Some(rest) = line.strip_prefix("API token: ") {
            token = Some(rest.trim().to_owned());
        }
        if line.trim_start().starts_with("curl ") {
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no listen line in:\n{banner}"));
    Server {
        child,
        addr,
        token,
        banner,
    }
}

/// A minimal HTTP/1.1 exchange: returns the status and the body.
fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if !body.is_empty() {
        let _ = write!(
            head,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn json_field(body: &str, field: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        .to_owned()
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
    assert!(first.banner.contains(&format!("Bearer {token}")));

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
