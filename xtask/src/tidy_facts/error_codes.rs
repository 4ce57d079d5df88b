//! The API error codes: answered by the server, listed in docs/api.md and in the OpenAPI document.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::{files, project_root, rust_source};

use super::fail_on;
use super::markdown::*;

/// `source` without its test module: everything from the first
/// `#[cfg(test)]` line that is followed by a `mod` line is dropped.
fn without_tests(source: &str) -> &str {
    let mut offset = 0;
    let mut lines = source.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            return &source[..offset];
        }
        offset += line.len();
    }
    source
}

/// The variants of `tessera_core::ErrorCode` and the code each stands for,
/// read from the `Self::Variant => "code"` arms of its `as_str` in
/// `source` (crates/core/src/error_code.rs).
fn error_code_variants(source: &str) -> BTreeMap<String, String> {
    source
        .lines()
        .filter_map(|line| {
            let arm = line.trim().strip_prefix("Self::")?;
            let (variant, text) = arm.split_once(" => \"")?;
            let code = text.strip_suffix("\",")?;
            let is_ident = variant.chars().all(|c| c.is_ascii_alphanumeric());
            is_ident.then(|| (variant.to_owned(), code.to_owned()))
        })
        .collect()
}

/// The code of every `ErrorCode::Variant` that `source` names outside
/// comments and strings (`variants` maps a variant to its code; other
/// items of `ErrorCode`, such as `ErrorCode::ALL`, are not codes).
fn named_codes(source: &str, variants: &BTreeMap<String, String>) -> Vec<String> {
    let code = rust_source::code_only(source);
    let marker = "ErrorCode::";
    code.match_indices(marker)
        .filter(|(at, _)| {
            !code[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
        .filter_map(|(at, _)| {
            let rest = &code[at + marker.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            variants.get(&rest[..end]).cloned()
        })
        .collect()
}

/// The code of every constructor call `call` (such as `ApiError::new(`) in
/// `source`, outside comments and strings: the string literal or the
/// `ErrorCode::Variant` that is its second argument, or, when that
/// argument is neither, the call's line as the error.
fn constructor_codes(
    source: &str,
    call: &str,
    variants: &BTreeMap<String, String>,
) -> Vec<Result<String, usize>> {
    let code: Vec<char> = rust_source::code_only(source).chars().collect();
    let text: Vec<char> = source.chars().collect();
    let call: Vec<char> = call.chars().collect();
    let mut found = Vec::new();
    for start in 0..code.len() {
        let preceded_by_name =
            start > 0 && (code[start - 1].is_alphanumeric() || code[start - 1] == '_');
        if !code[start..].starts_with(&call) || preceded_by_name {
            continue;
        }
        let line = 1 + text[..start].iter().filter(|&&c| c == '\n').count();
        found.push(second_argument_code(&code, &text, start + call.len(), variants).ok_or(line));
    }
    found
}

/// The code given as the second argument of a call whose arguments start
/// at `at`, a string literal or an `ErrorCode::Variant`; `code` is `text`
/// with comments and literals blanked, position for position.
fn second_argument_code(
    code: &[char],
    text: &[char],
    at: usize,
    variants: &BTreeMap<String, String>,
) -> Option<String> {
    let mut depth = 0_usize;
    let mut i = at;
    loop {
        match code.get(i)? {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.checked_sub(1)?,
            ',' if depth == 0 => break,
            _ => {}
        }
        i += 1;
    }
    i += 1;
    while text.get(i)?.is_whitespace() {
        i += 1;
    }
    let path: String = text[i..]
        .iter()
        .take_while(|&&c| c.is_alphanumeric() || c == '_' || c == ':')
        .collect();
    if let Some(variant) = path.strip_prefix("ErrorCode::") {
        return variants.get(variant).cloned();
    }
    if *text.get(i)? != '"' {
        return None;
    }
    let length = text[i + 1..].iter().position(|&c| c == '"')?;
    Some(text[i + 1..i + 1 + length].iter().collect())
}

/// Error codes written out as JSON inside a Rust string, as a body sent
/// before the API's own error type exists (`\"error\":\"code\"`).
fn json_body_codes(source: &str) -> Vec<String> {
    let marker = r#"\"error\":\""#;
    source
        .match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &source[at + marker.len()..];
            rest.find(r#"\""#).map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// The variants of `tessera_core::ErrorCode` and their codes.
fn error_code_enum(root: &Path) -> Result<BTreeMap<String, String>> {
    let variants = error_code_variants(&files::read(&root.join("crates/core/src/error_code.rs"))?);
    if variants.len() < 10 {
        bail!(
            "only {} variants read from crates/core/src/error_code.rs: {variants:?}",
            variants.len()
        );
    }
    Ok(variants)
}

/// Every error code the server can answer, with where it is given: the
/// `ErrorCode` variants named anywhere in `crates/server/src`, the codes
/// of `ApiError::new(...)` there and of `Self::new(...)` in `api/error.rs`
/// (the named constructors and the mappings), and of error bodies written
/// out as JSON. Test modules are left out.
fn answered_error_codes(
    root: &Path,
    variants: &BTreeMap<String, String>,
) -> Result<(BTreeMap<String, String>, Vec<String>)> {
    let mut codes = BTreeMap::new();
    let mut problems = Vec::new();
    for path in files::rust_files(&root.join("crates/server/src"))? {
        let shown = files::shown(&path, root);
        let text = files::read(&path)?;
        let source = without_tests(&text);
        let mut found = constructor_codes(source, "ApiError::new(", variants);
        if shown.ends_with("api/error.rs") {
            found.extend(constructor_codes(source, "Self::new(", variants));
        }
        found.extend(named_codes(source, variants).into_iter().map(Ok));
        for code in found {
            match code {
                Ok(code) => {
                    codes.entry(code).or_insert_with(|| shown.clone());
                }
                Err(line) => problems.push(format!(
                    "{shown}:{line}: the error code is not an `ErrorCode` variant or a \
                     string literal; this check cannot read it"
                )),
            }
        }
        for code in json_body_codes(source) {
            codes.entry(code).or_insert_with(|| shown.clone());
        }
    }
    Ok((codes, problems))
}

/// The rows of the error table in docs/api.md's "## Errors": (line,
/// status, code).
fn documented_error_codes(api: &str) -> Result<Vec<(usize, String, String)>> {
    let errors = section(api, "## Errors").context("docs/api.md has no `## Errors` section")?;
    let table = tables(&errors)
        .into_iter()
        .find(|t| t.header.iter().any(|c| c == "`error`"))
        .context("docs/api.md: no table with an `error` column under `## Errors`")?;
    Ok(table
        .rows
        .iter()
        .filter_map(|(line, row)| {
            let code = backticked(row.get(1)?).first()?.to_string();
            Some((*line, row.first()?.clone(), code))
        })
        .collect())
}

/// The error codes the OpenAPI document lists for the `error` field of its
/// `Error` schema: its `enum`, or else the list in its description after
/// "A stable code:".
fn openapi_error_codes(document: &serde_json::Value) -> Option<Vec<String>> {
    let field = document.pointer("/components/schemas/Error/properties/error")?;
    if let Some(values) = field.get("enum").and_then(serde_json::Value::as_array) {
        return values
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect();
    }
    let description = field.get("description")?.as_str()?;
    let (_, list) = description.split_once("A stable code:")?;
    Some(
        list.trim()
            .trim_end_matches('.')
            .split(',')
            .map(|code| code.trim().to_owned())
            .collect(),
    )
}

/// The error table of docs/api.md, the codes of the OpenAPI document and
/// the variants of `tessera_core::ErrorCode` are exactly the codes the
/// server answers with.
#[test]
fn the_documented_error_codes_are_the_answered_ones() -> Result<()> {
    let root = project_root();
    let variants = error_code_enum(&root)?;
    let (answered, mut problems) = answered_error_codes(&root, &variants)?;
    for (variant, code) in &variants {
        if !answered.contains_key(code) {
            problems.push(format!(
                "crates/core/src/error_code.rs: `ErrorCode::{variant}` (`{code}`) is never \
                 answered by the server"
            ));
        }
    }
    for (code, file) in &answered {
        if !variants.values().any(|c| c == code) {
            problems.push(format!(
                "`{code}` ({file}) is not a variant of `tessera_core::ErrorCode`"
            ));
        }
    }
    if answered.len() < 10 {
        bail!(
            "only {} error codes found in crates/server/src: {answered:?}",
            answered.len()
        );
    }
    let api = files::read(&root.join("docs/api.md"))?;
    let tabled = documented_error_codes(&api)?;
    for (code, file) in &answered {
        if !tabled.iter().any(|(_, _, c)| c == code) {
            problems.push(format!(
                "`{code}` ({file}) is not in the error table of docs/api.md"
            ));
        }
    }
    for (line, _, code) in &tabled {
        if !answered.contains_key(code) {
            problems.push(format!(
                "docs/api.md:{line}: `{code}` is in the error table but the server never answers it"
            ));
        }
    }
    let openapi_path = root.join("crates/server/openapi.json");
    let openapi: serde_json::Value = serde_json::from_str(&files::read(&openapi_path)?)
        .context("crates/server/openapi.json is not JSON")?;
    let listed = openapi_error_codes(&openapi).context(
        "crates/server/openapi.json: no code list for the `error` field of the `Error` schema",
    )?;
    for code in answered.keys() {
        if !listed.contains(code) {
            problems.push(format!(
                "crates/server/openapi.json: `{code}` is missing from the `Error` schema's codes"
            ));
        }
    }
    for code in &listed {
        if !answered.contains_key(code) {
            problems.push(format!(
                "crates/server/openapi.json: `{code}` is listed but the server never answers it"
            ));
        }
    }
    fail_on(&problems, "error codes the docs and the server disagree on")
}

/// Every `` `NNN code` `` the docs mention (a status and an error code) is
/// a row of the error table: no doc gives a code another status.
#[test]
fn status_and_code_mentions_agree_with_the_error_table() -> Result<()> {
    let root = project_root();
    let tabled = documented_error_codes(&files::read(&root.join("docs/api.md"))?)?;
    let mut docs = files::markdown_files(&root.join("docs"))?;
    docs.extend(
        ["README.md", "ARCHITECTURE.md", "crates/server/openapi.json"].map(|f| root.join(f)),
    );
    let mut problems = Vec::new();
    let mut mentions = 0;
    for doc in docs {
        let text = files::read(&doc)?;
        for (line, text) in numbered(&text) {
            for mention in backticked(text) {
                let Some((status, code)) = status_and_code(mention) else {
                    continue;
                };
                mentions += 1;
                if !tabled.iter().any(|(_, s, c)| s == status && c == code) {
                    problems.push(format!(
                        "{}:{line}: `{mention}` is not a row of the error table of docs/api.md",
                        files::shown(&doc, &root)
                    ));
                }
            }
        }
    }
    if mentions == 0 {
        bail!("no `NNN code` mentions found in the docs");
    }
    fail_on(&problems, "error statuses the docs disagree on")
}

/// `("409", "quota_exhausted")` for the text `409 quota_exhausted`: an
/// error status (4xx, 5xx) and a lower-case code.
fn status_and_code(text: &str) -> Option<(&str, &str)> {
    let (status, code) = text.split_once(' ')?;
    let is_status = status.len() == 3
        && status.starts_with(['4', '5'])
        && status.chars().all(|c| c.is_ascii_digit());
    let is_code = !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    (is_status && is_code).then_some((status, code))
}

#[test]
fn error_codes_are_read_from_calls_and_tables() {
    let source = "fn a() -> ApiError {\n    ApiError::new(StatusCode::CONFLICT, \"conflict\", \"x, y\")\n}\n\
                  // ApiError::new(StatusCode::GONE, \"in_a_comment\", \"\")\n\
                  fn b(code: &'static str) { ApiError::new(\n        status_of(1, 2),\n        \"nested\",\n        format!(\"{}\", 1),\n    );\n    ApiError::new(s, code, \"d\"); }\n\
                  const BODY: &str = \"{\\\"error\\\":\\\"too_many\\\",\\\"error_description\\\":\\\"\\\"}\";\n\
                  #[cfg(test)]\nmod tests {\n    fn t() { ApiError::new(s, \"test_only\", \"\"); }\n}\n";
    let kept = without_tests(source);
    assert!(!kept.contains("test_only"));
    let variants = error_code_variants(
        "    pub const fn as_str(self) -> &'static str {\n        match self {\n            \
         Self::Conflict => \"conflict\",\n            Self::NotFound => \"not_found\",\n        }\n",
    );
    assert_eq!(
        variants.into_iter().collect::<Vec<_>>(),
        [
            ("Conflict".to_owned(), "conflict".to_owned()),
            ("NotFound".to_owned(), "not_found".to_owned())
        ]
    );
    let variants =
        error_code_variants("Self::Conflict => \"conflict\",\nSelf::NotFound => \"not_found\",\n");
    assert_eq!(
        constructor_codes(kept, "ApiError::new(", &variants),
        [Ok("conflict".to_owned()), Ok("nested".to_owned()), Err(10)]
    );
    let typed = "fn c() { ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, \"d\"); \
                 ApiError::new(s, ErrorCode::Gone, \"d\"); }\n\
                 // ErrorCode::Conflict in a comment\n\
                 fn d() { json!({\"error\": ErrorCode::Conflict}); ErrorCode::ALL; }\n";
    assert_eq!(
        constructor_codes(typed, "ApiError::new(", &variants),
        [Ok("not_found".to_owned()), Err(1)]
    );
    assert_eq!(named_codes(typed, &variants), ["not_found", "conflict"]);
    assert_eq!(json_body_codes(kept), ["too_many"]);
    assert_eq!(status_and_code("503 timeout"), Some(("503", "timeout")));
    assert_eq!(status_and_code("200 ok"), None);
    assert_eq!(status_and_code("404 Not Found"), None);
    let api = "# API\n\n## Errors\n\n| status | `error` | when |\n| --- | --- | --- |\n\
               | 409 | `conflict` | a race, `a \\| b` |\n\n## Limits\n\n| a | `error` |\n| - | - |\n| 1 | `no` |\n";
    let rows = documented_error_codes(api).expect("a table");
    assert_eq!(rows, [(7, "409".to_owned(), "conflict".to_owned())]);
    let openapi = serde_json::json!({"components": {"schemas": {"Error": {"properties": {
        "error": {"type": "string", "description": "A stable code: a_b, c."}}}}}});
    assert_eq!(
        openapi_error_codes(&openapi),
        Some(vec!["a_b".to_owned(), "c".to_owned()])
    );
}
