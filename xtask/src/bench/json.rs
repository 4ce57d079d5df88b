//! Reading what the benchmark programs write: `BENCH {...}` result lines
//! (flat JSON objects of strings and numbers) and criterion's
//! `estimates.json`. xtask has no JSON library; these shapes need none.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

/// A value of a result line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Text(String),
    Number(f64),
    Null,
}

/// One result line's fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Record(BTreeMap<String, Value>);

impl Record {
    pub(crate) fn text(&self, key: &str) -> &str {
        match self.0.get(key) {
            Some(Value::Text(text)) => text,
            _ => "",
        }
    }

    /// Whether a number field holds `value` (a count, so to the unit).
    pub(crate) fn is(&self, key: &str, value: f64) -> bool {
        (self.number(key) - value).abs() < 0.5
    }

    /// A number field; NaN when missing or null.
    pub(crate) fn number(&self, key: &str) -> f64 {
        match self.0.get(key) {
            Some(Value::Number(x)) => *x,
            _ => f64::NAN,
        }
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

/// Parses `{"key": "text" | number | null, ...}`.
pub(crate) fn parse_object(text: &str) -> Result<Record> {
    let mut rest = text.trim();
    rest = rest.strip_prefix('{').context("expected `{`")?.trim_start();
    let mut fields = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('}') {
        return if after.trim().is_empty() {
            Ok(Record(fields))
        } else {
            bail!("text after the object")
        };
    }
    loop {
        let (key, after) = string(rest)?;
        rest = after
            .trim_start()
            .strip_prefix(':')
            .context("expected `:`")?
            .trim_start();
        let value;
        (value, rest) = if rest.starts_with('"') {
            let (text, after) = string(rest)?;
            (Value::Text(text), after)
        } else if let Some(after) = rest.strip_prefix("null") {
            (Value::Null, after)
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
                .unwrap_or(rest.len());
            let number = rest[..end]
                .parse()
                .with_context(|| format!("bad number in {rest:?}"))?;
            (Value::Number(number), &rest[end..])
        };
        fields.insert(key, value);
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if let Some(after) = rest.strip_prefix('}') {
            if !after.trim().is_empty() {
                bail!("text after the object");
            }
            return Ok(Record(fields));
        } else {
            bail!("expected `,` or `}}` at {rest:?}");
        }
    }
}

/// A JSON string at the start of `text` and what follows it.
fn string(text: &str) -> Result<(String, &str)> {
    let body = text.strip_prefix('"').context("expected a string")?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[at + 1..])),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                    let code = u32::from_str_radix(&hex, 16).context("bad \\u escape")?;
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                Some(other) => out.push(other),
                None => bail!("unterminated escape"),
            },
            c => out.push(c),
        }
    }
    bail!("unterminated string")
}

/// `median.point_estimate` (nanoseconds) from criterion's `estimates.json`.
pub(crate) fn criterion_median_ns(estimates: &str) -> Result<f64> {
    let median = estimates
        .find("\"median\"")
        .context("no median in estimates.json")?;
    let after = &estimates[median..];
    let at = after
        .find("\"point_estimate\"")
        .context("no median point estimate")?;
    let value = after[at + "\"point_estimate\"".len()..]
        .trim_start()
        .strip_prefix(':')
        .context("expected `:`")?
        .trim_start();
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(value.len());
    value[..end]
        .parse()
        .with_context(|| format!("bad point estimate {:?}", &value[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_are_parsed_and_other_lines_ignored() -> Result<()> {
        let out = "populating\nBENCH {\"system\": \"tessera\", \"op\": \"get \\\"x\\\"\", \"ops_per_sec\": 1.5e3, \"p99_us\": null}\ndone\n";
        let records = records(out)?;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].text("system"), "tessera");
        assert_eq!(records[0].text("op"), "get \"x\"");
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
