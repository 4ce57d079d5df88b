//! Reading checked values out of [`Raw`], collecting every error with its
//! key and origin.

use std::path::{Path, PathBuf};

use tessera_core::CoreError;

use super::origin::{ConfigError, Origin};
use super::raw::{Entry, Raw, RawValue};

/// A read-only view of the raw values plus the errors found so far.
pub(crate) struct Validator<'a> {
    raw: &'a Raw,
    file: Option<&'a Path>,
    pub(crate) errors: Vec<ConfigError>,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(raw: &'a Raw, file: Option<&'a Path>, errors: Vec<ConfigError>) -> Self {
        Self { raw, file, errors }
    }

    pub(crate) fn raw(&self) -> &'a Raw {
        self.raw
    }

    /// The origin to blame for a key that is missing: the last file, if any.
    pub(crate) fn file_origin(&self) -> Option<Origin> {
        self.file.map(|f| Origin::File(f.to_path_buf()))
    }

    pub(crate) fn is_set(&self, path: &str) -> bool {
        self.raw.get(path).is_some()
    }

    pub(crate) fn text(&self, path: &str) -> Option<(&'a str, &'a Origin)> {
        match self.raw.get(path) {
            Some(Entry {
                value: RawValue::Text(s),
                origin,
            }) => Some((s.as_str(), origin)),
            _ => None,
        }
    }

    pub(crate) fn integer(&self, path: &str) -> Option<(i64, &'a Origin)> {
        match self.raw.get(path) {
            Some(Entry {
                value: RawValue::Integer(i),
                origin,
            }) => Some((*i, origin)),
            _ => None,
        }
    }

    pub(crate) fn number(&self, path: &str) -> Option<(f64, &'a Origin)> {
        match self.raw.get(path) {
            Some(Entry {
                value: RawValue::Number(n),
                origin,
            }) => Some((*n, origin)),
            _ => None,
        }
    }

    pub(crate) fn boolean(&self, path: &str) -> Option<(bool, &'a Origin)> {
        match self.raw.get(path) {
            Some(Entry {
                value: RawValue::Boolean(b),
                origin,
            }) => Some((*b, origin)),
            _ => None,
        }
    }

    pub(crate) fn list(&self, path: &str) -> Option<(&'a [String], &'a Origin)> {
        match self.raw.get(path) {
            Some(Entry {
                value: RawValue::List(l),
                origin,
            }) => Some((l.as_slice(), origin)),
            _ => None,
        }
    }

    /// A path, if set.
    pub(crate) fn path(&self, key: &str) -> Option<PathBuf> {
        self.text(key).map(|(s, _)| PathBuf::from(s))
    }

    /// An integer in `range`, else an error naming the key.
    pub(crate) fn integer_in(
        &mut self,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        unit: &str,
    ) -> Option<i64> {
        let (value, origin) = self.integer(key)?;
        if range.contains(&value) {
            Some(value)
        } else {
            let origin = origin.clone();
            self.error(
                key,
                Some(origin),
                format!(
                    "{value} is outside the allowed range {}..={} {unit}",
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }

    pub(crate) fn error(&mut self, key: &str, origin: Option<Origin>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(key, origin, message));
    }

    /// An error about the value at `key`, blaming where it came from.
    pub(crate) fn refuse(&mut self, key: &str, message: impl Into<String>) {
        let origin = self.raw.get(key).map(|e| e.origin.clone());
        self.error(key, origin, message);
    }

    /// A required key that is not set.
    pub(crate) fn missing(&mut self, key: &str, message: impl Into<String>) {
        let origin = self.file_origin();
        self.error(key, origin, message);
    }

    /// A model error about `key`: its reason, without the model's own field
    /// name (the key says it better).
    pub(crate) fn core(&mut self, key: &str, error: &CoreError) {
        let message = match error {
            CoreError::Invalid { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        self.refuse(key, message);
    }
}
