//! Where a configuration value came from, and the errors that name it.

use std::fmt;
use std::path::PathBuf;

use figment::{Metadata, Source};

/// The figment provider name of a single environment variable.
pub(crate) const ENV_PROVIDER: &str = "environment variable";
/// The figment provider name of a single `-D` argument.
pub(crate) const ARG_PROVIDER: &str = "command-line argument";

/// The source of a configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The configuration file.
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
    /// A `-Dkey=value` argument, by key (the value is never repeated: it may
    /// be a secret).
    Arg(String),
    /// Tessera's built-in default.
    Default,
}

impl Origin {
    /// The origin figment recorded for a provider.
    pub(crate) fn from_metadata(metadata: Option<&Metadata>) -> Self {
        let Some(metadata) = metadata else {
            return Self::Default;
        };
        match &metadata.source {
            Some(Source::File(path)) => Self::File(path.clone()),
            Some(Source::Custom(name)) if metadata.name == ENV_PROVIDER => Self::Env(name.clone()),
            Some(Source::Custom(name)) if metadata.name == ARG_PROVIDER => Self::Arg(name.clone()),
            _ => Self::Default,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Env(name) => write!(f, "environment variable {name}"),
            Self::Arg(key) => write!(f, "command-line argument -D{key}"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// One refused configuration value: the key, where it came from, and why.
///
/// The message never quotes a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
    origin: Option<Origin>,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(
        key: impl Into<String>,
        origin: Option<Origin>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            key: key.into(),
            origin,
            message: message.into(),
        }
    }

    /// The dotted key path (`sessionStore.quotaPerSubject`), or an empty
    /// string when the error is not about one key (a file that cannot be
    /// read, an environment variable that names no key).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Where the value came from, when known.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.key.is_empty(), &self.origin) {
            (false, Some(origin)) => write!(f, "{} ({origin}): {}", self.key, self.message),
            (false, None) => write!(f, "{}: {}", self.key, self.message),
            (true, Some(origin)) => write!(f, "{origin}: {}", self.message),
            (true, None) => f.write_str(&self.message),
        }
    }
}

/// Every error found in one configuration, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    pub(crate) fn new(errors: Vec<ConfigError>) -> Self {
        Self(errors)
    }

    /// The errors.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "invalid configuration: {one}"),
            many => {
                write!(f, "invalid configuration ({} errors):", many.len())?;
                for error in many {
                    write!(f, "\n  - {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigErrors {}
