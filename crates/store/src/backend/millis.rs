//! A [`Duration`] read and written as whole milliseconds, as the
//! tokenizer's `*_ms` settings are: `#[serde(with = "tessera_store::backend::millis")]`.
//!
//! The backends' configuration types hold `Duration`s; their serialised
//! form keeps the tokenizer's key names and units.

use std::time::Duration;

use serde::{Deserialize as _, Deserializer, Serializer};

/// Writes `value` as milliseconds (saturating at `u64::MAX`).
///
/// # Errors
///
/// Whatever the serializer reports.
pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
}

/// Reads a whole number of milliseconds.
///
/// # Errors
///
/// A value that is not a non-negative integer.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Settings {
        #[serde(rename = "timeout_ms", with = "super")]
        timeout: Duration,
    }

    #[test]
    fn milliseconds_both_ways() {
        let settings: Settings = serde_json::from_str(r#"{"timeout_ms": 1500}"#).unwrap();
        assert_eq!(settings.timeout, Duration::from_millis(1500));
        assert_eq!(
            serde_json::to_string(&settings).unwrap(),
            r#"{"timeout_ms":1500}"#
        );
        assert!(serde_json::from_str::<Settings>(r#"{"timeout_ms": -1}"#).is_err());
        assert!(serde_json::from_str::<Settings>(r#"{"timeout_ms": "1s"}"#).is_err());
    }
}
