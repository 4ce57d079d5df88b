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

use std::path::{Path, PathBuf};
use std::process::Command;

use tessera_crypto::TokenHash;

mod cli_support;

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
        "TESSERA_ROOT_KEY=$(openssl rand -hex 32) cargo run -p tessera-axum --example login",
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

/// The root of the workspace.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fenced block of a Markdown file.
struct Block {
    file: String,
    line: usize,
    heading: String,
    lang: String,
    text: String,
}

fn blocks(file: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut open: Option<Block> = None;
    for (index, line) in text.lines().enumerate() {
        if let Some(block) = &mut open {
            if line.starts_with("```") {
                out.push(open.take().unwrap());
            } else {
                block.text.push_str(line);
                block.text.push('\n');
            }
        } else if let Some(lang) = line.strip_prefix("```") {
            open = Some(Block {
                file: file.to_owned(),
                line: index + 1,
                heading: heading.clone(),
                lang: lang.trim().to_owned(),
                text: String::new(),
            });
        } else if line.starts_with('#') {
            line.trim_start_matches('#').trim().clone_into(&mut heading);
        }
    }
    out
}

/// Every Markdown file whose shell examples are accounted for.
fn documents() -> Vec<String> {
    let mut files = vec!["README.md".to_owned()];
    for dir in ["docs", "docs/backends"] {
        let mut names: Vec<String> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| Path::new(n).extension().is_some_and(|e| e == "md"))
            .map(|n| format!("{dir}/{n}"))
            .collect();
        names.sort();
        files.extend(names);
    }
    files
}

fn is_shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "shell" | "console")
}

/// The shell blocks of `file` under `heading`.
fn shell_blocks(file: &str, heading: &str) -> Vec<Block> {
    let found: Vec<Block> = blocks(file)
        .into_iter()
        .filter(|b| is_shell(&b.lang) && b.heading == heading)
        .collect();
    assert!(
        !found.is_empty(),
        "no shell block under `{heading}` in {file}"
    );
    found
}

/// One command of a block and the output the docs promise for it.
struct Step {
    command: String,
    expected: Option<String>,
}

fn steps(block: &str) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut continuing = false;
    for line in block.lines() {
        if let Some(expected) = line.strip_prefix("# ").filter(|_| !continuing) {
            let step = out
                .last_mut()
                .expect("an expected output follows a command");
            let text = step.expected.get_or_insert_with(String::new);
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(expected);
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if continuing {
            let step = out.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(line);
        } else {
            out.push(Step {
                command: line.to_owned(),
                expected: None,
            });
        }
        continuing = line.ends_with('\\');
    }
    out
}

/// Whether `actual` is `pattern`, where `…` in the pattern stands for any
/// text (within one line or across lines).
fn matches(pattern: &str, actual: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, rest) = parts.split_first().unwrap();
    let Some(mut left) = actual.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return left.is_empty();
    };
    for part in middle {
        match left.find(part) {
            Some(at) => left = &left[at + part.len()..],
            None => return false,
        }
    }
    left.ends_with(last)
}

const STEP_END: &str = "@@docs-example-step-end@@";

/// Runs the steps of `blocks` in one bash in `dir`, after `replace` has
/// substituted the docs' placeholders, and checks each promised output.
/// Returns how many commands ran.
fn run(blocks: &[Block], dir: &Path, env: &[(&str, &str)], replace: &[(&str, String)]) -> usize {
    let mut script = String::from("set -euo pipefail\n");
    let mut all = Vec::new();
    for block in blocks {
        let mut text = block.text.clone();
        for (from, to) in replace {
            text = text.replace(from, to);
        }
        for step in steps(&text) {
            script.push_str(&step.command);
            script.push_str("\nprintf '\\n");
            script.push_str(STEP_END);
            script.push_str("\\n'\n");
            all.push((block.file.clone(), block.line, step));
        }
    }
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env_clear()
        .env("PATH", path_with_tessera());
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the examples failed ({}):\n{script}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let outputs: Vec<&str> = stdout.split(&format!("\n{STEP_END}\n")).collect();
    for (index, (file, line, step)) in all.iter().enumerate() {
        let Some(expected) = &step.expected else {
            continue;
        };
        let actual = outputs.get(index).copied().unwrap_or_default().trim();
        assert!(
            matches(expected.trim(), actual),
            "{file}, block at line {line}: `{}` printed\n{actual}\nbut the docs say\n{expected}",
            step.command
        );
    }
    all.len()
}

/// `PATH` with the `tessera` under test first, so the docs' `tessera …`
/// commands run it.
fn path_with_tessera() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_tessera"))
        .parent()
        .unwrap()
        .to_owned();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

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
