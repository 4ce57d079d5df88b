//! Reading what the benchmark programs write: `BENCH {...}` result lines
//! (flat JSON objects of strings and numbers) and criterion's
//! `estimates.json`, with serde_json.

use anyhow::{Context, Result};
use serde_json::{Map, Value};

/// One result line's fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Record(Map<String, Value>);

impl Record {
    /// A text field; empty when missing or not text.
    pub(crate) fn text(&self, key: &str) -> &str {
        self.0.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// Whether a number field holds `value` (a count, so to the unit).
    pub(crate) fn is(&self, key: &str, value: f64) -> bool {
        (self.number(key) - value).abs() < 0.5
    }

    /// A number field; NaN when missing or null.
    pub(crate) fn number(&self, key: &str) -> f64 {
        self.0.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
    }
}

/// Every `BENCH {...}` line of `output`, parsed.
pub(crate) fn records(output: &str) -> Result<Vec<Record>> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("BENCH "))
        .map(|object| parse_object(object).with_context(|| format!("bad result line {object:?}")))
        .collect()
}

/// Parses one JSON object.
pub(crate) fn parse_object(text: &str) -> Result<Record> {
    Ok(Record(serde_json::from_str(text)?))
}

/// `median.point_estimate` (nanoseconds) from criterion's `estimates.json`.
pub(crate) fn criterion_median_ns(estimates: &str) -> Result<f64> {
    let estimates: Value = serde_json::from_str(estimates).context("bad estimates.json")?;
    estimates
        .pointer("/median/point_estimate")
        .and_then(Value::as_f64)
        .context("no median point estimate in estimates.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_are_parsed_and_other_lines_ignored() -> Result<()> {
        let out = "populating\nBENCH {\"system\": \"tessera\", \"op\": \"get \\\"x\\\" \\u00e9\\n\", \"ops_per_sec\": 1.5e3, \"p99_us\": null}\ndone\n";
        let records = records(out)?;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].text("system"), "tessera");
        assert_eq!(records[0].text("op"), "get \"x\" \u{e9}\n");
        assert!((records[0].number("ops_per_sec") - 1500.0).abs() < 1e-9);
        assert!(records[0].number("p99_us").is_nan());
        assert!(records[0].number("missing").is_nan());
        assert!(parse_object("{}")?.text("a").is_empty());
        assert!(parse_object("{\"a\": 1").is_err());
        assert!(parse_object("{\"a\": x}").is_err());
        Ok(())
    }

    #[test]
    fn the_median_is_read_from_criterion_estimates() -> Result<()> {
        let estimates = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":42.25,"standard_error":0.1}}"#;
        assert!((criterion_median_ns(estimates)? - 42.25).abs() < 1e-9);
        assert!(criterion_median_ns("{}").is_err());
        Ok(())
    }
}
