//! One tokenizer record → one import record or a skip (the mapping is
//! described in the module above).

use serde_json::{Map, Value, json};
use tessera_core::{Context, Session, Subject, Timestamp};

use super::credentials::{self, OpenError};
use super::{ImportRecord, RawRecord, Skip, SkipReason, SourceRecord, TokenizerSource, expires};

/// What a logout leaves in `token`.
const LOGGED_OUT: &str = "INVALID";
/// The fields of the tool's own kept in the session's `data`.
const KEPT: [&str; 5] = [
    "username",
    "roles",
    "role_selected",
    "connections",
    "history",
];

pub(super) fn convert(
    raw: &RawRecord,
    source: &TokenizerSource,
    now: Timestamp,
) -> Result<ImportRecord, Skip> {
    let skip = |reason: SkipReason| Skip {
        origin: raw.origin.clone(),
        source: reason.is_dead().then(|| raw.source()).flatten(),
        reason,
    };
    let text = raw
        .text
        .as_ref()
        .map_err(|what| skip(SkipReason::Unreadable(what)))?;
    let record = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(record)) => record,
        Ok(_) => return Err(skip(SkipReason::NotATokenRecord)),
        Err(_) => return Err(skip(SkipReason::Unreadable("not JSON"))),
    };
    if record.get("type").and_then(Value::as_str) != Some("token") {
        return Err(skip(SkipReason::NotATokenRecord));
    }

    let Some(token) = record.get("token").and_then(Value::as_str) else {
        return Err(skip(SkipReason::Unreadable("no `token`")));
    };
    if token == LOGGED_OUT {
        return Err(skip(SkipReason::LoggedOut));
    }
    let Some(expires) = record
        .get("expires")
        .and_then(Value::as_str)
        .and_then(expires::parse)
    else {
        return Err(skip(SkipReason::Unreadable(
            "`expires` is missing or not in the tokenizer's format",
        )));
    };
    // The tokenizer's own test: expired once now is past `expires`.
    if now > expires {
        return Err(skip(SkipReason::Expired));
    }
    if !is_tokenizer_token(token) {
        return Err(skip(SkipReason::Unreadable(
            "`token` is not one the tokenizer would accept",
        )));
    }
    let Some(subject) = record
        .get("username")
        .and_then(Value::as_str)
        .and_then(|name| Subject::new(name.to_lowercase()).ok())
    else {
        return Err(skip(SkipReason::Unreadable(
            "`username` is missing or not a valid subject",
        )));
    };
    let credentials = match record.get("credentials") {
        None | Some(Value::Null) => None,
        Some(Value::String(blob)) => {
            Some(credentials::open(&source.safe_password, blob).map_err(|e| {
                skip(match e {
                    OpenError::Malformed => SkipReason::CredentialsMalformed,
                    OpenError::WrongPassword => SkipReason::CredentialsWrongPassword,
                })
            })?)
        }
        Some(_) => return Err(skip(SkipReason::Unreadable("`credentials` is not text"))),
    };

    let last_used = match source.timeout.minutes() {
        Some(minutes) => expires.plus_millis(-i64::from(minutes.get()) * 60_000),
        None => expires,
    }
    .min(now);
    let data: Map<String, Value> = KEPT
        .iter()
        .filter_map(|key| Some(((*key).to_owned(), record.get(*key)?.clone())))
        .collect();
    let session = session(subject.clone(), last_used, source, data);
    let Ok(session) = serde_json::to_value(&session) else {
        return Err(skip(SkipReason::Unreadable(
            "the session cannot be encoded",
        )));
    };
    let mut line = json!({ "sid": token, "session": session });
    if let Some(credentials) = credentials {
        // Where `tessera sessions import` takes them, as `POST /sessions`
        // does: inside the session object.
        line["session"]["credentials"] = credentials;
    }
    Ok(ImportRecord {
        subject: subject.as_str().to_owned(),
        value: line,
        source: SourceRecord {
            location: raw.location.clone(),
            text: text.clone(),
        },
    })
}

/// The session of a tokenizer record last extended at `last_used`.
fn session(
    subject: Subject,
    last_used: Timestamp,
    source: &TokenizerSource,
    data: Map<String, Value>,
) -> Session {
    Session {
        subject,
        context: Context::default(),
        creation_time: last_used,
        auth_time: last_used,
        last_used,
        max_life: source.max_life,
        auth_life: source.auth_life,
        max_idle: source.timeout,
        acr: None,
        amr: Vec::new(),
        claims: Map::new(),
        data,
        credentials: None,
        version: 1,
        signer: None,
        record_mac: None,
    }
}

/// The tokenizer's own checks on a token: 20 to 100 characters (`validate`
/// and `set_token`) matching `^[a-zA-Z0-9][a-zA-Z0-9_.-]*[a-zA-Z0-9]$`.
fn is_tokenizer_token(token: &str) -> bool {
    let bytes = token.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    (20..=100).contains(&bytes.len())
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tessera_core::Lifetime;
    use zeroize::Zeroizing;

    use super::*;
    use crate::config::{Backend, LocalSettings};
    use crate::migrate::tokenizer::TokenizerPassword;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";
    /// `Tue, 01-Dec-2026 08:33:51 UTC`.
    const EXPIRES_SECS: i64 = 1_796_114_031;

    fn source() -> TokenizerSource {
        let backend = Backend::Local(LocalSettings {
            path: "/nowhere".into(),
            touch_window: None,
        });
        TokenizerSource::new(backend, TokenizerPassword::new("unused here"))
    }

    fn record(fields: &Value) -> Value {
        let mut record = json!({
            "type": "token",
            "expires": "Tue, 01-Dec-2026 08:33:51 UTC",
            "connections": [],
            "username": "Alice",
            "credentials": null,
            "roles": ["global"],
            "role_selected": "global",
            "token": TOKEN,
        });
        for (key, value) in fields.as_object().unwrap() {
            record[key] = value.clone();
        }
        record
    }

    fn convert_at(record: &Value, source: &TokenizerSource, now_secs: i64) -> Result<Value, Skip> {
        let raw = RawRecord {
            origin: "test".to_owned(),
            location: crate::migrate::tokenizer::Location::File("test".into()),
            tessera: false,
            text: Ok(Zeroizing::new(record.to_string())),
        };
        convert(&raw, source, Timestamp::from_secs(now_secs)).map(ImportRecord::into_value)
    }

    fn reason(record: &Value) -> SkipReason {
        convert_at(record, &source(), EXPIRES_SECS - 60)
            .unwrap_err()
            .reason
    }

    #[test]
    fn the_idle_time_carries_over() {
        let line = convert_at(&record(&json!({})), &source(), EXPIRES_SECS - 300).unwrap();
        assert_eq!(line["sid"], TOKEN);
        let session = &line["session"];
        assert_eq!(session["sub"], "alice");
        assert_eq!(session["last_used"], EXPIRES_SECS - 20 * 60);
        assert_eq!(session["creation_time"], EXPIRES_SECS - 20 * 60);
        assert_eq!(session["max_idle"], 20);
        assert_eq!(session["data"]["username"], "Alice");
        assert!(line["session"].get("credentials").is_none());
    }

    #[test]
    fn a_record_of_a_longer_timeout_is_last_used_now() {
        // Written when the timeout was 60 minutes; read with 20.
        let now = EXPIRES_SECS - 50 * 60;
        let line = convert_at(&record(&json!({})), &source(), now).unwrap();
        assert_eq!(line["session"]["last_used"], now);
    }

    #[test]
    fn the_chosen_lifetimes_and_the_history_are_kept() {
        let mut source = source();
        source.max_life = Lifetime::minutes_const(600);
        source.auth_life = Lifetime::minutes_const(300);
        let history = json!([["2026-12-01 08:10:00", 12]]);
        let line = convert_at(
            &record(&json!({ "history": history })),
            &source,
            EXPIRES_SECS,
        )
        .unwrap();
        assert_eq!(line["session"]["max_life"], 600);
        assert_eq!(line["session"]["auth_life"], 300);
        assert_eq!(line["session"]["data"]["history"], history);
    }

    #[test]
    fn expiry_is_the_tokenizers_own_test() {
        let at_expiry = convert_at(&record(&json!({})), &source(), EXPIRES_SECS);
        assert!(at_expiry.is_ok());
        let after = convert_at(&record(&json!({})), &source(), EXPIRES_SECS + 1);
        assert_eq!(after.unwrap_err().reason, SkipReason::Expired);
    }

    #[test]
    fn records_it_would_refuse_are_skipped_with_their_reason() {
        assert_eq!(
            reason(&record(&json!({"token": "INVALID"}))),
            SkipReason::LoggedOut
        );
        assert_eq!(
            reason(&json!({"type": "profile", "format_version": 3})),
            SkipReason::NotATokenRecord
        );
        assert_eq!(reason(&json!([1, 2])), SkipReason::NotATokenRecord);
        for (fields, what) in [
            (json!({"token": null}), "no `token`"),
            (
                json!({"token": "short-token"}),
                "`token` is not one the tokenizer would accept",
            ),
            (
                json!({"token": "0123456789abcdef0123456789abcde!"}),
                "`token` is not one the tokenizer would accept",
            ),
            (
                json!({"expires": "tomorrow"}),
                "`expires` is missing or not in the tokenizer's format",
            ),
            (
                json!({"username": null}),
                "`username` is missing or not a valid subject",
            ),
            (json!({"credentials": 7}), "`credentials` is not text"),
        ] {
            assert_eq!(
                reason(&record(&fields)),
                SkipReason::Unreadable(what),
                "{fields}"
            );
        }
        assert_eq!(
            reason(&record(&json!({"credentials": "bm90IGEgYmxvYg=="}))),
            SkipReason::CredentialsMalformed
        );
    }

    #[test]
    fn text_that_is_not_json_is_unreadable() {
        let raw = RawRecord {
            origin: "test".to_owned(),
            location: crate::migrate::tokenizer::Location::File("test".into()),
            tessera: false,
            text: Ok(Zeroizing::new("{ not json".to_owned())),
        };
        let skip = convert(&raw, &source(), Timestamp::from_secs(0)).unwrap_err();
        assert_eq!(skip.reason, SkipReason::Unreadable("not JSON"));
        assert_eq!(skip.to_string(), "test: unreadable: not JSON");
    }
}
