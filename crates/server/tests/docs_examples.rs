//! The shell examples of README.md and docs/ run as written against the
//! real binary, and what they print is what the docs say they print.
//!
//! In a ```` ```sh ```` block, each command (with its `\` continuation
//! lines) may be followed by `# ` lines: the output the docs promise, where
//! `…` stands for any text. A command without such lines is run but its
//! output is not compared. The block's commands run in one `bash` (so a
//! variable set by one is seen by the next) with `set -euo pipefail`, in a
//! scratch folder. Placeholders the docs use for what differs per machine
//! (the sample token, `127.0.0.1:8080`, `<…>` secrets) are replaced by this
//! run's values first.
//!
//! Every shell block of README.md and docs/ is either run here or listed in
//! [`NOT_RUN`] with the reason, so a new example cannot go unchecked
//! silently.

use std::path::Path;

use tessera_crypto::TokenHash;

mod cli_support;
mod docs_support;

use docs_support::{blocks, documents, is_shell, run, shell_blocks};

/// The token the README shows in its banner and tour.
const SAMPLE_TOKEN: &str = "XfUCripxWBhzTzEAEAvP05EvBcuKOt1GBELsz6yDDZH";
/// The address the README shows.
const SAMPLE_ADDR: &str = "127.0.0.1:8080";
/// A password and a token for the placeholders of the configuration
/// examples.
const PASSWORD: &str = "q7Lw-2xRk_9vNz4T-docs";
const TOKEN: &str = "docs-example-token-0123456789abcdefghijklmno";

/// Shell blocks that are not run here, by file and first line, and why.
const NOT_RUN: &[(&str, &str, &str)] = &[
    (
        "docs/capacity.md",
        "cargo xtask bench --quick peers   # M1, M2: Redis bytes per session beside the peers",
        "the benchmarks take minutes and build release binaries; `cargo xtask bench --quick` is how they are run",
    ),
    ("README.md", "cargo xtask test", "the test command itself"),
    (
        "README.md",
        "cargo run --release -p tessera-server -- serve",
        "builds the release binary; the banner it prints is checked below from the debug one",
    ),
    (
        "README.md",
        "tessera --config settings.yml -DsessionStore.acceptLegacySIDs=true \\",
        "needs the SQL tool's own store; crates/server/tests/cli_import.rs runs this import",
    ),
    (
        "docs/operations.md",
        "sha256sum -c tessera-0.2.0-x86_64-unknown-linux-gnu.tar.gz.sha256",
        "installs into /usr/local and /etc and starts systemd as root; `cargo xtask dist` unpacks the tarball and runs what it ships",
    ),
    (
        "docs/operations.md",
        "tessera --config settings.yml sessions import --from-tokenizer \\",
        "needs the SQL tool's own store; crates/server/tests/cli_import.rs runs this import",
    ),
    (
        "docs/library.md",
        "cargo run -p tessera-axum --example login   # a development key in ./dev-root-key, with a warning",
        "builds and starts the example app, which crates/axum/tests/example_app.rs drives the same way over HTTP",
    ),
    (
        "docs/performance.md",
        "cargo xtask bench                 # everything, about 30 minutes",
        "a benchmark run, not a check",
    ),
    (
        "docs/backends/dynamodb.md",
        "aws dynamodb create-table --table-name tessera-sessions \\",
        "needs the AWS CLI; `tessera dynamodb create-table` makes the same table and is run in crates/server/tests/cli_backends.rs",
    ),
];

#[test]
fn every_shell_example_is_run_or_says_why_not() {
    let run_here = [
        ("README.md", "A five-minute tour"),
        (
            "README.md",
            "Moving from the OpenID provider's session store",
        ),
        ("docs/configuration.md", "Properties files"),
        ("docs/configuration.md", "Errors"),
        // Run by procedures.rs, step by step between the server's stops
        // and starts.
        ("docs/operations.md", "Local folder: backup and restore"),
        ("docs/operations.md", "Redis: backup and restore"),
    ];
    let mut unaccounted = Vec::new();
    let mut listed = 0;
    for file in documents() {
        for block in blocks(&file).into_iter().filter(|b| is_shell(&b.lang)) {
            let first = block.text.lines().next().unwrap_or_default();
            if run_here.contains(&(file.as_str(), block.heading.as_str())) {
                continue;
            }
            if NOT_RUN
                .iter()
                .any(|(f, line, _)| *f == file && *line == first)
            {
                listed += 1;
                continue;
            }
            unaccounted.push(format!("{file}:{} `{first}`", block.line));
        }
    }
    assert!(
        unaccounted.is_empty(),
        "shell examples neither run by this test nor listed in NOT_RUN with a reason:\n{}",
        unaccounted.join("\n")
    );
    assert_eq!(
        listed,
        NOT_RUN.len(),
        "an entry of NOT_RUN matches no example"
    );
}

#[test]
fn the_readme_tour_runs_as_written() {
    let scratch = tempfile::tempdir().unwrap();
    let data_dir = scratch.path().join("data");
    let mut serve = cli_support::tessera();
    serve
        .env("TESSERA_DATA_DIR", &data_dir)
        .env("HOME", scratch.path())
        .arg("serve");
    let server = cli_support::serve(serve);
    let token = server.token.clone().expect("the generated token");

    // The banner has the lines the README shows (on a pipe, the token is
    // in a file instead of on screen).
    let banner = &blocks("README.md")
        .into_iter()
        .find(|b| b.heading == "Run it" && b.lang == "text")
        .expect("the banner in README.md")
        .text;
    let first = banner.lines().next().unwrap();
    let shown = first.replace(SAMPLE_ADDR, &server.addr);
    assert!(
        server.banner.lines().next() == Some(shown.as_str()),
        "README shows `{first}`, the server printed:\n{}",
        server.banner
    );
    assert!(server.banner.contains("Try it:"), "{}", server.banner);

    let ran = run(
        &shell_blocks("README.md", "A five-minute tour"),
        scratch.path(),
        &[],
        &[(SAMPLE_TOKEN, token), (SAMPLE_ADDR, server.addr.clone())],
    );
    assert!(ran >= 8, "{ran} commands");
}

/// The configuration examples' placeholders, for a local store in `dir`.
fn placeholders(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("<at least 16 random characters>", PASSWORD.to_owned()),
        (
            "<SHA-256 of your API token, from `tessera token new`>",
            TokenHash::of(TOKEN).to_hex(),
        ),
        (
            "<the SHA-256 hex of your token>",
            TokenHash::of(TOKEN).to_hex(),
        ),
        (
            "/var/lib/tessera/sessions",
            dir.join("sessions").display().to_string(),
        ),
    ]
}

/// Writes `settings.yml` (the minimal production file of
/// docs/configuration.md) and `sessionStore.properties` (its properties
/// example) into `dir`, placeholders filled in.
fn write_configuration_examples(dir: &Path) {
    let fill = |text: &str| {
        placeholders(dir)
            .iter()
            .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
    };
    let config = blocks("docs/configuration.md");
    let minimal = config
        .iter()
        .find(|b| b.lang == "yaml" && b.text.contains("safe_password: \"<at least 16"))
        .expect("the minimal production file");
    std::fs::write(dir.join("settings.yml"), fill(&minimal.text)).unwrap();
    let properties = config
        .iter()
        .find(|b| b.heading == "Properties files" && b.lang == "properties")
        .expect("the properties example");
    std::fs::write(dir.join("sessionStore.properties"), fill(&properties.text)).unwrap();
}

#[test]
fn the_properties_examples_run_as_written() {
    let scratch = tempfile::tempdir().unwrap();
    write_configuration_examples(scratch.path());
    let home = scratch.path().display().to_string();
    let mut blocks = shell_blocks(
        "README.md",
        "Moving from the OpenID provider's session store",
    );
    blocks.extend(shell_blocks("docs/configuration.md", "Properties files"));
    let ran = run(&blocks, scratch.path(), &[("HOME", home.as_str())], &[]);
    assert_eq!(ran, 2);
}

#[test]
fn the_configuration_error_example_prints_what_the_docs_say() {
    let scratch = tempfile::tempdir().unwrap();
    let fill = |text: &str| {
        placeholders(scratch.path())
            .iter()
            .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
    };
    let settings = blocks("docs/configuration.md")
        .into_iter()
        .find(|b| b.heading == "Errors" && b.lang == "yaml")
        .expect("the settings of the error example");
    let settings_path = scratch.path().join("settings.yml");
    std::fs::write(&settings_path, fill(&settings.text)).unwrap();
    let home = scratch.path().display().to_string();
    let ran = run(
        &shell_blocks("docs/configuration.md", "Errors"),
        scratch.path(),
        &[("HOME", home.as_str())],
        &[(
            "/etc/tessera/settings.yml",
            settings_path.display().to_string(),
        )],
    );
    assert_eq!(ran, 1);
}
