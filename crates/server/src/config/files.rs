//! Configuration files as users have them: a YAML or TOML `settings.yml`
//! (Tessera's own, or the SQL tool's whole file with its other blocks), and
//! the reference session store's Java `sessionStore.properties`.
//!
//! Each file is read once, into the nested table figment merges. What a file
//! holds that is not Tessera's is set aside here, named, and never read:
//!
//! * in a YAML or TOML file, a top-level block (a table or a list; a single
//!   value at the top is still checked) that is neither one of
//!   Tessera's blocks (`tokenizer`, `sessionStore`, `server`) nor close to
//!   one — the SQL tool's `settings`, `authenticator`, `connections`, ... A
//!   block whose name is within a small edit distance of one of Tessera's
//!   (`sesionStore`, `Server`, `tokeniser`) is kept, so that the unknown-key
//!   check refuses it with a hint instead of ignoring a misspelt block;
//! * in a `.properties` file nothing is set aside: it is the session store's
//!   own file, so every key in it is checked.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use figment::providers::{Format as _, Toml, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider, Source};

use super::origin::{ConfigError, Origin};
use super::schema::{self, BLOCKS};

/// The format of a configuration file, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    Yaml,
    Toml,
    /// A Java properties file, read as `java.util.Properties` reads it.
    Properties,
}

impl FileFormat {
    pub(crate) fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "yml" | "yaml" => Some(Self::Yaml),
            "toml" => Some(Self::Toml),
            "properties" => Some(Self::Properties),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Yaml => "YAML file",
            Self::Toml => "TOML file",
            Self::Properties => "properties file",
        }
    }
}

/// A top-level block of a file that is not Tessera's, left unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredBlock {
    /// The block's name as the file spells it.
    pub name: String,
    /// The file.
    pub file: PathBuf,
}

/// One configuration file, read and normalised: dotted keys
/// (`internal.subjectIndexPurgeInterval: 0`, a whole
/// `sessionStore.maxLifetime: 60` at the top, every key of a properties
/// file) become nested tables, and a table under `apiAccessTokenSHA256`
/// (TOML's reading of an unquoted dotted key) becomes labelled keys.
pub(crate) struct ConfigFile {
    path: PathBuf,
    format: FileFormat,
    dict: Dict,
}

impl ConfigFile {
    /// Reads `path`. Blocks that are not Tessera's go to `ignored`.
    pub(crate) fn read(
        path: &Path,
        format: FileFormat,
        ignored: &mut Vec<IgnoredBlock>,
    ) -> Result<Self, Vec<ConfigError>> {
        let dict = match format {
            FileFormat::Yaml | FileFormat::Toml => {
                let data = match format {
                    FileFormat::Yaml => Yaml::file_exact(path).data(),
                    _ => Toml::file_exact(path).data(),
                }
                .map_err(|e| {
                    e.into_iter()
                        .map(|e| {
                            ConfigError::new(
                                e.path.join("."),
                                Some(Origin::File(path.to_path_buf())),
                                e.kind.to_string(),
                            )
                        })
                        .collect::<Vec<_>>()
                })?;
                let mut dict = data.into_values().next().unwrap_or_default();
                dict.retain(|name, value| {
                    let block = matches!(value, Value::Dict(..) | Value::Array(..));
                    let keep = !block || is_tessera_block(name);
                    if !keep {
                        ignored.push(IgnoredBlock {
                            name: name.clone(),
                            file: path.to_path_buf(),
                        });
                    }
                    keep
                });
                normalize(dict, &[]).map_err(|message| {
                    vec![ConfigError::new(
                        "",
                        Some(Origin::File(path.to_path_buf())),
                        message,
                    )]
                })?
            }
            FileFormat::Properties => properties(path)?,
        };
        Ok(Self {
            path: path.to_path_buf(),
            format,
            dict,
        })
    }
}

impl Provider for ConfigFile {
    fn metadata(&self) -> Metadata {
        Metadata::from(self.format.name(), Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Whether a top-level key of a YAML or TOML file is read: one of Tessera's
/// blocks, a dotted key inside one (`sessionStore.maxLifetime`), or a name
/// close enough to a block to be a misspelling of it.
fn is_tessera_block(name: &str) -> bool {
    let first = name.split('.').next().unwrap_or(name);
    BLOCKS.contains(&first) || schema::near_block(first).is_some()
}

/// Reads a Java properties file: `#` and `!` comments, `=`, `:` or
/// whitespace between key and value, `\` line continuations and `\uXXXX`
/// escapes, ISO-8859-1 text; a key given twice keeps its last value, as
/// `java.util.Properties` does.
fn properties(path: &Path) -> Result<Dict, Vec<ConfigError>> {
    let origin = || Some(Origin::File(path.to_path_buf()));
    let file = File::open(path).map_err(|e| {
        vec![ConfigError::new(
            "",
            origin(),
            format!("cannot read the file: {e}"),
        )]
    })?;
    let mut dict = Dict::new();
    let mut errors = Vec::new();
    for line in java_properties::PropertiesIter::new(BufReader::new(file)) {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                // The library's messages name the problem, never the text.
                let at = e
                    .line_number()
                    .map(|n| format!("line {n}: "))
                    .unwrap_or_default();
                errors.push(ConfigError::new("", origin(), format!("{at}{e}")));
                // After an error the reader's state is undefined.
                break;
            }
        };
        let number = line.line_number();
        if let java_properties::LineContent::KVPair(key, value) = line.consume_content() {
            let segments = schema::split_path(&[], &key);
            if let Err(message) = replace(&mut dict, &segments, Value::from(value)) {
                errors.push(ConfigError::new(
                    key,
                    origin(),
                    format!("line {number}: {message}"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(dict)
    } else {
        Err(errors)
    }
}

/// Sets `value` at `segments`, replacing an earlier value of the same key.
fn replace(dict: &mut Dict, segments: &[String], value: Value) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        return Err("empty key".to_owned());
    };
    if first.is_empty() {
        return Err("a key has an empty part (two dots in a row, or a dot at an end)".to_owned());
    }
    if rest.is_empty() {
        if matches!(dict.get(first), Some(Value::Dict(..))) {
            return Err(format!(
                "`{first}` is given both as a value and as the prefix of other keys"
            ));
        }
        dict.insert(first.clone(), value);
        return Ok(());
    }
    let entry = dict
        .entry(first.clone())
        .or_insert_with(|| Value::from(Dict::new()));
    match entry {
        Value::Dict(_, inner) => replace(inner, rest, value),
        _ => Err(format!(
            "`{first}` is given both as a value and as the prefix of other keys"
        )),
    }
}

/// Rewrites dotted keys in `dict` (found below `parents`) into nested
/// tables.
fn normalize(dict: Dict, parents: &[String]) -> Result<Dict, String> {
    let mut out = Dict::new();
    for (key, value) in dict {
        let full = schema::split_path(parents, &key);
        let relative = &full[parents.len()..];
        let is_token_table = full.len() == 2
            && full[0] == schema::SESSION_STORE
            && full[1] == "apiAccessTokenSHA256"
            && matches!(value, Value::Dict(..));
        if is_token_table {
            let Value::Dict(_, labels) = value else {
                unreachable!("checked above")
            };
            for (label, hash) in labels {
                insert(
                    &mut out,
                    &[format!("{}{label}", schema::LABELLED_TOKEN_PREFIX)],
                    hash,
                )?;
            }
            continue;
        }
        let value = match value {
            Value::Dict(tag, inner) => Value::Dict(tag, normalize(inner, &full)?),
            other => other,
        };
        insert(&mut out, relative, value)?;
    }
    Ok(out)
}

/// Inserts `value` at `segments` below `dict`, merging tables; a key given
/// twice (say once dotted and once nested) is an error.
pub(crate) fn insert(dict: &mut Dict, segments: &[String], value: Value) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        return match (dict.get_mut(first), value) {
            (None, value) => {
                dict.insert(first.clone(), value);
                Ok(())
            }
            (Some(Value::Dict(_, existing)), Value::Dict(_, incoming)) => {
                for (k, v) in incoming {
                    insert(existing, &[k], v)?;
                }
                Ok(())
            }
            (Some(_), _) => Err(format!("key `{first}` is given twice")),
        };
    }
    let entry = dict
        .entry(first.clone())
        .or_insert_with(|| Value::from(Dict::new()));
    match entry {
        Value::Dict(_, inner) => insert(inner, rest, value),
        _ => Err(format!(
            "key `{first}` is given both as a value and as a table"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_become_tables_and_duplicates_are_refused() {
        let mut inner = Dict::new();
        inner.insert("internal.subjectIndexPurgeInterval".into(), Value::from(5));
        inner.insert("apiAccessTokenSHA256.ops".into(), Value::from("h"));
        let mut top = Dict::new();
        top.insert(schema::SESSION_STORE.into(), Value::from(inner));
        top.insert("server.listen".into(), Value::from("x"));
        let out = normalize(top, &[]).unwrap();
        let value = Value::from(out);
        assert!(
            value
                .find_ref("sessionStore.internal.subjectIndexPurgeInterval")
                .is_some()
        );
        assert!(value.find_ref("server.listen").is_some());
        let Some(Value::Dict(_, store)) = value.find_ref(schema::SESSION_STORE) else {
            panic!("no sessionStore table");
        };
        assert!(store.contains_key("apiAccessTokenSHA256.ops"));

        let mut twice = Dict::new();
        twice.insert("server.listen".into(), Value::from("x"));
        let mut server = Dict::new();
        server.insert("listen".into(), Value::from("y"));
        twice.insert("server".into(), Value::from(server));
        assert!(normalize(twice, &[]).is_err());
    }

    #[test]
    fn only_blocks_far_from_tesseras_are_set_aside() {
        for kept in [
            "tokenizer",
            "sessionStore",
            "server",
            "sessionStore.maxLifetime",
            "sesionStore",
            "SessionStore",
            "session_store",
            "tokeniser",
            "servr",
        ] {
            assert!(is_tessera_block(kept), "{kept}");
        }
        // The SQL tool's other top-level blocks.
        for foreign in [
            "settings",
            "authenticator",
            "connections",
            "profiler",
            "rate_limit",
            "logging",
            "settings.debug",
        ] {
            assert!(!is_tessera_block(foreign), "{foreign}");
        }
    }

    #[test]
    fn properties_later_values_win_and_conflicts_name_the_line() {
        let mut dict = Dict::new();
        let path = |k: &str| schema::split_path(&[], k);
        replace(
            &mut dict,
            &path("sessionStore.maxLifetime"),
            Value::from("1"),
        )
        .unwrap();
        replace(
            &mut dict,
            &path("sessionStore.maxLifetime"),
            Value::from("2"),
        )
        .unwrap();
        assert_eq!(
            Value::from(dict.clone())
                .find_ref("sessionStore.maxLifetime")
                .and_then(Value::as_str),
            Some("2")
        );
        assert!(replace(&mut dict, &path("sessionStore"), Value::from("x")).is_err());
        assert!(replace(&mut dict, &path("sessionStore..x"), Value::from("x")).is_err());
    }
}
