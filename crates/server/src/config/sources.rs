//! The layers of a configuration: the files (in the order given), the
//! tokenizer's environment variables, `TESSERA_*` environment variables and
//! `-Dkey=value` arguments, merged with figment in that order (later wins).
//!
//! Every environment variable and every `-D` argument is its own figment
//! provider, so an error about its value names exactly that variable or
//! argument.

use std::path::PathBuf;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use super::files::{ConfigFile, FileFormat, IgnoredBlock, insert};
use super::origin::{ARG_PROVIDER, ConfigError, ENV_PROVIDER, Origin};
use super::schema::{self, LABELLED_TOKEN_PREFIX, SESSION_STORE};

/// The environment variable that names the configuration file (used when
/// no `--config` is given).
pub const CONFIG_ENV: &str = "TESSERA_CONFIG";

/// The prefix of the `TESSERA_*` override variables.
const TESSERA_PREFIX: &str = "TESSERA_";
/// The separator of path segments in a `TESSERA_*` variable name.
const NESTING: &str = "__";
/// The prefix of the tokenizer's own variables.
const TOKENIZER_PREFIX: &str = "TOKENIZER_";

/// The tokenizer's environment variables and the keys they set.
pub(crate) const TOKENIZER_ENV: &[(&str, &str)] = &[
    ("TOKENIZER_TYPE", "tokenizer.type"),
    ("TOKENIZER_TIMEOUT", "tokenizer.timeout"),
    ("TOKENIZER_SAFE_PASSWORD", "tokenizer.safe_password"),
    ("TOKENIZER_PATH", "tokenizer.path"),
    ("TOKENIZER_HOST", "tokenizer.host"),
    ("TOKENIZER_PORT", "tokenizer.port"),
    ("TOKENIZER_SSL", "tokenizer.options.ssl"),
    ("TOKENIZER_TABLE", "tokenizer.table"),
    ("AWS_REGION_NAME", "tokenizer.aws_region_name"),
];

/// Everything a configuration is read from.
///
/// [`ConfigSources::from_process`] reads the real environment; tests build
/// one by hand so they never depend on (or change) the process environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// The configuration files (`--config`, once or several times, else
    /// `TESSERA_CONFIG`), in order: a later file wins over an earlier one.
    pub files: Vec<PathBuf>,
    /// The environment: overrides are read from it, and the data directory
    /// is derived from `TESSERA_DATA_DIR`, `XDG_DATA_HOME` and `HOME`.
    pub env: Vec<(String, String)>,
    /// The `-D` arguments, each `key=value` (without the `-D`), in the
    /// order given.
    pub defines: Vec<String>,
}

impl ConfigSources {
    /// The sources of this process: `files` from `--config` (else
    /// `TESSERA_CONFIG`), the process environment (variables that are not
    /// valid UTF-8 are skipped) and the `-D` arguments.
    pub fn from_process(mut files: Vec<PathBuf>, defines: Vec<String>) -> Self {
        let env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        if files.is_empty() {
            files.extend(
                env.iter()
                    .find(|(k, v)| k == CONFIG_ENV && !v.is_empty())
                    .map(|(_, v)| PathBuf::from(v)),
            );
        }
        Self {
            files,
            env,
            defines,
        }
    }

    /// The environment variables and `-D` arguments that set a token hash
    /// (`sessionStore.apiAccessTokenSHA256` and its labelled and secondary
    /// forms, `server.metrics_token_sha256`): the process started with
    /// them, so a reload cannot change what they set.
    pub fn fixed_token_sources(&self) -> Vec<String> {
        let is_token = |segments: &[String]| match segments {
            [block, key] if block == SESSION_STORE => {
                key == "apiAccessTokenSHA256"
                    || key == "secondaryAPIAccessTokenSHA256"
                    || key.starts_with(LABELLED_TOKEN_PREFIX)
            }
            [block, key] => block == "server" && key == "metrics_token_sha256",
            _ => false,
        };
        let mut found: Vec<String> = self
            .env
            .iter()
            .filter(|(k, v)| !v.is_empty() && k.starts_with(TESSERA_PREFIX) && k.contains(NESTING))
            .filter(|(k, _)| {
                tessera_env_path(&k[TESSERA_PREFIX.len()..]).is_some_and(|p| is_token(&p))
            })
            .map(|(k, _)| k.clone())
            .collect();
        found.extend(
            self.defines
                .iter()
                .filter_map(|d| d.split_once('='))
                .filter(|(key, value)| !value.is_empty() && is_token(&schema::split_path(&[], key)))
                .map(|(key, _)| format!("-D{key}")),
        );
        found.sort();
        found
    }

    /// The value of an environment variable, if set and not empty.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// Builds the merged figment, collecting errors about the sources
/// themselves (a missing or unparsable file, a variable or argument that
/// names no key) and the blocks of files that are not Tessera's.
pub(crate) fn figment(
    sources: &ConfigSources,
    errors: &mut Vec<ConfigError>,
    ignored: &mut Vec<IgnoredBlock>,
) -> Figment {
    let mut figment = Figment::new();

    for path in &sources.files {
        let origin = Some(Origin::File(path.clone()));
        match FileFormat::of(path) {
            None => errors.push(ConfigError::new(
                "",
                origin,
                "unknown file type: a configuration file ends in .yml, .yaml, .toml or \
                 .properties",
            )),
            Some(_) if !path.is_file() => errors.push(ConfigError::new(
                "",
                origin,
                "no such file (given with --config or TESSERA_CONFIG)",
            )),
            Some(format) => match ConfigFile::read(path, format, ignored) {
                Ok(file) => figment = figment.merge(file),
                Err(file_errors) => errors.extend(file_errors),
            },
        }
    }

    let mut tokenizer_env: Vec<&(String, String)> = sources
        .env
        .iter()
        .filter(|(k, v)| {
            !v.is_empty() && (k.starts_with(TOKENIZER_PREFIX) || k == "AWS_REGION_NAME")
        })
        .collect();
    tokenizer_env.sort();
    for (name, value) in tokenizer_env {
        match TOKENIZER_ENV.iter().find(|(n, _)| n == name) {
            Some((_, path)) => {
                figment = figment.merge(Override::env(name, schema::split_path(&[], path), value));
            }
            None => errors.push(ConfigError::new(
                "",
                Some(Origin::Env(name.clone())),
                format!(
                    "not one of the tokenizer's variables ({}); use TESSERA_<BLOCK>__<KEY> for other keys",
                    TOKENIZER_ENV
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    let mut tessera_env: Vec<&(String, String)> = sources
        .env
        .iter()
        .filter(|(k, v)| !v.is_empty() && k.starts_with(TESSERA_PREFIX) && k.contains(NESTING))
        .collect();
    tessera_env.sort();
    for (name, value) in tessera_env {
        match tessera_env_path(&name[TESSERA_PREFIX.len()..]) {
            Some(segments) => figment = figment.merge(Override::env(name, segments, value)),
            None => errors.push(ConfigError::new(
                "",
                Some(Origin::Env(name.clone())),
                "names no configuration key (the scheme is TESSERA_<BLOCK>__<KEY>, e.g. \
                 TESSERA_SESSIONSTORE__MAXLIFETIME or TESSERA_SERVER__LISTEN)",
            )),
        }
    }

    for define in &sources.defines {
        match define.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                if !value.is_empty() {
                    figment = figment.merge(Override::arg(key, value));
                }
            }
            _ => errors.push(ConfigError::new(
                "",
                Some(Origin::Arg(
                    define.split('=').next().unwrap_or_default().to_owned(),
                )),
                "expected -Dkey=value, e.g. -DsessionStore.maxLifetime=-1",
            )),
        }
    }

    figment
}

/// The key path a `TESSERA_*` variable sets (its name without the prefix).
///
/// Segments are separated by `__` and compared with the key's segments
/// ignoring case and underscores, so `SESSIONSTORE__MAXLIFETIME` and
/// `SESSION_STORE__MAX_LIFETIME` both set `sessionStore.maxLifetime`. A
/// labelled token is `SESSIONSTORE__APIACCESSTOKENSHA256__<LABEL>`, the
/// label lowercased.
fn tessera_env_path(name: &str) -> Option<Vec<String>> {
    let segments: Vec<String> = name.split(NESTING).map(schema::fold).collect();
    if segments.len() == 3 && segments[0] == "sessionstore" && segments[1] == "apiaccesstokensha256"
    {
        let label = name.split(NESTING).nth(2)?.to_ascii_lowercase();
        return Some(vec![
            SESSION_STORE.to_owned(),
            format!("{LABELLED_TOKEN_PREFIX}{label}"),
        ]);
    }
    let spec = schema::KEYS.iter().find(|k| {
        let key_segments: Vec<String> = k.path.split('.').map(schema::fold).collect();
        key_segments == segments
    })?;
    Some(spec.path.split('.').map(str::to_owned).collect())
}

/// One environment variable or `-D` argument, as a figment provider.
struct Override {
    segments: Vec<String>,
    value: String,
    metadata: Metadata,
}

impl Override {
    fn env(name: &str, segments: Vec<String>, value: &str) -> Self {
        Self {
            segments,
            value: value.to_owned(),
            metadata: Metadata::from(ENV_PROVIDER, Source::Custom(name.to_owned())),
        }
    }

    fn arg(key: &str, value: &str) -> Self {
        Self {
            segments: schema::split_path(&[], key),
            value: value.to_owned(),
            metadata: Metadata::from(ARG_PROVIDER, Source::Custom(key.to_owned())),
        }
    }
}

impl Provider for Override {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        insert(&mut dict, &self.segments, Value::from(self.value.clone()))
            .map_err(figment::Error::from)?;
        Ok(Profile::Default.collect(dict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tessera_variables_map_to_keys_ignoring_case_and_underscores() {
        for (name, path) in [
            ("SESSIONSTORE__MAXLIFETIME", "sessionStore.maxLifetime"),
            ("SESSION_STORE__MAX_LIFETIME", "sessionStore.maxLifetime"),
            (
                "SESSIONSTORE__INTERNAL__SUBJECTINDEXPURGEINTERVAL",
                "sessionStore.internal.subjectIndexPurgeInterval",
            ),
            ("TOKENIZER__SAFE_PASSWORD", "tokenizer.safe_password"),
            ("TOKENIZER__OPTIONS__SSL", "tokenizer.options.ssl"),
            ("SERVER__LISTEN", "server.listen"),
        ] {
            assert_eq!(tessera_env_path(name).unwrap().join("."), path, "{name}");
        }
        assert_eq!(
            tessera_env_path("SESSIONSTORE__APIACCESSTOKENSHA256__OPS").unwrap(),
            ["sessionStore", "apiAccessTokenSHA256.ops"]
        );
        assert_eq!(tessera_env_path("SESSIONSTORE__NOPE"), None);
        assert_eq!(tessera_env_path("SESSIONSTORE"), None);
    }
}
