//! The real `tessera` binary: `config check|show`, `token new|hash`, exit
//! codes and `--help`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const STRONG: &str = "hT4k-9qZ_mW2xVbR-long";

fn tessera(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.env_clear().env("HOME", home);
    command
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_check_on_each_tokenizer_example() {
    let home = tempfile::tempdir().unwrap();
    for name in [
        "tokenizer-local.yml",
        "tokenizer-dynamodb-profile.yml",
        "tokenizer-dynamodb-keys.yml",
        "tokenizer-redis.yml",
    ] {
        let file = fixture(name);
        let out = tessera(home.path())
            .args(["config", "check", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{name}");
        let stderr = text(&out.stderr);
        assert_eq!(
            stderr.lines().count(),
            1,
            "{name}: one error expected:\n{stderr}"
        );
        assert!(stderr.contains("tokenizer.safe_password"), "{stderr}");
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
        assert!(!stderr.contains("abc123456abcdef"), "{stderr}");
        assert!(out.stdout.is_empty());

        // The same file through TESSERA_CONFIG, with a strong password in
        // its place.
        let strong = home.path().join(name);
        std::fs::write(
            &strong,
            std::fs::read_to_string(&file)
                .unwrap()
                .replace("abc123456abcdef", STRONG),
        )
        .unwrap();
        let out = tessera(home.path())
            .args(["config", "check"])
            .env("TESSERA_CONFIG", &strong)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("configuration OK"));
    }
}

#[test]
fn config_show_redacts_and_applies_every_layer() {
    let home = tempfile::tempdir().unwrap();
    let out = tessera(home.path())
        .args(["config", "show", "--config"])
        .arg(fixture("tokenizer-dynamodb-keys.yml"))
        .arg("-DsessionStore.maxLifetime=-1")
        .env("TOKENIZER_SAFE_PASSWORD", STRONG)
        .env("TESSERA_SERVER__LISTEN", "127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains(STRONG), "{shown}");
    assert!(shown.contains("safe_password: <redacted>"), "{shown}");
    assert!(shown.contains("aws_secret_key: <redacted>"), "{shown}");
    assert!(shown.contains("maxLifetime: -1"), "{shown}");
    assert!(shown.contains("listen: 127.0.0.1:9999"), "{shown}");
    assert!(shown.contains("maxIdleTime: 60"), "{shown}");
    // Where each value came from, the secret's value not repeated.
    let file = fixture("tokenizer-dynamodb-keys.yml");
    assert!(
        shown.contains(&format!("#   tokenizer.table: file {}", file.display())),
        "{shown}"
    );
    assert!(
        shown.contains("#   tokenizer.safe_password: environment variable TOKENIZER_SAFE_PASSWORD"),
        "{shown}"
    );
    assert!(
        shown.contains("#   server.listen: environment variable TESSERA_SERVER__LISTEN"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "#   sessionStore.maxLifetime: command-line argument -DsessionStore.maxLifetime"
        ),
        "{shown}"
    );
    assert!(!shown.contains("maxIdleTime: default"), "{shown}");
    serde_yaml::from_str::<serde_yaml::Value>(&shown).expect("still YAML");
}

#[test]
fn config_show_says_when_everything_is_a_default() {
    let home = tempfile::tempdir().unwrap();
    let out = tessera(home.path())
        .args(["config", "show"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("# Where the values came from: every value is a default."),
        "{shown}"
    );
}

#[test]
fn defines_apply_before_and_after_the_subcommand_and_beat_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let out = tessera(home.path())
        .args(["-DsessionStore.maxLifetime=-1", "config", "show", "-D"])
        .arg("server.listen=127.0.0.1:9999")
        .env("TESSERA_SERVER__LISTEN", "127.0.0.1:7777")
        .env("TESSERA_SESSIONSTORE__QUOTAPERSUBJECT", "3")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("maxLifetime: -1"), "{shown}");
    assert!(shown.contains("listen: 127.0.0.1:9999"), "{shown}");
    assert!(shown.contains("quotaPerSubject: 3"), "{shown}");
}

#[test]
fn serve_refuses_to_start_without_a_token_outside_the_embedded_default() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("settings.yml");
    std::fs::write(
        &file,
        format!(
            "tokenizer:\n  type: local\n  safe_password: {STRONG}\n  path: {}\n",
            home.path().join("store").display()
        ),
    )
    .unwrap();
    let out = tessera(home.path())
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("API is disabled"), "{stderr}");
    assert!(
        stderr.contains("sessionStore.apiAccessTokenSHA256"),
        "{stderr}"
    );
    assert!(stderr.contains("tessera token new"), "{stderr}");
    assert!(!home.path().join("store").exists(), "nothing is created");
}

#[test]
fn token_new_prints_a_token_its_hash_and_the_line_to_paste() {
    let home = tempfile::tempdir().unwrap();
    let out = tessera(home.path())
        .args(["token", "new"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {stdout}"))
            .trim()
            .to_owned()
    };
    let token = field("token:");
    let hash = field("sha256:");
    assert_eq!(token.len(), 43);
    assert_eq!(hash.len(), 64);
    assert!(
        stdout.contains(&format!("  apiAccessTokenSHA256: {hash}")),
        "{stdout}"
    );

    // `token hash` agrees, reading the token from stdin.
    let mut child = tessera(home.path())
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), hash);

    // A labelled token's line.
    let out = tessera(home.path())
        .args(["token", "new", "--label", "ops"])
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains("apiAccessTokenSHA256.ops: "));
    let out = tessera(home.path())
        .args(["token", "new", "--label", "no spaces"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// `tessera token hash` with `input` on standard input.
fn token_hash(home: &Path, input: &str) -> Output {
    let mut child = tessera(home)
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn token_hash_matches_sha256_and_refuses_empty_input() {
    let home = tempfile::tempdir().unwrap();
    let run = |input: &str| token_hash(home.path(), input);
    let out = run("0123456789abcdefghijklmnopqrstuv\r\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "73337f479fe170d73e53e247f3052e4243cc9c2a0ffa621853d9385c619efb77"
    );
    let out = run("");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no token on standard input"));
}

#[test]
fn token_hash_refuses_tokens_shorter_than_32_characters() {
    let home = tempfile::tempdir().unwrap();
    let run = |input: &str| token_hash(home.path(), input);
    // 31 characters, and 31 characters of several bytes each: both short.
    for short in ["0123456789abcdefghijklmnopqrstu\n", &"é".repeat(31)] {
        let out = run(short);
        assert_eq!(out.status.code(), Some(1), "{short}");
        assert!(out.stdout.is_empty(), "no hash for a short token");
        let message = text(&out.stderr);
        assert!(
            message.contains("has 31 characters") && message.contains("at least 32"),
            "{message}"
        );
        assert!(message.contains("tessera token new"), "{message}");
        assert!(
            !message.contains(short.trim_end()),
            "the token is not echoed"
        );
    }
    // `token new` makes tokens that pass.
    let out = tessera(home.path())
        .args(["token", "new"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token:"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.chars().count() >= 32, "{token}");
    let out = run(&format!("{token}\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn help_describes_every_command_and_usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let out = tessera(home.path())
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        text(&out.stdout)
    };
    let top = help(&[]);
    for command in ["serve", "token", "config", "sessions", "purge", "dynamodb"] {
        assert!(top.contains(command), "{command} missing from\n{top}");
    }
    assert!(top.contains("-D <KEY=VALUE>"), "{top}");
    assert!(top.contains("Exit codes"), "{top}");
    for args in [
        &["serve"][..],
        &["token", "new"],
        &["token", "hash"],
        &["config", "check"],
        &["config", "show"],
        &["sessions", "list"],
        &["sessions", "revoke"],
        &["purge"],
        &["dynamodb", "create-table"],
    ] {
        let text = help(args);
        assert!(text.lines().count() > 4, "{args:?}: {text}");
    }
    let out = tessera(home.path()).args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = tessera(home.path())
        .args(["sessions", "revoke"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--subject or --id is required");
}
