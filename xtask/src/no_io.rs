//! The no-I/O check: `tessera-core`, `tessera-crypto` and `tessera-store`
//! never touch the network, files, the environment, the clock or the OS
//! random number generator (the store: except in its two sanctioned
//! adapters, see [`CHECKED`]). Time is a `now` argument and randomness an injected
//! `SecureRandom`; only the adapters do I/O.
//!
//! Three layers, because each one misses what another catches:
//!
//! 1. the normal dependency graph (`cargo tree -e normal`) names no crate that
//!    does I/O, so nothing reachable can do it on the crates' behalf;
//! 2. the crates' sources name no forbidden path, including in `use` lines and
//!    types, which clippy does not look at;
//! 3. each crate's `clippy.toml` lists the clock reads in `disallowed-methods`,
//!    so the compiler flags a call where it is written.
//!
//! A call site that has a real reason carries
//! `#[expect(clippy::disallowed_methods, reason = "...")]` on the line itself
//! or within the few lines above it; the source scan accepts those.

use std::path::Path;

use anyhow::{Result, bail};

use crate::{cmd, files, project_root, rust_source};

/// A crate that promises no I/O.
struct Checked {
    package: &'static str,
    dir: &'static str,
    /// Folders under `src/` the source scan skips: test-only code behind a
    /// feature (the conformance suite runs tokio tasks).
    skip: &'static [&'static str],
    /// Tokens the source scan allows in this crate: the crate's own name
    /// for the one sanctioned adapter, whose OS call clippy still guards.
    allow: &'static [&'static str],
}

/// The crates that promise no I/O. `tessera-store` reads the wall clock
/// and the OS RNG in one place each (`SystemClock::now`,
/// `SystemRandom::new`, marked with `#[expect]`), and its feature-gated
/// conformance suite (`src/testkit/`) runs tasks on tokio.
const CHECKED: [Checked; 3] = [
    Checked {
        package: "tessera-core",
        dir: "crates/core",
        skip: &[],
        allow: &[],
    },
    Checked {
        package: "tessera-crypto",
        dir: "crates/crypto",
        skip: &[],
        allow: &[],
    },
    Checked {
        package: "tessera-store",
        dir: "crates/store",
        skip: &["testkit"],
        allow: &["SystemRandom"],
    },
];

/// Crates that do I/O, run an event loop or draw OS randomness. None may be
/// in the normal dependency graph of a checked crate. `x-*` matches a prefix.
///
/// `libc` is not here: `ring` and `getrandom` need it for CPU feature
/// detection and the OS RNG, and it does nothing by itself.
const BANNED_CRATES: &[&str] = &[
    // Async runtimes and their reactors.
    "tokio",
    "tokio-*",
    "mio",
    "async-std",
    "async-io",
    "smol",
    // Network clients and servers.
    "hyper",
    "hyper-*",
    "h2",
    "reqwest",
    "socket2",
    // The backends' drivers.
    "fred",
    "redis",
    "aws-*",
    // Files, locks and the syscall wrappers behind them.
    "tempfile",
    "fs2",
    "fs4",
    "fd-lock",
    "rustix",
    "nix",
    // Thread-local and OS random number generators.
    "rand",
];

/// Banned in `tessera-core` only. `tessera-crypto` reaches `getrandom`
/// through `ring` (for `ring::rand::SystemRandom`), so there the source scan
/// and clippy keep `SystemRandom` out instead.
const BANNED_IN_CORE: &[&str] = &["getrandom"];

/// Paths that mean a clock read, file, network, environment or process access,
/// or OS randomness. Matched as whole words in code (comments and string
/// literals are skipped).
const FORBIDDEN_TOKENS: &[&str] = &[
    "SystemTime::now",
    "Instant::now",
    "std::fs",
    "std::net",
    "std::env",
    "std::process",
    "tokio",
    "SystemRandom",
    "thread_rng",
    "OsRng",
    "getrandom",
];

/// Clock reads each checked crate's `clippy.toml` must disallow.
const REQUIRED_DISALLOWED_METHODS: [&str; 2] =
    ["std::time::SystemTime::now", "std::time::Instant::now"];

/// How many lines above a forbidden token an `#[expect(clippy::disallowed_...)]`
/// may stand and still cover it (attribute, signature, a line or two of body).
const EXPECT_REACH: usize = 5;

/// Runs all three layers and reports every problem found, not just the first.
pub(crate) fn check() -> Result<()> {
    let root = project_root();
    let mut problems = Vec::new();
    for checked in &CHECKED {
        let mut banned = BANNED_CRATES.to_vec();
        if checked.package == "tessera-core" {
            banned.extend_from_slice(BANNED_IN_CORE);
        }
        problems.extend(check_dependencies(&root, checked.package, &banned)?);
        problems.extend(check_sources(&root, checked)?);
        problems.extend(check_clippy_toml(
            &root,
            &root.join(checked.dir).join("clippy.toml"),
        )?);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "the no-I/O crates break their promise:\n  {}",
            problems.join("\n  ")
        )
    }
}

fn check_dependencies(root: &Path, package: &str, banned: &[&str]) -> Result<Vec<String>> {
    let tree = cmd::output(cmd::cargo().current_dir(root).args([
        "tree", "--quiet", "-e", "normal", "--prefix", "none", "-p", package,
    ]))?;
    let mut problems: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| banned.iter().any(|pattern| matches_crate(pattern, name)))
        .map(|name| {
            format!("{package} depends on `{name}` (see `cargo tree -p {package} -i {name}`)")
        })
        .collect();
    problems.dedup();
    Ok(problems)
}

fn matches_crate(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

fn check_sources(root: &Path, checked: &Checked) -> Result<Vec<String>> {
    let src = root.join(checked.dir).join("src");
    let mut problems = Vec::new();
    for file in files::rust_files(&src)? {
        if checked
            .skip
            .iter()
            .any(|dir| file.starts_with(src.join(dir)))
        {
            continue;
        }
        let source = files::read(&file)?;
        let original: Vec<&str> = source.lines().collect();
        let code = rust_source::code_only(&source);
        for (index, line) in code.lines().enumerate() {
            for token in FORBIDDEN_TOKENS
                .iter()
                .filter(|t| !checked.allow.contains(t))
            {
                if contains_word(line, token) && !covered_by_expect(&original, index) {
                    problems.push(format!(
                        "{}:{}: uses `{token}`",
                        files::shown(&file, root),
                        index + 1
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// Whether an `#[expect(clippy::disallowed_...)]` stands within
/// [`EXPECT_REACH`] lines above `index`, written on one line or spread
/// over several as rustfmt lays out a long one.
fn covered_by_expect(lines: &[&str], index: usize) -> bool {
    let window: String = lines[index.saturating_sub(EXPECT_REACH)..=index]
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    window.contains("#[expect(clippy::disallowed_")
}

fn check_clippy_toml(root: &Path, path: &Path) -> Result<Vec<String>> {
    let shown = files::shown(path, root);
    if !path.is_file() {
        return Ok(vec![format!(
            "{shown} is missing (it must disallow {})",
            REQUIRED_DISALLOWED_METHODS.join(" and ")
        )]);
    }
    let text = files::read(path)?;
    let code: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    if !code.contains("disallowed-methods") {
        return Ok(vec![format!("{shown} has no `disallowed-methods`")]);
    }
    Ok(REQUIRED_DISALLOWED_METHODS
        .iter()
        .filter(|method| !code.contains(&format!("\"{method}\"")))
        .map(|method| format!("{shown} does not disallow `{method}`"))
        .collect())
}

/// Whether `token` occurs in `line` with no identifier character on either
/// side, so `tokio` does not match `tokio_free` and `std::fs` not `std::fsx`.
fn contains_word(line: &str, token: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(token).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + token.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_crypto_and_store_do_no_io() -> Result<()> {
        check()
    }

    #[test]
    fn crate_patterns_match_names_and_prefixes() {
        assert!(matches_crate("tokio", "tokio"));
        assert!(!matches_crate("tokio", "tokio-util"));
        assert!(matches_crate("aws-*", "aws-sdk-dynamodb"));
        assert!(!matches_crate("rand", "rand_core"));
    }

    #[test]
    fn tokens_match_whole_words_only() {
        assert!(contains_word(
            "let t = std::time::SystemTime::now();",
            "SystemTime::now"
        ));
        assert!(contains_word("use std::fs;", "std::fs"));
        assert!(contains_word("use ::std::fs::File;", "std::fs"));
        assert!(!contains_word("let tokio_free = 1;", "tokio"));
        assert!(!contains_word("use std::fsx;", "std::fs"));
    }

    #[test]
    fn an_expect_attribute_covers_the_lines_below_it() {
        let lines = [
            "#[expect(clippy::disallowed_methods, reason = \"the one clock read\")]",
            "fn now() -> u64 {",
            "    SystemTime::now()",
            "}",
        ];
        assert!(covered_by_expect(&lines, 2));
        assert!(!covered_by_expect(&lines[1..], 1));
        let spread = [
            "#[expect(",
            "    clippy::disallowed_methods,",
            "    reason = \"the one clock read\"",
            ")]",
            "fn now() -> u64 {",
            "    SystemTime::now()",
        ];
        assert!(covered_by_expect(&spread, 5));
    }
}
