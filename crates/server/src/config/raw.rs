//! The merged configuration as typed values with their origins, checked
//! against the key table: unknown keys and values of the wrong type are
//! errors here; ranges and cross-key rules are checked later.

use std::collections::BTreeMap;

use figment::Figment;
use figment::value::{Dict, Value};

use super::origin::{ConfigError, Origin};
use super::schema::{self, Kind};

/// A value of the type its key expects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawValue {
    Text(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    List(Vec<String>),
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) value: RawValue,
    pub(crate) origin: Origin,
}

/// Every value set anywhere, by dotted path.
#[derive(Debug, Default)]
pub(crate) struct Raw {
    entries: BTreeMap<String, Entry>,
}

impl Raw {
    /// Reads the merged figment. A source that cannot be parsed, an unknown
    /// key or a value of the wrong type is pushed to `errors`.
    ///
    /// `None` when the sources could not be read at all (a file that does
    /// not parse); the reason is in `errors`.
    pub(crate) fn read(figment: &Figment, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let mut raw = Self::default();
        match figment.extract::<Value>() {
            Ok(Value::Dict(_, dict)) => raw.walk(figment, &dict, "", errors),
            Ok(other) => {
                errors.push(ConfigError::new(
                    "",
                    Some(origin_of(figment, &other)),
                    "the configuration must be a table of blocks (tokenizer, sessionStore, server)",
                ));
                return None;
            }
            Err(error) => {
                errors.extend(error.into_iter().map(|e| from_figment(&e)));
                return None;
            }
        }
        Some(raw)
    }

    fn walk(
        &mut self,
        figment: &Figment,
        dict: &Dict,
        prefix: &str,
        errors: &mut Vec<ConfigError>,
    ) {
        for (key, value) in dict {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let origin = origin_of(figment, value);
            if let Some(label) = schema::labelled_token(&path) {
                if !schema::is_valid_label(label) {
                    errors.push(ConfigError::new(
                        path.clone(),
                        Some(origin),
                        "a token label is 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'",
                    ));
                    continue;
                }
                self.convert(&path, Kind::Text, value, origin, errors);
            } else if let Some(spec) = schema::find(&path) {
                self.convert(&path, spec.kind, value, origin, errors);
            } else if schema::is_table(&path) {
                match value {
                    Value::Dict(_, inner) => self.walk(figment, inner, &path, errors),
                    Value::Empty(..) => {}
                    other => errors.push(ConfigError::new(
                        path.clone(),
                        Some(origin),
                        format!("expected a table of keys, found {}", describe(other)),
                    )),
                }
            } else {
                // A misspelt key or block gets its hint; a table that
                // resembles nothing (`infinispan.*`) is named by its keys,
                // whole, as the file or the define wrote them.
                let named = if schema::suggestion(&path).is_some() {
                    vec![(path, value)]
                } else {
                    leaves(path, value)
                };
                for (path, value) in named {
                    let hint = schema::suggestion(&path)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    errors.push(ConfigError::new(
                        path,
                        Some(origin_of(figment, value)),
                        format!("unknown key{hint}"),
                    ));
                }
            }
        }
    }

    fn convert(
        &mut self,
        path: &str,
        kind: Kind,
        value: &Value,
        origin: Origin,
        errors: &mut Vec<ConfigError>,
    ) {
        match typed(kind, value) {
            Ok(Some(value)) => {
                self.entries
                    .insert(path.to_owned(), Entry { value, origin });
            }
            Ok(None) => {}
            Err(message) => errors.push(ConfigError::new(path, Some(origin), message)),
        }
    }

    /// A digest of every value that a running server takes only at a
    /// restart ([`schema::is_live`] is false), by path: enough to tell
    /// which changed, without keeping a second copy of secrets.
    pub(crate) fn restart_digests(&self) -> BTreeMap<String, [u8; 32]> {
        self.entries
            .iter()
            .filter(|(path, _)| !schema::is_live(path))
            .map(|(path, entry)| {
                let text = zeroize::Zeroizing::new(format!("{:?}", entry.value));
                let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
                let mut out = [0u8; 32];
                out.copy_from_slice(digest.as_ref());
                (path.clone(), out)
            })
            .collect()
    }

    /// The entry at `path`, if set.
    pub(crate) fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Every entry whose path starts with `prefix`.
    pub(crate) fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Entry)> + 'a {
        self.entries
            .range(prefix.to_owned()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v))
    }
}

fn origin_of(figment: &Figment, value: &Value) -> Origin {
    Origin::from_metadata(figment.get_metadata(value.tag()))
}

/// A figment error (a file that does not parse, say) as a configuration
/// error.
pub(crate) fn from_figment(error: &figment::Error) -> ConfigError {
    ConfigError::new(
        error.path.join("."),
        error
            .metadata
            .as_ref()
            .map(|m| Origin::from_metadata(Some(m))),
        error.kind.to_string(),
    )
}

/// Converts `value` to `kind`. `Ok(None)` for an empty value (YAML's `~`,
/// an empty string), which counts as not set.
fn typed(kind: Kind, value: &Value) -> Result<Option<RawValue>, String> {
    if matches!(value, Value::Empty(..)) {
        return Ok(None);
    }
    match kind {
        Kind::Text | Kind::Secret | Kind::Url => match value {
            Value::String(_, s) if s.is_empty() => Ok(None),
            Value::String(_, s) => Ok(Some(RawValue::Text(s.clone()))),
            other => Err(format!(
                "expected text, found {} (quote the value)",
                describe(other)
            )),
        },
        Kind::Integer => integer(value).map(|i| Some(RawValue::Integer(i))),
        Kind::Number => number(value).map(|n| Some(RawValue::Number(n))),
        Kind::Boolean => boolean(value).map(|b| Some(RawValue::Boolean(b))),
        Kind::TextList | Kind::UrlList | Kind::SecretList => {
            list(value).map(|l| Some(RawValue::List(l)))
        }
    }
}

fn integer(value: &Value) -> Result<i64, String> {
    let out_of_range = || "is out of range for a whole number".to_owned();
    match value {
        Value::Num(_, n) => match (n.to_i128(), n.to_u128()) {
            (Some(i), _) => i64::try_from(i).map_err(|_| out_of_range()),
            (None, Some(u)) => i64::try_from(u).map_err(|_| out_of_range()),
            (None, None) => Err("expected a whole number, found a fraction".to_owned()),
        },
        Value::String(_, s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| "expected a whole number, found text".to_owned()),
        other => Err(format!(
            "expected a whole number, found {}",
            describe(other)
        )),
    }
}

fn number(value: &Value) -> Result<f64, String> {
    let parsed = match value {
        Value::Num(_, n) => match n.to_f64() {
            Some(f) => f,
            // Whole numbers; rates beyond i32 are not meaningful.
            None => integer(value)
                .ok()
                .and_then(|i| i32::try_from(i).ok())
                .map(f64::from)
                .ok_or_else(|| "is out of range".to_owned())?,
        },
        Value::String(_, s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| "expected a number, found text".to_owned())?,
        other => return Err(format!("expected a number, found {}", describe(other))),
    };
    if parsed.is_finite() {
        Ok(parsed)
    } else {
        Err("expected a finite number".to_owned())
    }
}

fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(_, b) => Ok(*b),
        Value::String(_, s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err("expected true or false, found text".to_owned()),
        },
        other => Err(format!("expected true or false, found {}", describe(other))),
    }
}

/// A list of strings. From an environment variable or a `-D` argument it
/// arrives as text: `[a, b]` is read as a YAML flow list, anything else as a
/// list of one.
fn list(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Array(_, items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(_, s) => Ok(s.clone()),
                other => Err(format!(
                    "item {i}: expected text, found {} (quote the value)",
                    describe(other)
                )),
            })
            .collect(),
        Value::String(_, s) if s.trim_start().starts_with('[') => {
            serde_yaml::from_str::<Vec<String>>(s)
                .map_err(|_| "expected a list of text, like [first, second]".to_owned())
        }
        Value::String(_, s) => Ok(vec![s.clone()]),
        other => Err(format!("expected a list, found {}", describe(other))),
    }
}

/// The type of a value, in words, without the value itself (it may be a
/// secret put under the wrong key).
fn describe(value: &Value) -> &'static str {
    match value {
        Value::String(..) => "text",
        Value::Char(..) => "a character",
        Value::Bool(..) => "true/false",
        Value::Num(..) => "a number",
        Value::Empty(..) => "nothing",
        Value::Dict(..) => "a table",
        Value::Array(..) => "a list",
    }
}

/// The keys under `value` with their full paths: `value` itself when it is
/// not a table (or an empty one).
fn leaves(path: String, value: &Value) -> Vec<(String, &Value)> {
    match value {
        Value::Dict(_, inner) if !inner.is_empty() => inner
            .iter()
            .flat_map(|(key, value)| leaves(format!("{path}.{key}"), value))
            .collect(),
        _ => vec![(path, value)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_convert_leniently_to_numbers_and_booleans() {
        assert_eq!(integer(&Value::from("-1")), Ok(-1));
        assert_eq!(integer(&Value::from(60u64)), Ok(60));
        assert!(integer(&Value::from(1.5)).is_err());
        assert!(integer(&Value::from("sixty")).is_err());
        assert_eq!(boolean(&Value::from("TRUE")), Ok(true));
        assert_eq!(boolean(&Value::from("0")), Ok(false));
        assert!(boolean(&Value::from("maybe")).is_err());
        assert_eq!(
            list(&Value::from("[a, b]")),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(list(&Value::from("a,b")), Ok(vec!["a,b".into()]));
    }

    #[test]
    fn wrong_types_never_quote_the_value() {
        let err = typed(Kind::Secret, &Value::from(123_456_789u64)).unwrap_err();
        assert!(!err.contains("123"), "{err}");
    }
}
