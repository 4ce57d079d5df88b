//! Reading the docs' code blocks and running their shell examples, for
//! the tests that hold the docs to what the binary does.

#![allow(dead_code, unreachable_pub, reason = "each test binary uses a part")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The root of the workspace.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fenced block of a Markdown file.
pub struct Block {
    pub file: String,
    pub line: usize,
    pub heading: String,
    pub lang: String,
    pub text: String,
}

pub fn blocks(file: &str) -> Vec<Block> {
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
pub fn documents() -> Vec<String> {
    let mut files = vec![
        "README.md".to_owned(),
        "CHANGELOG.md".to_owned(),
        "ARCHITECTURE.md".to_owned(),
    ];
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

pub fn is_shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "shell" | "console")
}

/// The shell blocks of `file` under `heading`.
pub fn shell_blocks(file: &str, heading: &str) -> Vec<Block> {
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
pub fn run(
    blocks: &[Block],
    dir: &Path,
    env: &[(&str, &str)],
    replace: &[(&str, String)],
) -> usize {
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
pub fn path_with_tessera() -> String {
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
