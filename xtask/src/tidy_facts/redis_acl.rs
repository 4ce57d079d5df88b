//! The Redis commands Tessera sends and the ACL docs/backends/redis.md documents.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{files, project_root, rust_source};

use super::fail_on;
use super::markdown::*;

/// The commands the store sends itself, outside its scripts: the command,
/// the file under `crates/store-redis/src/` that sends it, and the call
/// there that sends it (each call must still be in that file's code).
const DIRECT_COMMANDS: &[(&str, &str, &str)] = &[
    // `get_and_touch`: one bounded read of a session value.
    ("GETRANGE", "store/sessions.rs", ".getrange("),
    // `read_alias` (legacy SID aliases) and `count_live`.
    ("GET", "store/housekeeping.rs", ".get("),
    // `put_alias`: a legacy SID alias, with `PXAT`.
    ("SET", "store/housekeeping.rs", ".set::<"),
    // `Script::run`: every script call, then its full text after `NOSCRIPT`.
    ("EVALSHA", "scripts.rs", ".evalsha::<"),
    ("EVAL", "scripts.rs", ".eval("),
    // `load_scripts` at start-up, on one server or every Cluster primary.
    ("SCRIPT LOAD", "store/connect.rs", ".script_load::<"),
    ("SCRIPT LOAD", "store/connect.rs", ".script_load_cluster::<"),
    // `scan`: count, purge and revoke-all walk the keys.
    ("SCAN", "store/housekeeping.rs", ".scan_buffered("),
    ("SCAN", "store/housekeeping.rs", ".scan_cluster_buffered("),
    // `ping_backend`: the readiness probe.
    ("PING", "store/housekeeping.rs", ".ping::<"),
];

/// The fred traits whose methods the store calls to send commands. A new
/// one means new kinds of commands: add them to `DIRECT_COMMANDS` and to
/// the documented ACL.
const FRED_INTERFACES: &[&str] = &["ClientLike", "KeysInterface", "LuaInterface"];

/// When the Redis client sends a command of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// On every new connection.
    Always,
    /// Under Redis Cluster.
    UnderCluster,
    /// Through Sentinel, to the primary it names.
    ThroughSentinel,
    /// With a database number set (`options.db` or a URL's `/db`).
    WithDatabase,
}

impl Sent {
    fn describe(self) -> &'static str {
        match self {
            Self::Always => "on every connection",
            Self::UnderCluster => "under Redis Cluster",
            Self::ThroughSentinel => "through Sentinel",
            Self::WithDatabase => "with a database number set",
        }
    }
}

/// The fred version `DRIVER_COMMANDS` was read from. When Cargo.lock moves
/// to another version, read fred's connection set-up again
/// (`protocol/connection.rs` `setup`, `router/clustered.rs`,
/// `router/sentinel.rs`) and update the list and the docs.
const FRED_VERSION: &str = "10.1.0";

/// The commands the Redis client sends on its own, which the ACL user must
/// be allowed too. Commands Redis lets every user run (`AUTH`, `HELLO`,
/// `QUIT`) are left out.
const DRIVER_COMMANDS: &[(&str, Sent)] = &[
    // `cache_server_version`; a refusal is only logged.
    ("INFO", Sent::Always),
    // `cache_connection_id`; a refusal is only logged.
    ("CLIENT ID", Sent::Always),
    // `check_cluster_state` on every new connection; a refusal fails it.
    ("CLUSTER INFO", Sent::UnderCluster),
    // `cluster_slots_backchannel`: the slot map.
    ("CLUSTER SLOTS", Sent::UnderCluster),
    // `check_primary_node_role`; a refusal fails the connection.
    ("ROLE", Sent::ThroughSentinel),
    // `select_database`; a refusal fails the connection.
    ("SELECT", Sent::WithDatabase),
];

/// The commands a Lua script sends (`redis.call('X'` and
/// `redis.pcall('X'`), upper-cased, outside `--` comments; a call whose
/// command is not a quoted name gives its line as the error.
fn script_commands(script: &str) -> Vec<Result<String, usize>> {
    let mut found = Vec::new();
    for (number, line) in numbered(script) {
        let code = line.split("--").next().unwrap_or_default();
        for call in ["redis.call(", "redis.pcall("] {
            for (at, _) in code.match_indices(call) {
                let rest = code[at + call.len()..].trim_start();
                let name = rest
                    .chars()
                    .next()
                    .filter(|&q| q == '\'' || q == '"')
                    .and_then(|quote| rest[1..].split(quote).next())
                    .filter(|name| !name.is_empty());
                found.push(name.map(str::to_ascii_uppercase).ok_or(number));
            }
        }
    }
    found
}

/// The commands an ACL rule text allows: each `+command` or
/// `+command|subcommand` word, as `COMMAND SUBCOMMAND`.
fn acl_commands(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '`')
        .filter_map(|word| word.strip_prefix('+'))
        .filter(|rule| rule.starts_with(|c: char| c.is_ascii_lowercase()))
        .map(|rule| rule.replace('|', " ").to_ascii_uppercase())
        .collect()
}

/// The ACL rule for a command, as the docs write it: `+cluster|info`.
fn acl_rule(command: &str) -> String {
    format!("+{}", command.to_ascii_lowercase().replace(' ', "|"))
}

/// Every file under `dir` whose name ends with `extension`, sorted,
/// skipping `target` and hidden folders.
fn files_ending(dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    pending.push(entry.path());
                }
            } else if name.ends_with(extension) {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The commands the Redis scripts send, each with a script that sends it.
fn scripts_send(root: &Path, problems: &mut Vec<String>) -> Result<BTreeMap<String, String>> {
    let mut commands = BTreeMap::new();
    let scripts = files_ending(&root.join("crates/store-redis/src"), ".lua")?;
    if scripts.len() < 3 {
        bail!(
            "only {} Lua scripts found in crates/store-redis/src",
            scripts.len()
        );
    }
    for path in scripts {
        let shown = files::shown(&path, root);
        for command in script_commands(&files::read(&path)?) {
            match command {
                Ok(command) => {
                    commands.entry(command).or_insert_with(|| shown.clone());
                }
                Err(line) => problems.push(format!(
                    "{shown}:{line}: a Redis call whose command is not a quoted name"
                )),
            }
        }
    }
    Ok(commands)
}

/// Each call of `DIRECT_COMMANDS` is still in its file, and the store
/// calls commands through no fred trait but `FRED_INTERFACES`.
fn check_direct_calls(root: &Path, problems: &mut Vec<String>) -> Result<()> {
    let src = root.join("crates/store-redis/src");
    for (command, file, call) in DIRECT_COMMANDS {
        let code = rust_source::code_only(&files::read(&src.join(file))?);
        if !code.contains(call) {
            problems.push(format!(
                "crates/store-redis/src/{file} no longer calls `{call}` ({command}): \
                 update DIRECT_COMMANDS and the ACL of docs/backends/redis.md"
            ));
        }
    }
    for path in files::rust_files(&src)? {
        let text = files::read(&path)?;
        for (at, marker) in text.match_indices("fred::interfaces::") {
            let rest = &text[at + marker.len()..];
            let names = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or_default(),
                None => rest.split([';', ',']).next().unwrap_or_default(),
            };
            for name in names.split(',').map(|n| n.trim().trim_end_matches(" as _")) {
                if !name.is_empty() && !FRED_INTERFACES.contains(&name) {
                    problems.push(format!(
                        "{} uses fred's `{name}`: add the commands it sends to \
                         DIRECT_COMMANDS and the ACL of docs/backends/redis.md",
                        files::shown(&path, root)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The version of `package` in a Cargo.lock.
fn locked_version<'a>(lock: &'a str, package: &str) -> Option<&'a str> {
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    lines.find(|line| *line == name_line)?;
    lines
        .next()?
        .strip_prefix("version = \"")?
        .strip_suffix('"')
}

/// The ACL rule of the store's ACL test (`the_documented_acl_is_enough` in
/// `crates/store-redis/tests/layout.rs`): its `let rule = "…";` string.
fn tested_acl_rule(source: &str) -> Option<String> {
    let (_, standalone) = source.split_once("fn the_documented_acl_is_enough()")?;
    let (_, rest) = standalone.split_once("let rule = \"")?;
    let (rule, _) = rest.split_once("\";")?;
    Some(rule.replace("\\\n", " "))
}

/// Every command the store sends on every setup, each with who sends it:
/// the scripts' `redis.call`s, the store's own calls and what the client
/// sends on every connection.
fn commands_sent(root: &Path, problems: &mut Vec<String>) -> Result<BTreeMap<String, String>> {
    let mut sent = scripts_send(root, problems)?;
    check_direct_calls(root, problems)?;
    for (command, file, _) in DIRECT_COMMANDS {
        sent.entry((*command).to_owned())
            .or_insert_with(|| format!("crates/store-redis/src/{file}"));
    }
    let lock = files::read(&root.join("Cargo.lock"))?;
    if locked_version(&lock, "fred") != Some(FRED_VERSION) {
        problems.push(format!(
            "Cargo.lock no longer has fred {FRED_VERSION}: read what the new version sends \
             on its own and update DRIVER_COMMANDS, FRED_VERSION and docs/backends/redis.md"
        ));
    }
    for (command, when) in DRIVER_COMMANDS {
        if *when == Sent::Always {
            sent.entry((*command).to_owned())
                .or_insert_with(|| format!("the Redis client, fred {FRED_VERSION}"));
        }
    }
    Ok(sent)
}

/// The ACL item of docs/backends/redis.md (the first top-level list item
/// that mentions the ACL): the line of its `ACL SETUSER` rule, that line,
/// and the rest of the item.
fn acl_item(doc: &str) -> Result<(usize, String, String)> {
    let lines = numbered(doc);
    let start = lines
        .iter()
        .position(|(_, line)| line.starts_with("* ") && line.contains("ACL"))
        .context("docs/backends/redis.md: no list item about the ACL")?;
    let item: Vec<Line<'_>> = std::iter::once(lines[start])
        .chain(
            lines[start + 1..]
                .iter()
                .copied()
                .take_while(|(_, line)| !line.starts_with("* ") && heading_level(line) == 0),
        )
        .collect();
    let (setuser_line, setuser) = item
        .iter()
        .copied()
        .find(|(_, line)| line.contains("ACL SETUSER"))
        .context("docs/backends/redis.md: no `ACL SETUSER` line in the ACL item")?;
    let prose: Vec<&str> = item
        .iter()
        .filter(|(number, _)| *number != setuser_line)
        .map(|(_, line)| *line)
        .collect();
    Ok((setuser_line, setuser.to_owned(), prose.join("\n")))
}

/// The rules `prose` adds for the commands the client sends only in some
/// setups are exactly those of `DRIVER_COMMANDS`.
fn check_conditional_rules(prose: &str, problems: &mut Vec<String>) {
    let named: BTreeSet<String> = acl_commands(prose).into_iter().collect();
    for (command, when) in DRIVER_COMMANDS {
        if *when != Sent::Always && !named.contains(*command) {
            problems.push(format!(
                "docs/backends/redis.md: the ACL item does not name `{}`, which the client \
                 sends {}",
                acl_rule(command),
                when.describe()
            ));
        }
    }
    for command in &named {
        let conditional = DRIVER_COMMANDS
            .iter()
            .any(|(c, when)| c == command && *when != Sent::Always);
        if !conditional {
            problems.push(format!(
                "docs/backends/redis.md: the ACL item names `{}`, which no condition in \
                 DRIVER_COMMANDS sends",
                acl_rule(command)
            ));
        }
    }
}

/// The ACL list of docs/backends/redis.md allows exactly the commands the
/// store sends (`commands_sent`); the commands the client sends only under
/// Cluster, Sentinel or a database number are named beside it; and the
/// store's ACL test uses the documented list.
#[test]
fn the_documented_redis_acl_is_what_the_store_sends() -> Result<()> {
    let root = project_root();
    let mut problems = Vec::new();
    let sent = commands_sent(&root, &mut problems)?;
    let (setuser_line, setuser, prose) =
        acl_item(&files::read(&root.join("docs/backends/redis.md"))?)?;
    let allowed: BTreeSet<String> = acl_commands(&setuser).into_iter().collect();
    for (command, by) in &sent {
        if !allowed.contains(command) {
            problems.push(format!(
                "docs/backends/redis.md:{setuser_line}: `{}` is missing ({command} is sent by {by})",
                acl_rule(command)
            ));
        }
    }
    for command in &allowed {
        if !sent.contains_key(command) {
            problems.push(format!(
                "docs/backends/redis.md:{setuser_line}: `{}` is allowed but nothing sends {command}",
                acl_rule(command)
            ));
        }
    }
    check_conditional_rules(&prose, &mut problems);
    let layout = files::read(&root.join("crates/store-redis/tests/layout.rs"))?;
    match tested_acl_rule(&layout) {
        Some(rule) if acl_commands(&rule).into_iter().collect::<BTreeSet<_>>() == allowed => {}
        Some(rule) => problems.push(format!(
            "crates/store-redis/tests/layout.rs tests the ACL `{}`, not the documented one",
            rule.split_whitespace().collect::<Vec<_>>().join(" ")
        )),
        None => problems.push(
            "crates/store-redis/tests/layout.rs: no `let rule = \"…\";` (the tested ACL)"
                .to_owned(),
        ),
    }
    fail_on(
        &problems,
        "Redis commands the ACL of the docs and the store disagree on",
    )
}

#[test]
fn redis_commands_are_read_from_scripts_and_acl_rules() {
    let script = "local v = redis.call('GET', KEYS[1])\n\
                  redis.pcall(\"zadd\", k, 1, m) -- redis.call('FLUSHALL')\n\
                  local f = redis.call(name, k)\n";
    assert_eq!(
        script_commands(script),
        [Ok("GET".to_owned()), Ok("ZADD".to_owned()), Err(3)]
    );
    assert_eq!(
        acl_commands("ACL SETUSER t on >PW ~t:* +get +script|load resetchannels"),
        ["GET", "SCRIPT LOAD"]
    );
    assert_eq!(
        acl_commands("add `+cluster|info` and `+role`."),
        ["CLUSTER INFO", "ROLE"]
    );
    assert_eq!(acl_rule("CLIENT ID"), "+client|id");
    let lock = "[[package]]\nname = \"fred\"\nversion = \"10.1.0\"\n";
    assert_eq!(locked_version(lock, "fred"), Some("10.1.0"));
    assert_eq!(locked_version(lock, "fr"), None);
    assert_eq!(
        tested_acl_rule("async fn the_documented_acl_is_enough() {\n    let rule = \"+get +set \\\n                +del\";\n")
            .map(|rule| acl_commands(&rule)),
        Some(vec!["GET".to_owned(), "SET".to_owned(), "DEL".to_owned()])
    );
}
