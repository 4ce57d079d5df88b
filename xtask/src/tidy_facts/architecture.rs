//! The paths and crates ARCHITECTURE.md names.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::{files, project_root};

use super::fail_on;
use super::markdown::*;

/// The blocks of a Markdown text, each the lines that talk about one thing:
/// a new block starts at a blank line, a heading, a code fence, a top-level
/// list item (`* `) and each table row; indented lines continue the item
/// above them.
fn blocks<'a>(lines: &[Line<'a>]) -> Vec<Vec<Line<'a>>> {
    let mut found: Vec<Vec<Line<'a>>> = Vec::new();
    let mut current = Vec::new();
    for &(number, line) in lines {
        let starts = line.trim().is_empty()
            || line.starts_with("* ")
            || line.starts_with('|')
            || line.starts_with('#')
            || line.starts_with("```");
        if starts && !current.is_empty() {
            found.push(std::mem::take(&mut current));
        }
        if !line.trim().is_empty() {
            current.push((number, line));
        }
    }
    if !current.is_empty() {
        found.push(current);
    }
    found
}

/// Whether a backticked text is meant as a repository path: it has a `/`
/// or ends in `.rs`, `.md` or `.toml`, and holds no placeholder (`<hh>`,
/// `…`, `*`), space or Rust path (`::`).
fn is_repo_path(text: &str) -> bool {
    let looks_like_path = text.contains('/')
        || [".rs", ".md", ".toml"]
            .iter()
            .any(|ext| text.ends_with(ext));
    let placeholder =
        ['<', '…', '*', ' ', '('].iter().any(|c| text.contains(*c)) || text.contains("::");
    looks_like_path && !placeholder
}

/// `store/{a,b}.rs` as `store/a.rs` and `store/b.rs`; other paths as they are.
fn expand_braces(path: &str) -> Vec<String> {
    let Some((before, rest)) = path.split_once('{') else {
        return vec![path.to_owned()];
    };
    let Some((choices, after)) = rest.split_once('}') else {
        return vec![path.to_owned()];
    };
    choices
        .split(',')
        .map(|choice| format!("{before}{choice}{after}"))
        .collect()
}

/// The crates a block talks about, by folder name: those it names as
/// `crates/<name>…`, as `<name>/src/…` or `<name>/tests/…`, or by package
/// name `tessera-<name>`.
fn block_crates(block: &str, crates: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for text in backticked(block) {
        let named = if let Some(rest) = text.strip_prefix("crates/") {
            rest.split('/').next()
        } else if let Some(name) = text.strip_prefix("tessera-") {
            Some(name)
        } else {
            text.split_once("/src/")
                .or_else(|| text.split_once("/tests/"))
                .map(|(name, _)| name)
        };
        if let Some(name) = named.filter(|n| crates.iter().any(|c| c == n)) {
            found.insert(name.to_owned());
        }
    }
    found
}

/// Every file and folder under `dir`, relative to it, with `/` between
/// parts; `target` and hidden folders skipped.
fn relative_entries(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries =
            fs::read_dir(&current).with_context(|| format!("cannot list {}", current.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "target" || name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path.clone());
            }
            found.push(files::shown(&path, dir).replace('\\', "/"));
        }
    }
    Ok(found)
}

/// Every path ARCHITECTURE.md names in backticks exists. A path resolves
/// when it exists relative to the repository root, relative to `crates/`
/// (`store-redis/src/scripts.rs`), or — for the crates its block talks
/// about (see `block_crates`) — as the end of a path inside one of them:
/// `sid.rs` in the `crates/crypto` item is `crates/crypto/src/sid.rs`,
/// `store/mod.rs` in the backends' item is each backend's.
#[test]
fn the_paths_architecture_names_exist() -> Result<()> {
    let root = project_root();
    let crate_dirs = files::crate_dirs(&root)?;
    let crates: Vec<String> = crate_dirs
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut inside = BTreeMap::new();
    for (name, dir) in crates.iter().zip(&crate_dirs) {
        inside.insert(name.clone(), relative_entries(dir)?);
    }
    let text = files::read(&root.join("ARCHITECTURE.md"))?;
    let mut problems = Vec::new();
    let mut checked = 0;
    for block in blocks(&numbered(&text)) {
        let joined = block.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
        let context = block_crates(&joined, &crates);
        for &(number, line) in &block {
            for named in backticked(line).into_iter().filter(|t| is_repo_path(t)) {
                for path in expand_braces(named) {
                    checked += 1;
                    let bare = path.trim_end_matches('/');
                    let found = root.join(bare).exists()
                        || root.join("crates").join(bare).exists()
                        || context.iter().any(|name| {
                            inside[name]
                                .iter()
                                .any(|entry| entry == bare || entry.ends_with(&format!("/{bare}")))
                        });
                    if !found {
                        problems.push(format!(
                            "ARCHITECTURE.md:{number}: `{path}` does not exist (crates of this \
                             block: {context:?})"
                        ));
                    }
                }
            }
        }
    }
    if checked < 50 {
        bail!("only {checked} paths found in ARCHITECTURE.md");
    }
    fail_on(&problems, "paths ARCHITECTURE.md names that do not exist")
}

/// ARCHITECTURE.md's code map names every crate as `crates/<name>`.
#[test]
fn architecture_names_every_crate() -> Result<()> {
    let root = project_root();
    let text = files::read(&root.join("ARCHITECTURE.md"))?;
    let named: BTreeSet<&str> = backticked(&text).into_iter().collect();
    let mut problems = Vec::new();
    for dir in files::crate_dirs(&root)? {
        let path = files::shown(&dir, &root).replace('\\', "/");
        if !named.contains(path.as_str()) {
            problems.push(format!("ARCHITECTURE.md never names `{path}`"));
        }
    }
    fail_on(&problems, "crates missing from ARCHITECTURE.md")
}

#[test]
fn paths_and_their_crates_are_read() {
    assert!(is_repo_path("crates/store/src/service.rs"));
    assert!(is_repo_path("sid.rs"));
    assert!(is_repo_path("api/"));
    assert!(!is_repo_path("locks/<hh>"));
    assert!(!is_repo_path("subjects/…"));
    assert!(!is_repo_path("tessera_store::record"));
    assert!(!is_repo_path("SessionStore"));
    assert_eq!(
        expand_braces("store/{a,b}.rs"),
        ["store/a.rs", "store/b.rs"]
    );
    assert_eq!(expand_braces("store/mod.rs"), ["store/mod.rs"]);
    let crates = ["core", "store", "store-redis"].map(str::to_owned);
    assert_eq!(
        block_crates(
            "`tessera-core` and `crates/store`, `store-redis/tests/layout.rs`, `tessera-axum`",
            &crates
        )
        .into_iter()
        .collect::<Vec<_>>(),
        ["core", "store", "store-redis"]
    );
    let text = "* `crates/a` — `x.rs`\n  * nested `y.rs`\n* `crates/b`\n\n| t | `z.rs` |\n";
    let found = blocks(&numbered(text));
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].len(), 2);
}
