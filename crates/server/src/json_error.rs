//! Describing a JSON decoding error without quoting the input, for the API
//! and for the import alike.
//!
//! serde_json's messages for type and value errors quote the offending
//! value (`invalid type: string "…"`), which may be a credential or a SID
//! pasted in the wrong place, and its unknown-field message repeats a key
//! the input chose. Here only the expected type, the position and names
//! that look like this project's field names are kept.

use serde_json::error::Category;

/// What kind of JSON error it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonProblem {
    /// The text is not JSON at all.
    Syntax,
    /// JSON, but of the wrong shape.
    Shape,
}

/// The kind of `error` and a description that quotes nothing from the
/// input. `position` says whether to add serde's line and column (useful
/// for a body or a file, noise for a value decoded from memory).
pub(crate) fn describe(error: &serde_json::Error, position: bool) -> (JsonProblem, String) {
    let at = if position && error.line() > 0 {
        format!(" (at line {} column {})", error.line(), error.column())
    } else {
        String::new()
    };
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            (JsonProblem::Syntax, format!("not valid JSON{at}"))
        }
        Category::Data => (JsonProblem::Shape, describe_shape(&error.to_string(), &at)),
    }
}

fn describe_shape(message: &str, at: &str) -> String {
    let message = message.rsplit_once(" at line ").map_or(message, |(m, _)| m);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        return unknown_field(rest, at);
    }
    for keep in ["missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(keep) {
            let name = rest.split_once('`').map_or(rest, |(name, _)| name);
            let what = keep.trim_end_matches(" `");
            return if is_field_name(name) {
                format!("{what} `{name}`{at}")
            } else {
                format!("{what}{at}")
            };
        }
    }
    // The last ", expected": a quoted value may hold the words too.
    match message.rsplit_once(", expected ") {
        Some((_, expected)) if is_plain(expected) => {
            format!("wrong type or value, expected {expected}{at}")
        }
        _ => format!("a field has the wrong type or value{at}"),
    }
}

/// Describes an unknown field, given serde's message after
/// "unknown field `". The name is repeated only if it looks like a field
/// name: an input that sent a secret as a key does not get it echoed.
fn unknown_field(rest: &str, at: &str) -> String {
    let (name, expected) = rest
        .rsplit_once("`, expected ")
        .or_else(|| rest.rsplit_once("`, there are no fields"))
        .map_or((None, None), |(name, expected)| {
            (Some(name), Some(expected))
        });
    let expected = expected
        .filter(|e| !e.is_empty() && is_plain(e))
        .map_or_else(
            || "no fields are accepted".to_owned(),
            |e| format!("expected {e}"),
        );
    match name.filter(|n| is_field_name(n)) {
        Some(name) => format!("unknown field `{name}`, {expected}{at}"),
        None => format!("unknown field, {expected}{at}"),
    }
}

/// Whether `name` looks like a field or parameter name of this project
/// (and so can be repeated in an error without echoing anything secret or
/// anything a terminal would act on): at most 32 characters of `a-z`,
/// `0-9` and `_`.
pub(crate) fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether serde's "expected ..." text holds printable ASCII alone (it is
/// written by the type's `Deserialize`, but a terminal never gets a control
/// character from here whatever it says).
fn is_plain(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Sample {
        name: String,
        #[serde(default)]
        data: serde_json::Map<String, serde_json::Value>,
    }

    fn describe_text(json: &str) -> (JsonProblem, String) {
        describe(&serde_json::from_str::<Sample>(json).unwrap_err(), true)
    }

    #[test]
    fn type_errors_do_not_quote_the_value() {
        let (problem, text) = describe_text(r#"{"name": "n", "data": "s3cr3t-value"}"#);
        assert_eq!(problem, JsonProblem::Shape);
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("expected a map"), "{text}");
        assert!(text.contains("line 1 column"), "{text}");
    }

    #[test]
    fn syntax_unknown_and_missing_fields() {
        assert_eq!(describe_text("{").0, JsonProblem::Syntax);
        assert_eq!(describe_text("").0, JsonProblem::Syntax);
        let (_, unknown) = describe_text(r#"{"name": "n", "sid": 1}"#);
        assert!(
            unknown.starts_with("unknown field `sid`, expected `name` or `data`"),
            "{unknown}"
        );
        let (_, secret_key) = describe_text(r#"{"name": "n", "AbC.dEf-123": 1}"#);
        assert!(!secret_key.contains("AbC"), "{secret_key}");
        assert!(secret_key.contains("expected `name` or `data`"));
        let (_, missing) = describe_text("{}");
        assert!(missing.starts_with("missing field `name`"), "{missing}");
    }

    #[test]
    fn a_value_or_key_holding_the_words_of_the_message_is_not_echoed() {
        let (_, text) = describe_text(r#"{"name": "n", "data": "s3cr3t, expected y"}"#);
        assert!(!text.contains("s3cr3t") && !text.contains(" y"), "{text}");
        assert!(text.contains("expected a map"), "{text}");
        let (_, text) = describe_text(r#"{"name": "n", "k3y`, expected z": 1}"#);
        assert!(!text.contains("k3y") && !text.contains(" z"), "{text}");
    }

    #[test]
    fn a_key_with_terminal_escapes_is_not_repeated() {
        let (_, text) = describe_text("{\"name\": \"n\", \"\\u001b[2J\": 1}");
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.starts_with("unknown field, expected"), "{text}");
    }

    #[test]
    fn a_value_decoded_from_memory_has_no_position() {
        let value = serde_json::json!({"name": 7});
        let error = serde_json::from_value::<Sample>(value).unwrap_err();
        let (_, text) = describe(&error, true);
        assert_eq!(text, "wrong type or value, expected a string");
    }
}
