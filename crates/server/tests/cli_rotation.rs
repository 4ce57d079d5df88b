//! Emergency rotation with the real binary on a local store: after the
//! `safe_password` is replaced with no previous one, the old SIDs stop
//! verifying, their sessions hold no quota slot and are not listed, and
//! `sessions revoke --all` ends everything that is stored.

use std::path::Path;
use std::process::{Command, Stdio};

use tessera_crypto::TokenHash;

mod cli_support;

use cli_support::{BASE, json_field, request};

const OLD_PASSWORD: &str = "hT4k-9qZ_mW2xVbR-long";
const NEW_PASSWORD: &str = "Vq7p_Lx3-Rz8Nw2k-fresh";
const TOKEN: &str = "rotation-test-token-0123456789abcdefghijklmnop";

/// `tessera` on a local store in `dir` with `password`, quota 2 and
/// DENY_LOGIN.
fn tessera(dir: &Path, password: &str) -> Command {
    let file = dir.join(format!("settings-{}.yml", &password[..4]));
    let config = format!(
        "tokenizer:\n  type: local\n  path: {}\n  safe_password: {password}\nsessionStore:\n  apiAccessTokenSHA256: {}\n  quotaPerSubject: 2\n  onQuotaExhaustion: DENY_LOGIN\n",
        dir.join("store").display(),
        TokenHash::of(TOKEN)
    );
    std::fs::write(&file, config).unwrap();
    let mut command = cli_support::tessera();
    command.env("HOME", dir).arg("--config").arg(file);
    command
}

fn login(addr: &str) -> (u16, String) {
    let bearer = format!("Bearer {TOKEN}");
    request(
        addr,
        "POST",
        &format!("{BASE}/sessions"),
        &[("Authorization", bearer.as_str())],
        r#"{"sub":"alice"}"#,
    )
}

#[test]
fn after_an_emergency_rotation_old_sessions_hold_no_slot_and_revoke_all_ends_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = tessera(dir.path(), OLD_PASSWORD);
    old.arg("serve");
    let server = cli_support::serve(old);
    let mut sids = Vec::new();
    for _ in 0..2 {
        let (status, body) = login(&server.addr);
        assert_eq!(status, 201, "{body}");
        sids.push(json_field(&body, "sid"));
    }
    drop(server);

    // The emergency: a new password and no previous one.
    let mut new = tessera(dir.path(), NEW_PASSWORD);
    new.arg("serve");
    let server = cli_support::serve(new);
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = request(
        &server.addr,
        "GET",
        &format!("{BASE}/sessions"),
        &[
            ("Authorization", bearer.as_str()),
            ("SID", sids[0].as_str()),
        ],
        "",
    );
    assert_eq!(status, 400, "an old SID no longer verifies: {body}");

    // The old sessions hold no slot: two logins fit, a third is refused.
    for _ in 0..2 {
        let (status, body) = login(&server.addr);
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = login(&server.addr);
    assert_eq!(status, 409, "{body}");
    let list = || {
        let out = tessera(dir.path(), NEW_PASSWORD)
            .args(["sessions", "list", "--subject", "alice", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
    };
    assert_eq!(
        list().len(),
        2,
        "only the sessions a kept key verifies are listed"
    );

    // Without confirmation nothing happens (standard input is not a
    // terminal here).
    let out = tessera(dir.path(), NEW_PASSWORD)
        .args(["sessions", "revoke", "--all"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--yes") && stderr.contains("all 4 live session(s)"),
        "{stderr}"
    );
    assert_eq!(list().len(), 2, "nothing was ended");

    let out = tessera(dir.path(), NEW_PASSWORD)
        .args(["sessions", "revoke", "--all", "--yes"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim_end(), "ended 4 session(s)");
    // The closing rate goes to standard error, leaving the result alone on
    // standard output.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("revoke --all: 4 records in "), "{stderr}");
    assert!(list().is_empty());
    let (status, body) = login(&server.addr);
    assert_eq!(status, 201, "{body}");
}
