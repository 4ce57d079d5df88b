//! Tidy checks, run as ordinary tests so `cargo test --workspace` enforces
//! them: every crate says what it is, no debugging leftovers, no silent
//! `#[ignore]`, every crate takes the workspace lints, the lock file is
//! committed.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::{files, project_root, rust_source};

/// Every package folder: `crates/*` and `xtask`.
fn package_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = files::crate_dirs(root)?;
    dirs.push(root.join("xtask"));
    Ok(dirs)
}

/// Every `.rs` file under `crates/` and `xtask/`.
fn workspace_rust_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut all = files::rust_files(&root.join("crates"))?;
    all.extend(files::rust_files(&root.join("xtask"))?);
    Ok(all)
}

fn fail_on(problems: &[String], what: &str) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{what}:\n  {}", problems.join("\n  "))
    }
}

#[test]
fn every_crate_root_opens_with_a_doc_comment() -> Result<()> {
    let root = project_root();
    let mut problems = Vec::new();
    for dir in package_dirs(&root)? {
        let roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|file| dir.join(file))
            .filter(|path| path.is_file())
            .collect();
        if roots.is_empty() {
            problems.push(format!(
                "{} has neither src/lib.rs nor src/main.rs",
                files::shown(&dir, &root)
            ));
        }
        for path in roots {
            let text = files::read(&path)?;
            let first = text
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or_default();
            if !first.starts_with("//!") {
                problems.push(format!(
                    "{} does not open with a `//!` comment saying what the crate does",
                    files::shown(&path, &root)
                ));
            }
        }
    }
    fail_on(&problems, "crate roots without a header")
}

#[test]
fn no_dbg_macro() -> Result<()> {
    let root = project_root();
    let mut problems = Vec::new();
    for path in workspace_rust_files(&root)? {
        let code = rust_source::code_only(&files::read(&path)?);
        for (index, line) in code.lines().enumerate() {
            if is_dbg_call(line) {
                problems.push(format!(
                    "{}:{}: {}",
                    files::shown(&path, &root),
                    index + 1,
                    line.trim()
                ));
            }
        }
    }
    fail_on(&problems, "debugging leftovers")
}

/// Whether code `line` calls the `dbg` macro (`std::dbg!` included).
fn is_dbg_call(line: &str) -> bool {
    line.match_indices("dbg!").any(|(at, _)| {
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn every_ignore_says_why() -> Result<()> {
    let root = project_root();
    let mut problems = Vec::new();
    for path in workspace_rust_files(&root)? {
        let code = rust_source::code_only(&files::read(&path)?);
        for (index, line) in code.lines().enumerate() {
            if is_bare_ignore(line) {
                problems.push(format!(
                    "{}:{}: write `#[ignore = \"why\"]`",
                    files::shown(&path, &root),
                    index + 1
                ));
            }
        }
    }
    fail_on(&problems, "`#[ignore]` without a reason")
}

/// Whether code `line` holds an ignore attribute with no reason string.
fn is_bare_ignore(line: &str) -> bool {
    let squeezed: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    let attribute = "#[ignore";
    squeezed
        .match_indices(attribute)
        .any(|(at, found)| squeezed[at + found.len()..].starts_with(']'))
}

#[test]
fn every_crate_takes_the_workspace_lints() -> Result<()> {
    let root = project_root();
    let mut problems = Vec::new();
    for dir in package_dirs(&root)? {
        let manifest = dir.join("Cargo.toml");
        if !uses_workspace_lints(&files::read(&manifest)?) {
            problems.push(format!(
                "{} lacks `[lints] workspace = true`",
                files::shown(&manifest, &root)
            ));
        }
    }
    fail_on(&problems, "crates outside the workspace lints")
}

/// Every published crate says where its source and docs are, and its
/// README links only to absolute addresses: crates.io shows the README
/// without the repository around it, so a relative link leads nowhere.
#[test]
fn every_crate_names_its_repository_and_its_readme_links_work_on_crates_io() -> Result<()> {
    let root = project_root();
    let mut problems = Vec::new();
    for dir in files::crate_dirs(&root)? {
        let manifest = dir.join("Cargo.toml");
        let text = files::read(&manifest)?;
        for key in ["repository", "homepage"] {
            if !text.lines().any(|l| l.trim_start().starts_with(key)) {
                problems.push(format!("{} has no `{key}`", files::shown(&manifest, &root)));
            }
        }
        let readme = dir.join("README.md");
        if let Ok(text) = files::read(&readme) {
            for link in markdown_links(&text) {
                if !(link.starts_with("https://") || link.starts_with("http://")) {
                    problems.push(format!(
                        "{} links to `{link}`, which crates.io cannot follow",
                        files::shown(&readme, &root)
                    ));
                }
            }
        }
    }
    fail_on(&problems, "crates not ready for crates.io")
}

/// The targets of the inline links `[text](target)` of a Markdown text.
fn markdown_links(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn markdown_links_are_found() {
    assert_eq!(
        markdown_links("see [a](https://x/a.md) and [b](../b.md)."),
        ["https://x/a.md", "../b.md"]
    );
}

/// Whether a manifest has `workspace = true` in its `[lints]` table (or the
/// dotted `lints.workspace = true`).
fn uses_workspace_lints(manifest: &str) -> bool {
    let mut in_lints = false;
    for line in manifest.lines() {
        let line: String = line
            .split('#')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if line.starts_with('[') {
            in_lints = line == "[lints]";
        } else if (in_lints && line == "workspace=true") || line == "lints.workspace=true" {
            return true;
        }
    }
    false
}

#[test]
fn cargo_lock_is_present() {
    let lock = project_root().join("Cargo.lock");
    assert!(
        lock.is_file(),
        "{} is missing: commit it, the workspace builds binaries",
        lock.display()
    );
}

#[test]
fn bare_ignore_is_told_from_one_with_a_reason() {
    assert!(is_bare_ignore("#[ignore]"));
    assert!(is_bare_ignore("    #[ ignore ]  "));
    assert!(!is_bare_ignore(
        r#"#[ignore = "needs a live DynamoDB table"]"#
    ));
    // What the checks see of that line: the reason string blanked out.
    assert!(!is_bare_ignore("#[ignore =                            ]"));
}

#[test]
fn dbg_calls_are_found_but_not_lookalikes() {
    assert!(is_dbg_call("    dbg!(x);"));
    assert!(is_dbg_call("let y = std::dbg!(x);"));
    assert!(!is_dbg_call("let my_dbg = 1;"));
    assert!(!is_dbg_call("undbg!(x);"));
}

#[test]
fn workspace_lints_are_found_in_both_spellings() {
    assert!(uses_workspace_lints(
        "[package]\nname = \"a\"\n\n[lints]\nworkspace = true\n"
    ));
    assert!(uses_workspace_lints("lints.workspace = true\n"));
    assert!(!uses_workspace_lints(
        "[lints]\n[dependencies]\nworkspace = true\n"
    ));
    assert!(!uses_workspace_lints("[lints.rust]\nworkspace = true\n"));
}

/// The `pub async fn` behaviours of a testkit module.
fn behaviours(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("pub async fn "))
        .filter_map(|rest| rest.split('(').next())
        .map(str::to_owned)
        .collect()
}

/// `conformance_tests!` writes one test per behaviour it lists; a
/// behaviour missing from the list would never run against any backend.
#[test]
fn the_conformance_macro_lists_every_behaviour() -> Result<()> {
    let testkit = project_root().join("crates/store/src/testkit");
    let macro_text = files::read(&testkit.join("mod.rs"))?;
    let listed = |name: &str| {
        macro_text
            .lines()
            .any(|line| line.trim().trim_end_matches(',') == name)
    };
    let mut problems = Vec::new();
    for module in ["conformance.rs", "hostile.rs"] {
        let found = behaviours(&files::read(&testkit.join(module))?);
        if found.is_empty() {
            problems.push(format!("no behaviours found in {module}"));
        }
        for name in found {
            if !listed(&name) {
                problems.push(format!("{module}: `{name}` is not in conformance_tests!"));
            }
        }
    }
    fail_on(&problems, "behaviours the conformance suite never runs")
}

/// The metric names `crates/server/src/api/metrics.rs` exports: its
/// `tessera_*` string constants.
fn exported_metrics(source: &str) -> Vec<String> {
    let mut names: Vec<String> = source
        .lines()
        .filter(|line| line.trim_start().starts_with("const ") || line.contains(" const "))
        .filter_map(|line| {
            let quoted = line.split('"').nth(1)?;
            quoted.starts_with("tessera_").then(|| quoted.to_owned())
        })
        .collect();
    names.sort();
    names
}

/// Every metric name a text mentions, without the suffixes of a
/// histogram's series (`_bucket`, `_sum`, `_count`): a `tessera_*` word
/// that ends as Prometheus names end (`_total`, `_seconds`, `_bytes`,
/// `_up`, `_info`), which tells it from a crate or function name such as
/// `tessera_store`.
fn mentioned_metrics(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("tessera_"))
        .map(|word| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word)
        })
        .filter(|name| {
            ["_total", "_seconds", "_bytes", "_up", "_info"]
                .iter()
                .any(|suffix| name.ends_with(suffix))
        })
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The metrics table of docs/api.md lists exactly the exported metrics,
/// and no doc names a metric that is not exported (the alert rules and
/// queries of operations.md included).
#[test]
fn the_documented_metrics_are_the_exported_ones() -> Result<()> {
    let root = project_root();
    let exported = exported_metrics(&files::read(
        &root.join("crates/server/src/api/metrics.rs"),
    )?);
    if exported.len() < 10 {
        bail!(
            "only {} metric names found in metrics.rs: {exported:?}",
            exported.len()
        );
    }
    let api = files::read(&root.join("docs/api.md"))?;
    let mut tabled: Vec<String> = api
        .lines()
        .filter_map(|line| line.strip_prefix("| `tessera_"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| format!("tessera_{name}"))
        .collect();
    tabled.sort();
    let mut problems = Vec::new();
    for name in &exported {
        if !tabled.contains(name) {
            problems.push(format!(
                "docs/api.md: `{name}` is exported but not in the metrics table"
            ));
        }
    }
    for name in &tabled {
        if !exported.contains(name) {
            problems.push(format!(
                "docs/api.md: `{name}` is in the metrics table but not exported"
            ));
        }
    }
    let mut docs = files::markdown_files(&root.join("docs"))?;
    docs.extend(["README.md", "CHANGELOG.md", "ARCHITECTURE.md"].map(|f| root.join(f)));
    for doc in docs {
        for name in mentioned_metrics(&files::read(&doc)?) {
            if !exported.contains(&name) {
                problems.push(format!(
                    "{}: `{name}` is not an exported metric",
                    doc.display()
                ));
            }
        }
    }
    fail_on(&problems, "metric names the docs and the code disagree on")
}

#[test]
fn metric_mentions_are_found_without_their_series_suffixes() {
    assert_eq!(
        mentioned_metrics(
            "rate(tessera_http_request_duration_seconds_bucket[5m]) and tessera_x_total"
        ),
        ["tessera_http_request_duration_seconds", "tessera_x_total"]
    );
    assert_eq!(
        exported_metrics("const A: &str = \"tessera_a_total\";\nlet b = \"tessera_b\";"),
        ["tessera_a_total"]
    );
}
