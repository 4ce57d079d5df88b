//! Rotating tokens without a restart: `tessera serve` re-reads its
//! configuration on SIGHUP and applies the token hashes (API and metrics)
//! and the log level; other changes wait for a restart and are named; a
//! configuration with errors, or with no API token, changes nothing.

mod cli_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{BASE, Server, request, serve_with_stderr, tessera};
use tessera_crypto::TokenHash;

const STRONG: &str = "hT4k-9qZ_mW2xVbR-long";
const OLD: &str = "OldTokenOldTokenOldTokenOldToken0123456789A";
const NEW: &str = "NewTokenNewTokenNewTokenNewToken0123456789B";
const SCRAPER: &str = "ScraperScraperScraperScraperScr0123456789C";

fn settings(store: &Path, extra: &str) -> String {
    format!(
        "tokenizer:\n  type: local\n  safe_password: {STRONG}\n  path: {}\n{extra}",
        store.display()
    )
}

fn login(server: &Server, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    request(
        &server.addr,
        "POST",
        &format!("{BASE}/sessions"),
        &[("Authorization", &bearer)],
        r#"{"sub":"alice"}"#,
    )
    .0
}

fn metrics(server: &Server, token: Option<&str>) -> u16 {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("Authorization", b.as_str()))
        .collect();
    request(&server.addr, "GET", "/metrics", &headers, "").0
}

fn hangup(server: &Server) {
    let sent = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Waits until the log holds `needle` `count` times.
fn wait_for_log(log: &Path, needle: &str, count: usize) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return text;
        }
        assert!(Instant::now() < until, "no {needle:?} in the log:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_rotates_tokens_and_names_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let file = dir.path().join("settings.yml");
    let log = dir.path().join("stderr.log");
    std::fs::write(
        &file,
        settings(
            &store,
            &format!(
                "sessionStore:\n  apiAccessTokenSHA256: {}\nserver:\n  metrics_token_sha256: {}\n",
                TokenHash::of(OLD),
                TokenHash::of(SCRAPER)
            ),
        ),
    )
    .unwrap();
    let mut command = tessera();
    command.args(["serve", "--config"]).arg(&file);
    let server = serve_with_stderr(command, Stdio::from(std::fs::File::create(&log).unwrap()));

    assert_eq!(login(&server, OLD), 201);
    assert_eq!(login(&server, NEW), 401);
    assert_eq!(
        metrics(&server, None),
        401,
        "the metrics token is asked for"
    );
    assert_eq!(
        metrics(&server, Some(OLD)),
        401,
        "an API token is not a metrics token"
    );
    assert_eq!(metrics(&server, Some(SCRAPER)), 200);
    assert_eq!(
        login(&server, SCRAPER),
        401,
        "a metrics token is not an API token"
    );

    // Rotate: the new token only, /metrics open again, a debug log level,
    // and a key that cannot change while running.
    std::fs::write(
        &file,
        settings(
            &store,
            &format!(
                "  timeout: 30\nsessionStore:\n  apiAccessTokenSHA256: {}\nserver:\n  \
                 log_level: debug\n",
                TokenHash::of(NEW)
            ),
        ),
    )
    .unwrap();
    hangup(&server);
    let text = wait_for_log(&log, "token hashes and log level applied", 1);
    assert_eq!(
        login(&server, OLD),
        401,
        "the old token is gone without a restart"
    );
    assert_eq!(login(&server, NEW), 201);
    assert_eq!(metrics(&server, None), 200);
    assert!(
        text.contains("tokenizer.timeout changed, but takes effect only at a restart"),
        "{text}"
    );
    assert!(!text.contains("server.log_level changed"), "{text}");

    // A configuration with an error, then one without any API token:
    // refused, the tokens in force stay.
    std::fs::write(&file, settings(&store, "  colour: blue\n")).unwrap();
    hangup(&server);
    wait_for_log(&log, "reload refused", 1);
    assert_eq!(login(&server, NEW), 201);
    std::fs::write(&file, settings(&store, "")).unwrap();
    hangup(&server);
    let text = wait_for_log(&log, "reload refused", 2);
    assert!(text.contains("every caller would be locked out"), "{text}");
    assert_eq!(login(&server, NEW), 201);

    for secret in [OLD, NEW, SCRAPER, STRONG] {
        assert!(!text.contains(secret), "a secret in the log");
    }
}

/// The repository's `dist/` folder: the unit and examples the tarball
/// ships.
fn dist() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist")
}

/// A new token and its hash, from `tessera token new`.
fn token_new() -> (String, String) {
    let out = tessera().args(["token", "new"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in {text}"))
            .trim()
            .to_owned()
    };
    (line("token:"), line("sha256:"))
}

/// The `--config` files of the shipped unit's `ExecStart`, moved from
/// `/etc/tessera/` into `etc`.
fn unit_config_files(etc: &Path) -> Vec<std::path::PathBuf> {
    let unit = std::fs::read_to_string(dist().join("tessera.service")).unwrap();
    let start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart line");
    let words: Vec<&str> = start.split_whitespace().collect();
    assert_eq!(words.last(), Some(&"serve"), "{start}");
    let files: Vec<std::path::PathBuf> = words
        .windows(2)
        .filter(|w| w[0] == "--config")
        .map(|w| {
            etc.join(
                w[1].strip_prefix("/etc/tessera/")
                    .expect("a file in /etc/tessera"),
            )
        })
        .collect();
    assert!(!files.is_empty(), "{start}");
    files
}

/// Replaces the line of `tokens.yml` that sets `key` (commented out or
/// not) with `key: value`, or comments it out with `None`.
fn set_token_line(tokens: &Path, key: &str, value: Option<&str>) {
    let text = std::fs::read_to_string(tokens).unwrap();
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let bare = line.trim_start().trim_start_matches("# ");
            if bare.starts_with(&format!("{key}:")) {
                found = true;
                match value {
                    Some(v) => format!("  {key}: {v}"),
                    None => format!("  # {key}:"),
                }
            } else {
                line.to_owned()
            }
        })
        .collect();
    let mut text = lines.join("\n") + "\n";
    if !found {
        let v = value.expect("removing a line that is not there");
        text = text.replace("sessionStore:\n", &format!("sessionStore:\n  {key}: {v}\n"));
    }
    std::fs::write(tokens, text).unwrap();
}

/// docs/operations.md, "Rotating API tokens", step by step, on the shipped
/// layout: the unit's `--config` files, `tokens.yml` as shipped, a reload
/// per step. The old primary token and a revoked labelled token are
/// refused afterwards without a restart.
#[test]
fn the_documented_token_rotation_and_revocation_work_in_the_shipped_layout() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    std::fs::copy(
        dist().join("examples/tessera-local.yml"),
        etc.join("tessera.yml"),
    )
    .unwrap();
    std::fs::copy(dist().join("examples/tokens.yml"), etc.join("tokens.yml")).unwrap();
    let tokens = etc.join("tokens.yml");
    let files = unit_config_files(&etc);
    assert!(
        files.contains(&tokens),
        "the unit reads tokens.yml: {files:?}"
    );
    let log = dir.path().join("stderr.log");
    let configured = |command: &mut Command| {
        for file in &files {
            command.arg("--config").arg(file);
        }
        command
            .arg(format!(
                "-Dtokenizer.path={}",
                dir.path().join("sessions").display()
            ))
            .env("TOKENIZER_SAFE_PASSWORD", STRONG);
    };
    let check = || {
        let mut command = tessera();
        configured(&mut command);
        let out = command.args(["config", "check"]).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    // Installing: the placeholder is refused until the hash replaces it.
    assert!(!check().0, "the shipped placeholder passes `config check`");
    let (first, first_hash) = token_new();
    set_token_line(&tokens, "apiAccessTokenSHA256", Some(&first_hash));
    assert!(check().0, "{}", check().1);
    let mut command = tessera();
    configured(&mut command);
    command.arg("serve");
    let server = serve_with_stderr(command, Stdio::from(std::fs::File::create(&log).unwrap()));
    assert_eq!(login(&server, &first), 201);

    // The primary token. 1: a new token. 2: its hash as the secondary,
    // `config check`, reload: both work.
    let (next, next_hash) = token_new();
    assert_eq!(login(&server, &next), 401);
    set_token_line(&tokens, "secondaryAPIAccessTokenSHA256", Some(&next_hash));
    assert!(check().0, "{}", check().1);
    hangup(&server);
    wait_for_log(&log, "token hashes and log level applied", 1);
    assert_eq!(login(&server, &first), 201);
    assert_eq!(login(&server, &next), 201);
    // 3: the client switches. 4: the new hash as the primary, no
    // secondary, reload: the old token is refused.
    set_token_line(&tokens, "apiAccessTokenSHA256", Some(&next_hash));
    set_token_line(&tokens, "secondaryAPIAccessTokenSHA256", None);
    hangup(&server);
    wait_for_log(&log, "token hashes and log level applied", 2);
    assert_eq!(
        login(&server, &first),
        401,
        "the old primary token still works"
    );
    assert_eq!(login(&server, &next), 201);

    // A labelled token, then its revocation: remove its hash and reload.
    let (ci, ci_hash) = token_new();
    set_token_line(&tokens, "apiAccessTokenSHA256.ci", Some(&ci_hash));
    hangup(&server);
    wait_for_log(&log, "token hashes and log level applied", 3);
    assert_eq!(login(&server, &ci), 201);
    set_token_line(&tokens, "apiAccessTokenSHA256.ci", None);
    hangup(&server);
    let text = wait_for_log(&log, "token hashes and log level applied", 4);
    assert_eq!(login(&server, &ci), 401, "a revoked token still works");
    assert_eq!(login(&server, &next), 201);

    assert!(!text.contains("cannot change it"), "{text}");
    for secret in [first.as_str(), next.as_str(), ci.as_str(), STRONG] {
        assert!(!text.contains(secret), "a secret in the log");
    }
}

/// A token hash from the environment (or a `-D` argument) cannot be
/// changed by a reload: each reload says so, naming the variable, and the
/// token it sets stays valid.
#[test]
fn a_reload_names_the_token_hashes_it_cannot_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.yml");
    let log = dir.path().join("stderr.log");
    std::fs::write(&file, settings(&dir.path().join("store"), "")).unwrap();
    let mut command = tessera();
    command
        .args(["serve", "--config"])
        .arg(&file)
        .arg(format!(
            "-DsessionStore.apiAccessTokenSHA256.ci={}",
            TokenHash::of(NEW)
        ))
        .env(
            "TESSERA_SESSIONSTORE__APIACCESSTOKENSHA256",
            TokenHash::of(OLD).to_string(),
        );
    let server = serve_with_stderr(command, Stdio::from(std::fs::File::create(&log).unwrap()));
    assert_eq!(login(&server, OLD), 201);
    hangup(&server);
    let text = wait_for_log(&log, "token hashes and log level applied", 1);
    assert!(
        text.contains(
            "reload: TESSERA_SESSIONSTORE__APIACCESSTOKENSHA256 sets a token hash, and a reload \
             cannot change it"
        ),
        "{text}"
    );
    assert!(
        text.contains("-DsessionStore.apiAccessTokenSHA256.ci sets a token hash"),
        "{text}"
    );
    assert!(
        text.contains(
            "TESSERA_SESSIONSTORE__APIACCESSTOKENSHA256 sets a token hash, which a reload cannot \
             change or revoke"
        ),
        "the start says so too: {text}"
    );
    assert!(text.contains("WARN"), "{text}");
    assert_eq!(login(&server, OLD), 201);
    assert_eq!(login(&server, NEW), 201);
    assert!(
        !text.contains(&TokenHash::of(OLD).to_string()),
        "a hash in the log"
    );
}

/// `/metrics` must not accept an API token: the same hash in both places
/// is refused, and a reload that removes the metrics token says that
/// `/metrics` is now open.
#[test]
fn a_metrics_token_equal_to_an_api_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.yml");
    let hash = TokenHash::of(OLD);
    std::fs::write(
        &file,
        settings(
            &dir.path().join("store"),
            &format!(
                "sessionStore:\n  apiAccessTokenSHA256.ci: {hash}\nserver:\n  \
                 metrics_token_sha256: {hash}\n"
            ),
        ),
    )
    .unwrap();
    let out = tessera()
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("server.metrics_token_sha256")
            && text.contains("is the hash of an API token (`ci`)"),
        "{text}"
    );

    // Dropped by a reload: a warning.
    let log = dir.path().join("stderr.log");
    std::fs::write(
        &file,
        settings(
            &dir.path().join("store"),
            &format!(
                "sessionStore:\n  apiAccessTokenSHA256: {hash}\nserver:\n  \
                 metrics_token_sha256: {}\n",
                TokenHash::of(SCRAPER)
            ),
        ),
    )
    .unwrap();
    let mut command = tessera();
    command.args(["serve", "--config"]).arg(&file);
    let server = serve_with_stderr(command, Stdio::from(std::fs::File::create(&log).unwrap()));
    assert_eq!(metrics(&server, None), 401);
    std::fs::write(
        &file,
        settings(
            &dir.path().join("store"),
            &format!("sessionStore:\n  apiAccessTokenSHA256: {hash}\n"),
        ),
    )
    .unwrap();
    hangup(&server);
    let text = wait_for_log(&log, "token hashes and log level applied", 1);
    assert!(
        text.contains(
            "server.metrics_token_sha256 is gone, so /metrics now answers without a token"
        ),
        "{text}"
    );
    assert_eq!(metrics(&server, None), 200);
}

/// A SIGHUP sent while the server is still starting (here: waiting for a
/// Redis that accepts the connection and never answers) is held, not
/// fatal: SIGHUP's default action would end the process.
#[test]
fn a_sighup_during_start_up_does_not_end_the_process() {
    use std::os::unix::process::ExitStatusExt as _;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.yml");
    std::fs::write(
        &file,
        format!(
            "tokenizer:\n  type: redis\n  host: 127.0.0.1\n  port: {port}\n  safe_password: \
             {STRONG}\nsessionStore:\n  apiAccessTokenSHA256: {}\n",
            TokenHash::of(OLD)
        ),
    )
    .unwrap();
    let mut child = tessera()
        .args(["serve", "--config"])
        .arg(&file)
        .arg("-Dserver.listen=127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The server is opening its store once it has connected.
    let (_connection, _) = silent.accept().unwrap();
    let sent = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    std::thread::sleep(Duration::from_millis(500));
    let status = child.try_wait().unwrap();
    let _ = child.kill();
    let status = status.unwrap_or_else(|| child.wait().unwrap());
    assert_ne!(
        status.signal(),
        Some(1),
        "a SIGHUP while starting ended the process"
    );
}
