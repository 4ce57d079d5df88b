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
