//! The defaults docs/configuration.md states, against the code.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::{files, project_root};

use super::fail_on;
use super::markdown::*;

/// Where the code states a documented default: the key as
/// `<table>/<key>` (the table is `tokenizer`, `local`, `dynamodb`,
/// `redis`, `sessionStore` or `server`), the file, and anchors found one
/// after the other in it (the first one only once in the file); the value
/// is the expression right after the last anchor, read by `code_value`.
const CODE_DEFAULTS: &[(&str, &str, &[&str])] = &[
    (
        "tokenizer/timeout",
        SESSION_STORE_RS,
        &["pub const TOKENIZER_DEFAULT_TIMEOUT: u32 ="],
    ),
    (
        "local/touch_window_ms",
        LOCAL_RS,
        &["pub const DEFAULT_TOUCH_WINDOW: Duration ="],
    ),
    (
        "dynamodb/max_attempts",
        DYNAMODB_RS,
        &["fn max_attempts() -> u32 {"],
    ),
    (
        "dynamodb/connect_timeout_ms",
        DYNAMODB_RS,
        &["fn connect_timeout() -> Duration {"],
    ),
    (
        "dynamodb/attempt_timeout_ms",
        DYNAMODB_RS,
        &["fn attempt_timeout() -> Duration {"],
    ),
    (
        "dynamodb/create_attempts",
        DYNAMODB_RS,
        &["fn create_attempts() -> u32 {"],
    ),
    (
        "dynamodb/scan_page_size",
        DYNAMODB_RS,
        &["fn scan_page_size() -> u32 {"],
    ),
    (
        "dynamodb/max_read_units_per_second",
        DYNAMODB_RS,
        &["fn max_read_units_per_second() -> f64 {"],
    ),
    (
        "dynamodb/touch_window_ms",
        DYNAMODB_RS,
        &["fn touch_window() -> Duration {"],
    ),
    ("redis/port", REDIS_RS, &["const DEFAULT_PORT: u16 ="]),
    (
        "redis/options.ssl",
        TOKENIZER_RS,
        &["v.boolean(\"tokenizer.options.ssl\")"],
    ),
    (
        "redis/cluster",
        TOKENIZER_RS,
        &["v.boolean(\"tokenizer.cluster\")"],
    ),
    (
        "redis/tls_insecure_skip_verify",
        TOKENIZER_RS,
        &[".boolean(\"tokenizer.tls_insecure_skip_verify\")"],
    ),
    (
        "redis/pool_size",
        REDIS_RS,
        &["pub const DEFAULT_POOL_SIZE: usize ="],
    ),
    (
        "redis/connect_timeout_ms",
        REDIS_RS,
        &["pub const DEFAULT_CONNECT_TIMEOUT: Duration ="],
    ),
    (
        "redis/command_timeout_ms",
        REDIS_RS,
        &["pub const DEFAULT_COMMAND_TIMEOUT: Duration ="],
    ),
    (
        "redis/key_prefix",
        REDIS_RS,
        &["pub const DEFAULT_KEY_PREFIX: &str ="],
    ),
    (
        "redis/touch_window_ms",
        REDIS_RS,
        &["pub const DEFAULT_TOUCH_WINDOW: Duration ="],
    ),
    (
        "sessionStore/maxLifetime",
        POLICY_RS,
        &["impl Default for Policy", "max_lifetime: "],
    ),
    (
        "sessionStore/authLifetime",
        POLICY_RS,
        &["impl Default for Policy", "auth_lifetime: "],
    ),
    (
        "sessionStore/maxIdleTime",
        POLICY_RS,
        &["impl Default for Policy", "max_idle_time: "],
    ),
    (
        "sessionStore/maxLifetimeCeiling",
        POLICY_RS,
        &["impl Default for Ceilings", "max_life: "],
    ),
    (
        "sessionStore/authLifetimeCeiling",
        POLICY_RS,
        &["impl Default for Ceilings", "auth_life: "],
    ),
    (
        "sessionStore/maxIdleTimeCeiling",
        POLICY_RS,
        &["impl Default for Ceilings", "max_idle: "],
    ),
    (
        "sessionStore/preLoginMaxLifetime",
        POLICY_RS,
        &["impl Default for PreLogin", "max_life: "],
    ),
    (
        "sessionStore/preLoginMaxIdleTime",
        POLICY_RS,
        &["impl Default for PreLogin", "max_idle: "],
    ),
    (
        "sessionStore/quotaPerSubject",
        POLICY_RS,
        &["pub const DEFAULT: Self ="],
    ),
    (
        "sessionStore/acceptUnsignedRecords",
        SESSION_STORE_RS,
        &[".boolean(\"sessionStore.acceptUnsignedRecords\")"],
    ),
    (
        "sessionStore/internal.subjectIndexPurgeInterval",
        SESSION_STORE_RS,
        &[
            "\"sessionStore.internal.subjectIndexPurgeInterval\",",
            "None | Some(",
        ],
    ),
    (
        "sessionStore/sessionMap.expirationInterval",
        SESSION_STORE_RS,
        &["pub const DEFAULT_EXPIRATION_INTERVAL: Duration ="],
    ),
    (
        "server/listen",
        SERVER_RS,
        &["pub const DEFAULT_LISTEN: &str ="],
    ),
    (
        "server/max_body_bytes",
        SERVER_RS,
        &["pub const DEFAULT_MAX_BODY_BYTES: usize ="],
    ),
    (
        "server/max_header_bytes",
        SERVER_RS,
        &["pub const DEFAULT_MAX_HEADER_BYTES: usize ="],
    ),
    (
        "server/request_timeout_ms",
        SERVER_RS,
        &["pub const DEFAULT_REQUEST_TIMEOUT: Duration ="],
    ),
    (
        "server/max_connections",
        SERVER_RS,
        &["pub const DEFAULT_MAX_CONNECTIONS: usize ="],
    ),
    (
        "server/write_timeout_ms",
        SERVER_RS,
        &["pub const DEFAULT_WRITE_TIMEOUT: Duration ="],
    ),
    (
        "server/shutdown_timeout_ms",
        SERVER_RS,
        &["pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration ="],
    ),
    (
        "server/log_format",
        SERVER_RS,
        &["v.text(\"server.log_format\")", "None | Some(("],
    ),
    (
        "server/log_level",
        SERVER_RS,
        &["v.text(\"server.log_level\")", "None => "],
    ),
];

const SERVER_RS: &str = "crates/server/src/config/server.rs";
const SESSION_STORE_RS: &str = "crates/server/src/config/session_store.rs";
const TOKENIZER_RS: &str = "crates/server/src/config/tokenizer.rs";
const POLICY_RS: &str = "crates/core/src/policy.rs";
const LOCAL_RS: &str = "crates/store-local/src/config.rs";
const DYNAMODB_RS: &str = "crates/store-dynamodb/src/config.rs";
const REDIS_RS: &str = "crates/store-redis/src/config/mod.rs";

/// Documented defaults the code states in a form `code_value` cannot read.
/// Each was checked by hand against the code named here; check again when
/// the value in the docs or that code changes. The test still fails when
/// one of these keys leaves the docs, or a new key with a default is in
/// neither list.
const CHECKED_BY_HAND: &[(&str, &str)] = &[
    (
        "tokenizer/previous_safe_passwords",
        "`[]`: config/tokenizer.rs reads a missing list as no previous passwords",
    ),
    (
        "tokenizer/previous_safe_password_salt",
        "`safe_password_salt`: config/tokenizer.rs uses the salt when the key is missing",
    ),
    (
        "local/path",
        "`<data_dir>/sessions-store`: config/mod.rs `SESSIONS_DIR` under the data directory",
    ),
    (
        "redis/options.db",
        "0: `db` stays `None` and the client then selects no database (Redis's 0)",
    ),
    (
        "sessionStore/onQuotaExhaustion",
        "`CLOSE_OLD_SESSION`: core's `Policy::default` has `OnQuotaExhaustion::CloseOldSession`",
    ),
    (
        "sessionStore/acceptLegacySIDs",
        "`false`: config/session_store.rs accepts legacy SIDs only on `Some((true, _))`",
    ),
    (
        "server/data_dir",
        "`$TESSERA_DATA_DIR`, else XDG, else HOME: config/server.rs `default_data_dir`",
    ),
];

/// The value a Default cell states, or `None` when it states none (`—`,
/// or words such as "the AWS chain"): the first backticked text when the
/// cell starts with one, else its leading number, as `number_text` writes
/// it.
fn stated_default(cell: &str) -> Option<String> {
    if cell.starts_with('`') {
        return backticked(cell).first().map(|s| (*s).to_owned());
    }
    let number: String = cell
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '.'))
        .collect();
    number.parse::<f64>().ok().map(number_text)
}

/// A number as the docs write it: no fraction when it is whole.
fn number_text(value: f64) -> String {
    format!("{value}")
}

/// Every default docs/configuration.md's key tables state, as
/// (`<table>/<key>`, line, value). A table is its block (`tokenizer`,
/// `sessionStore`, `server`: the `###` heading above it), or the backend
/// whose `type: …` the text between the heading and the table names. A row
/// of several keys pairs them with a default of as many comma-separated
/// values, or gives each the whole default.
fn documented_defaults(text: &str) -> Vec<(String, usize, Option<String>)> {
    let lines = numbered(text);
    let mut found = Vec::new();
    let mut scope: Option<String> = None;
    let mut in_fence = false;
    let mut default_column = None;
    for &(number, line) in &lines {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence {
            continue;
        }
        let level = heading_level(line);
        if level > 0 && level <= 3 {
            scope = backticked(line)
                .first()
                .and_then(|b| b.strip_suffix(':'))
                .filter(|_| level == 3)
                .map(str::to_owned);
        }
        if !line.starts_with('|') {
            default_column = None;
            for text in backticked(line) {
                if let Some(backend) = text.strip_prefix("type: ") {
                    scope = Some(backend.to_owned());
                }
            }
            continue;
        }
        let row = cells(line);
        if default_column.is_none() {
            default_column = (row.first().is_some_and(|c| c == "Key"))
                .then(|| row.iter().position(|c| c == "Default"))
                .flatten();
            continue;
        }
        let (Some(column), Some(scope)) = (default_column, &scope) else {
            continue;
        };
        let (Some(keys), Some(default)) = (row.first(), row.get(column)) else {
            continue;
        };
        if keys.starts_with("---") {
            continue;
        }
        let keys = backticked(keys);
        let parts: Vec<&str> = default.split(", ").collect();
        for (index, key) in keys.iter().enumerate() {
            let cell = if parts.len() == keys.len() {
                parts[index]
            } else {
                default.as_str()
            };
            found.push((format!("{scope}/{key}"), number, stated_default(cell)));
        }
    }
    found
}

/// The expression that starts `text`: up to the first `;`, `,`, `}` or
/// line end outside brackets, or a closing bracket it did not open.
fn expression_prefix(text: &str) -> &str {
    let mut depth = 0_usize;
    for (at, c) in text.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' | ';' | ',' | '}' | '\n' if depth == 0 => return &text[..at],
            ')' | ']' => depth -= 1,
            _ => {}
        }
    }
    text
}

/// The value of the code at the start of `text`, in the docs' terms:
/// a string literal's text; `false` for `.is_some_and(…)` and `true` for
/// `.is_none_or(…)` after reading a boolean (what a missing key gives);
/// `-1` for `Lifetime::Unlimited`; `true`/`false`; else the product of the
/// number literals of the expression, in milliseconds for a
/// `Duration::from_secs`/`from_millis`. `None` when it is none of these.
fn code_value(text: &str) -> Option<String> {
    let mut rest = text.trim_start();
    while rest.starts_with("//") {
        rest = rest
            .split_once('\n')
            .map_or("", |(_, after)| after)
            .trim_start();
    }
    if let Some(literal) = rest.strip_prefix('"') {
        return literal.split('"').next().map(str::to_owned);
    }
    if rest.starts_with(".is_some_and(") {
        return Some("false".to_owned());
    }
    if rest.starts_with(".is_none_or(") {
        return Some("true".to_owned());
    }
    let expression = expression_prefix(rest).trim();
    if expression.ends_with("::Unlimited") {
        return Some("-1".to_owned());
    }
    if expression == "true" || expression == "false" {
        return Some(expression.to_owned());
    }
    let numbers = expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .map(|word| word.replace('_', "").parse::<f64>())
        .collect::<Result<Vec<f64>, _>>()
        .ok()?;
    if numbers.is_empty() {
        return None;
    }
    let value: f64 = numbers.iter().product();
    if expression.contains("Duration::from_secs(") {
        Some(number_text(value * 1000.0))
    } else if expression.contains("Duration::") && !expression.contains("Duration::from_millis(") {
        None
    } else {
        Some(number_text(value))
    }
}

/// The code's value for a documented default: the expression after the
/// anchors in `source`.
fn code_default(source: &str, anchors: &[&str]) -> Result<String, String> {
    let Some((first, more)) = anchors.split_first() else {
        return Err("no anchor".to_owned());
    };
    if source.matches(first).count() != 1 {
        return Err(format!("`{first}` is not in the file exactly once"));
    }
    let mut at = 0;
    for anchor in std::iter::once(first).chain(more) {
        let Some(found) = source[at..].find(anchor) else {
            return Err(format!("`{anchor}` is not in the file"));
        };
        at += found + anchor.len();
    }
    code_value(&source[at..]).ok_or_else(|| {
        format!(
            "cannot read a value from `{}`",
            expression_prefix(source[at..].trim_start()).trim()
        )
    })
}

/// The defaults of docs/configuration.md's key tables are the code's:
/// those in `CODE_DEFAULTS` read from it, those in `CHECKED_BY_HAND` only
/// held to be still documented. Every documented key with a default is in
/// one of the two lists.
#[test]
fn the_documented_defaults_are_the_codes() -> Result<()> {
    let root = project_root();
    let documented = documented_defaults(&files::read(&root.join("docs/configuration.md"))?);
    let mut problems = Vec::new();
    let mut sources = BTreeMap::new();
    for (key, file, anchors) in CODE_DEFAULTS {
        let mentions: Vec<_> = documented.iter().filter(|(k, _, _)| k == key).collect();
        let [(_, line, stated)] = mentions.as_slice() else {
            problems.push(format!(
                "docs/configuration.md: `{key}` is in {} rows, not one",
                mentions.len()
            ));
            continue;
        };
        if !sources.contains_key(file) {
            sources.insert(*file, files::read(&root.join(file))?);
        }
        match (code_default(&sources[file], anchors), stated) {
            (Err(why), _) => problems.push(format!("{file}: `{key}`: {why}")),
            (Ok(code), Some(stated)) if code == *stated => {}
            (Ok(code), stated) => problems.push(format!(
                "docs/configuration.md:{line}: `{key}` defaults to {}, but {file} says {code}",
                stated.as_deref().unwrap_or("nothing")
            )),
        }
    }
    for (key, _) in CHECKED_BY_HAND {
        if !documented
            .iter()
            .any(|(k, _, stated)| k == key && stated.is_some())
        {
            problems.push(format!(
                "docs/configuration.md: `{key}` (checked by hand) has no documented default now"
            ));
        }
    }
    for (key, line, stated) in &documented {
        let listed = CODE_DEFAULTS.iter().any(|(k, _, _)| k == key)
            || CHECKED_BY_HAND.iter().any(|(k, _)| k == key);
        if let (Some(stated), false) = (stated, listed) {
            problems.push(format!(
                "docs/configuration.md:{line}: `{key}` defaults to {stated}: add where the code \
                 says so to CODE_DEFAULTS (or, checked by hand, to CHECKED_BY_HAND)"
            ));
        }
    }
    if documented.len() < 40 {
        bail!(
            "only {} keys found in docs/configuration.md",
            documented.len()
        );
    }
    fail_on(
        &problems,
        "defaults docs/configuration.md and the code disagree on",
    )
}

#[test]
fn defaults_are_read_from_docs_and_code() {
    assert_eq!(stated_default("65536 (64 KiB)").as_deref(), Some("65536"));
    assert_eq!(stated_default("-1 (no ceiling)").as_deref(), Some("-1"));
    assert_eq!(stated_default("`tessera:`").as_deref(), Some("tessera:"));
    assert_eq!(stated_default("— (required)"), None);
    assert_eq!(stated_default("the AWS chain"), None);
    assert_eq!(code_value(" 64 * 1024;").as_deref(), Some("65536"));
    assert_eq!(
        code_value(" Duration::from_secs(10);").as_deref(),
        Some("10000")
    );
    assert_eq!(
        code_value(" Duration::from_millis(1_500),").as_deref(),
        Some("1500")
    );
    assert_eq!(code_value(" Duration::from_mins(1);"), None);
    assert_eq!(
        code_value("\n        // 32 logins lose 31 races.\n        48\n    }").as_deref(),
        Some("48")
    );
    assert_eq!(code_value(" 100.0\n").as_deref(), Some("100"));
    assert_eq!(
        code_value(" Self(NonZeroU8::new(5).unwrap());").as_deref(),
        Some("5")
    );
    assert_eq!(code_value(" Lifetime::Unlimited,").as_deref(), Some("-1"));
    assert_eq!(
        code_value(" \"127.0.0.1:8080\";").as_deref(),
        Some("127.0.0.1:8080")
    );
    assert_eq!(
        code_value("\n    .is_some_and(|(b, _)| b),").as_deref(),
        Some("false")
    );
    assert_eq!(
        code_value("0) => PurgeSchedule::Automatic,").as_deref(),
        Some("0")
    );
    assert_eq!(code_value(" PurgeSchedule::Automatic,"), None);
    let source =
        "impl A { x: 1, }\nimpl Default for B {\n    x: Lifetime::minutes_const(259_200),\n}\n";
    assert_eq!(
        code_default(source, &["impl Default for B", "x: "]),
        Ok("259200".to_owned())
    );
    assert!(code_default(source, &["x: "]).is_err());
    let doc = "### `server:`\n\n| Key | Type | Default | Meaning |\n| --- | --- | --- | --- |\n\
               | `a`, `b` | ms | 3000, 5000 | |\n| `c` | text | — | |\n\n\
               Redis (`type: redis`):\n\n| Key | Type | Default | Meaning |\n| --- | --- | --- | --- |\n\
               | `d`, `e` | text | `false` | |\n\n```sh\n# comment\n```\n";
    assert_eq!(
        documented_defaults(doc),
        [
            ("server/a".to_owned(), 5, Some("3000".to_owned())),
            ("server/b".to_owned(), 5, Some("5000".to_owned())),
            ("server/c".to_owned(), 6, None),
            ("redis/d".to_owned(), 12, Some("false".to_owned())),
            ("redis/e".to_owned(), 12, Some("false".to_owned())),
        ]
    );
}
