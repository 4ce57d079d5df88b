//! Expression plumbing: attribute-name placeholders for every name an
//! expression uses (`ttl` and many short names are reserved words).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// `#name` placeholders found in `exprs`, mapped to `name`. DynamoDB
/// rejects unused placeholders, so the map is derived from the text.
pub(crate) fn names(exprs: &[&str]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for expr in exprs {
        let mut rest = *expr;
        while let Some(at) = rest.find('#') {
            let tail = &rest[at + 1..];
            let len = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..len];
            if !name.is_empty() {
                out.insert(format!("#{name}"), name.to_owned());
            }
            rest = &tail[len..];
        }
    }
    out
}

/// The condition that an item's record is one this build may change: of
/// its own format, or not in the `{"format":N` envelope at all (damaged).
/// A record of a newer format fails it and is left as it was. Uses the
/// values of [`own_format_values`].
pub(crate) const OWN_FORMAT: &str =
    "(begins_with(#rec, :own_format) OR NOT begins_with(#rec, :any_format))";

/// The values [`OWN_FORMAT`] refers to.
pub(crate) fn own_format_values() -> [(&'static str, AttributeValue); 2] {
    let envelope = String::from_utf8_lossy(tessera_store::backend::record::ENVELOPE).into_owned();
    [
        (
            ":own_format",
            AttributeValue::S(format!(
                "{envelope}{},",
                tessera_store::backend::record::FORMAT
            )),
        ),
        (":any_format", AttributeValue::S(envelope)),
    ]
}

/// A values map, or `None` when empty (DynamoDB rejects an empty map).
pub(crate) fn values<const N: usize>(
    pairs: [(&str, AttributeValue); N],
) -> Option<HashMap<String, AttributeValue>> {
    let map: HashMap<String, AttributeValue> =
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    (!map.is_empty()).then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_come_from_the_text() {
        let m = names(&["SET #lu = :now, #ttl = #tb", "attribute_exists(#username)"]);
        assert_eq!(m.len(), 4);
        assert_eq!(m["#ttl"], "ttl");
        assert_eq!(m["#username"], "username");
        assert!(values([]).is_none());
    }
}
