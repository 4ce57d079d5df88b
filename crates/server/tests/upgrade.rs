//! The upgrade from 0.1 to 0.2, as docs/operations.md ("Upgrades") gives
//! it, in its order, with the real binary on a local store.
//!
//! 0.1 wrote the same record format without a MAC. The records here are
//! made as 0.1 made them: by removing the `mac` field from records the
//! current binary wrote (0.1's encoder is the current one without that
//! field; `tessera_store::backend::record`'s tests decode a record 0.1 wrote,
//! kept as a fixture).

use std::path::{Path, PathBuf};

use tessera_crypto::TokenHash;

mod cli_support;

use cli_support::{BASE, json_field, request};

const PASSWORD: &str = "uP9r-Kd4_wQ7zLm2-upgrade";
const TOKEN: &str = "upgrade-test-token-0123456789abcdefghijklmnopq";

/// `tessera` on a local store in `dir`, with `extra` added to the
/// `sessionStore:` block.
fn tessera(dir: &Path, extra: &str) -> std::process::Command {
    let file = dir.join("settings.yml");
    let config = format!(
        "tokenizer:\n  type: local\n  path: {}\n  safe_password: {PASSWORD}\nsessionStore:\n  apiAccessTokenSHA256: {}\n{extra}",
        dir.join("store").display(),
        TokenHash::of(TOKEN)
    );
    std::fs::write(&file, config).unwrap();
    let mut command = cli_support::tessera();
    command.env("HOME", dir).arg("--config").arg(file);
    command
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn get(addr: &str, sid: &str) -> (u16, String) {
    let bearer = bearer();
    request(
        addr,
        "GET",
        &format!("{BASE}/sessions"),
        &[("Authorization", bearer.as_str()), ("SID", sid)],
        "",
    )
}

fn session_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(dir.join("store/sessions")).unwrap() {
        for file in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files
}

/// Rewrites every stored record as 0.1 wrote it: the same JSON, in the
/// same order, without the `mac` field (always the last one written).
fn as_written_by_0_1(dir: &Path) {
    for path in session_files(dir) {
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        let at = text.find(",\"mac\":\"").expect("0.2 signs what it writes");
        let end = at + text[at..].find("\"}").expect("the MAC ends the record") + 1;
        let old = format!("{}{}", &text[..at], &text[end..]);
        serde_json::from_str::<serde_json::Value>(&old).expect("still JSON");
        std::fs::write(&path, old).unwrap();
    }
}

fn unsigned_reads(addr: &str) -> u64 {
    let (status, body) = request(addr, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find(|l| l.starts_with("tessera_record_checks_total{outcome=\"unsigned\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no unsigned count in:\n{body}"))
}

#[test]
fn an_upgrade_from_0_1_logs_nobody_out_and_the_window_then_closes() {
    let dir = tempfile::tempdir().unwrap();

    // Sessions as 0.1 left them.
    let server = cli_support::serve({
        let mut c = tessera(dir.path(), "");
        c.arg("serve");
        c
    });
    let mut sids = Vec::new();
    for _ in 0..2 {
        let bearer = bearer();
        let (status, body) = request(
            &server.addr,
            "POST",
            &format!("{BASE}/sessions"),
            &[("Authorization", bearer.as_str())],
            r#"{"sub":"alice","data":{"cart":3}}"#,
        );
        assert_eq!(status, 201, "{body}");
        sids.push(json_field(&body, "sid"));
    }
    drop(server);
    as_written_by_0_1(dir.path());

    // 1. `tessera config check` with the new binary.
    let out = tessera(dir.path(), "")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 2. The new servers serve 0.1's sessions: nobody is logged out.
    let server = cli_support::serve({
        let mut c = tessera(dir.path(), "");
        c.arg("serve");
        c
    });
    for sid in &sids {
        let (status, body) = get(&server.addr, sid);
        assert_eq!(status, 200, "an unsigned 0.1 session is served: {body}");
    }
    // An update signs the record.
    let (_, read) = get(&server.addr, &sids[0]);
    let bearer = bearer();
    let (status, body) = request(
        &server.addr,
        "PUT",
        &format!("{BASE}/sessions"),
        &[
            ("Authorization", bearer.as_str()),
            ("SID", sids[0].as_str()),
        ],
        &read,
    );
    assert_eq!(status, 200, "{body}");

    // 3. The counter of unsigned reads, then the window closes.
    assert!(unsigned_reads(&server.addr) >= 2);
    drop(server);
    let server = cli_support::serve({
        let mut c = tessera(dir.path(), "  acceptUnsignedRecords: false\n");
        c.arg("serve");
        c
    });
    let (status, body) = get(&server.addr, &sids[0]);
    assert_eq!(
        status, 200,
        "a session updated in the window is signed: {body}"
    );
    let (status, body) = get(&server.addr, &sids[1]);
    assert_eq!(
        status, 500,
        "an unsigned record is refused once closed: {body}"
    );
    assert!(
        !body.contains("alice"),
        "the error quotes nothing stored: {body}"
    );
}

/// "The 0.2 systemd unit reads `/etc/tessera/tokens.yml`": a 0.1 host kept the
/// token hash in `tessera.env`. As long as it stays there, 0.2 warns at
/// start that a reload cannot revoke it; moved into `tokens.yml` (given as
/// a second `--config`, as the unit does) and deleted from the
/// environment, the same token works and the warning is gone.
#[test]
fn the_token_hash_moves_from_the_environment_into_tokens_yml() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.yml");
    std::fs::write(
        &settings,
        format!(
            "tokenizer:\n  type: local\n  path: {}\n  safe_password: {PASSWORD}\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let hash = TokenHash::of(TOKEN).to_string();
    let log = dir.path().join("serve.log");
    let serve = |env_hash: bool, tokens: Option<&Path>| {
        let mut command = cli_support::tessera();
        command
            .env("HOME", dir.path())
            .arg("--config")
            .arg(&settings);
        if let Some(tokens) = tokens {
            command.arg("--config").arg(tokens);
        }
        if env_hash {
            command.env("TESSERA_SESSIONSTORE__APIACCESSTOKENSHA256", &hash);
        }
        command.arg("serve");
        let server =
            cli_support::serve_with_stderr(command, std::fs::File::create(&log).unwrap().into());
        let bearer = bearer();
        let (status, body) = request(
            &server.addr,
            "POST",
            &format!("{BASE}/sessions"),
            &[("Authorization", bearer.as_str())],
            r#"{"sub":"alice"}"#,
        );
        assert_eq!(status, 201, "{body}");
        drop(server);
        let text = std::fs::read_to_string(&log).unwrap();
        text.contains("a reload cannot change or revoke")
    };
    // 0.1's layout: the hash in the environment.
    assert!(
        serve(true, None),
        "the hash in the environment is named at start"
    );
    // The step: the hash into tokens.yml, the line out of tessera.env.
    let tokens = dir.path().join("tokens.yml");
    std::fs::write(
        &tokens,
        format!("sessionStore:\n  apiAccessTokenSHA256: {hash}\n"),
    )
    .unwrap();
    assert!(
        serve(true, Some(&tokens)),
        "still warned while the line is left"
    );
    assert!(!serve(false, Some(&tokens)), "no warning once it is gone");
}
