//! Reading requests: JSON bodies, the `SID` header, query parameters and
//! `If-Match`, each refusal in the API's JSON error shape.
//!
//! axum's own extractors answer with plain-text rejections; these replace
//! them so that every error a caller sees has the same form.

use axum::body::Body;
use axum::extract::{FromRequest, Query, Request};
use axum::http::{HeaderMap, Uri, header};
use futures::StreamExt as _;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::error::{ApiError, describe_json_error};
use super::{Shared, discard};
use crate::json_error::is_field_name;

/// When the request's time is up: reading its body stops there, so that a
/// body still trickling in does not outlive the `503 timeout` answer.
/// Set by the edge middleware for every request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyDeadline(pub(crate) Instant);

/// A JSON request body of type `T`: `Content-Type: application/json` (or
/// another `+json` type), at most `max_body_bytes`, decoded strictly.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<Shared> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Shared) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let limit = state.limits.max_body_bytes;
        let deadline = request.extensions().get::<BodyDeadline>().map(|d| d.0);
        let declared = declared_length(request.headers());
        if declared.is_some_and(|n| n > limit as u64) {
            if discard::worth_it(request.headers(), declared) {
                discard::rest(request.into_body().into_data_stream(), 0);
            }
            return Err(ApiError::body_too_large(limit));
        }
        // Past `100 Continue` (sent when the body is first read), a client
        // sends its body whatever it declared.
        let worth_discarding = declared.is_none_or(|n| n <= discard::MAX_BYTES);
        // The body may hold credentials: wipe the buffer once decoded.
        let bytes = Zeroizing::new(
            read_limited(request.into_body(), limit, deadline, worth_discarding).await?,
        );
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| describe_json_error(&e))
    }
}

/// Whether the request says its body is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Reads a body of at most `limit` bytes, until `deadline` at the latest
/// (then `503 timeout`). A body that passes the limit is answered `413` at
/// once; when `discard_rest`, what is left of it is read and thrown away
/// in the background (see [`discard`]) so that the client can read that
/// answer.
async fn read_limited(
    body: Body,
    limit: usize,
    deadline: Option<Instant>,
    discard_rest: bool,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    loop {
        let next = match deadline {
            Some(at) => tokio::time::timeout_at(at, stream.next())
                .await
                .map_err(|_| ApiError::timeout())?,
            None => stream.next().await,
        };
        let Some(chunk) = next else {
            return Ok(out);
        };
        let chunk =
            chunk.map_err(|_| ApiError::invalid_request("the request body could not be read"))?;
        if out.len() + chunk.len() > limit {
            if discard_rest {
                discard::rest(stream, (out.len() + chunk.len()) as u64);
            }
            return Err(ApiError::body_too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
}

/// The declared `Content-Length`, if there is one that parses.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The SID of the one `SID` header. The header is secret: nothing here or
/// in the callers logs it or puts it in an error.
pub(crate) fn sid(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all("sid").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_request("send exactly one `SID` header"));
    }
    match value.to_str() {
        Ok("") => Err(ApiError::missing_sid()),
        Ok(text) => Ok(Some(text)),
        Err(_) => Err(ApiError::invalid_sid()),
    }
}

/// The `Pre-Login-SID` header of a login from a pre-login session, if
/// any: at most one, and not empty. (The `SID` header keeps its reference
/// meaning, and a create ignores it as the reference does.)
pub(crate) fn pre_login_sid(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all("pre-login-sid").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_request(
            "send at most one `Pre-Login-SID` header",
        ));
    }
    match value.to_str() {
        Ok("") => Err(ApiError::invalid_request(
            "the `Pre-Login-SID` header is empty",
        )),
        Ok(text) => Ok(Some(text)),
        Err(_) => Err(ApiError::invalid_sid()),
    }
}

/// The query parameters the API knows. Each operation says which it
/// accepts; any other parameter is refused, so a misspelt
/// `skip_last_used_update` cannot silently touch a session.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pub(crate) subject: Option<String>,
    pub(crate) ctx: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) skip_last_used_update: bool,
    pub(crate) credentials: bool,
}

/// A query parameter name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    Subject,
    Ctx,
    Id,
    SkipLastUsedUpdate,
    Credentials,
}

impl Param {
    const ALL: [Self; 5] = [
        Self::Subject,
        Self::Ctx,
        Self::Id,
        Self::SkipLastUsedUpdate,
        Self::Credentials,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Ctx => "ctx",
            Self::Id => "id",
            Self::SkipLastUsedUpdate => "skip_last_used_update",
            Self::Credentials => "credentials",
        }
    }
}

impl Params {
    /// Parses the query string of `uri`, refusing unknown and repeated
    /// parameters.
    pub(crate) fn parse(uri: &Uri) -> Result<Self, ApiError> {
        let mut params = Self::default();
        if uri.query().is_none() {
            return Ok(params);
        }
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|_| ApiError::invalid_request("the query string is not URL-encoded"))?;
        let mut seen = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let Some(param) = Param::ALL.into_iter().find(|p| p.name() == name) else {
                return Err(ApiError::invalid_request(if is_field_name(&name) {
                    format!("unknown query parameter `{name}`")
                } else {
                    "unknown query parameter".to_owned()
                }));
            };
            if seen.contains(&param) {
                return Err(ApiError::invalid_request(format!(
                    "query parameter `{name}` is repeated"
                )));
            }
            seen.push(param);
            match param {
                Param::Subject => params.subject = Some(value),
                Param::Ctx => params.ctx = Some(value),
                Param::Id => params.id = Some(value),
                Param::SkipLastUsedUpdate => params.skip_last_used_update = flag(param, &value)?,
                Param::Credentials => params.credentials = flag(param, &value)?,
            }
        }
        Ok(params)
    }

    /// Refuses any parameter given that `allowed` does not list.
    pub(crate) fn only(&self, allowed: &[Param], operation: &str) -> Result<(), ApiError> {
        let given = [
            (Param::Subject, self.subject.is_some()),
            (Param::Ctx, self.ctx.is_some()),
            (Param::Id, self.id.is_some()),
            (Param::SkipLastUsedUpdate, self.skip_last_used_update),
            (Param::Credentials, self.credentials),
        ];
        match given
            .into_iter()
            .find(|(p, present)| *present && !allowed.contains(p))
        {
            Some((p, _)) => Err(ApiError::invalid_request(format!(
                "query parameter `{}` does not apply to {operation}",
                p.name()
            ))),
            None => Ok(()),
        }
    }
}

fn flag(param: Param, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid_request(format!(
            "query parameter `{}` must be `true` or `false`",
            param.name()
        ))),
    }
}

/// The version an `If-Match` header asks for: `None` without the header or
/// with `*`; the number inside a strong entity tag `"<version>"`.
///
/// Weak tags (`W/"3"`) never match under `If-Match`'s strong comparison, so
/// they are `412` like any stale tag; lists of several tags are refused
/// (this API only ever hands out one).
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<IfMatch>, ApiError> {
    let mut values = headers.get_all(header::IF_MATCH).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let malformed =
        || ApiError::invalid_request("`If-Match` must be `*` or one entity tag as sent in `ETag`");
    if values.next().is_some() {
        return Err(malformed());
    }
    let text = value.to_str().map_err(|_| malformed())?.trim();
    if text == "*" {
        return Ok(None);
    }
    if text.contains(',') {
        return Err(malformed());
    }
    if text.starts_with("W/") {
        return Ok(Some(IfMatch::NeverMatches));
    }
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map(|inner| {
            inner
                .parse::<u64>()
                .map_or(IfMatch::NeverMatches, IfMatch::Version)
        })
        .map(Some)
        .ok_or_else(malformed)
}

/// An integer field of a JSON body. JSON does not tell `360` from `360.0`,
/// and JSON Schema (so the OpenAPI document) counts both as the integer
/// 360, so a number written with a zero fraction is accepted too; one with
/// a fraction, or out of the `i64` range, is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Integer(pub(crate) i64);

impl<'de> serde::Deserialize<'de> for Integer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntegerVisitor)
    }
}

struct IntegerVisitor;

impl serde::de::Visitor<'_> for IntegerVisitor {
    type Value = Integer;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Integer, E> {
        Ok(Integer(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Integer, E> {
        i64::try_from(v)
            .map(Integer)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Integer, E> {
        // 2^63 is exact as an f64. -2^63 is left out too: serde_json reads
        // an integer below i64::MIN as a float, which rounds to -2^63.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if v.fract() == 0.0 && v > -LIMIT && v < LIMIT {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "whole and within the i64 range, checked above"
            )]
            Ok(Integer(v as i64))
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
        }
    }
}

/// A parsed `If-Match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// A strong tag carrying a version.
    Version(u64),
    /// A tag this server never issued (weak, or not a version): it matches
    /// no session.
    NeverMatches,
}

/// The `ETag` value of a session version.
pub(crate) fn etag(version: u64) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(is_json(&headers("content-type", &[ok])), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "application/",
        ] {
            assert!(!is_json(&headers("content-type", &[bad])), "{bad}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn if_match_forms() {
        let parse = |v: &[&str]| if_match(&headers("if-match", v));
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["*"]).unwrap(), None);
        assert_eq!(parse(&["\"7\""]).unwrap(), Some(IfMatch::Version(7)));
        assert_eq!(parse(&["W/\"7\""]).unwrap(), Some(IfMatch::NeverMatches));
        assert_eq!(parse(&["\"abc\""]).unwrap(), Some(IfMatch::NeverMatches));
        assert!(parse(&["7"]).is_err());
        assert!(parse(&["\"1\", \"2\""]).is_err());
        assert!(parse(&["\"1\"", "\"2\""]).is_err());
    }

    #[test]
    fn query_parameters_are_strict() {
        let parse = |q: &str| Params::parse(&format!("/x?{q}").parse::<Uri>().unwrap());
        let p = parse("subject=a%40b&ctx=web").unwrap();
        assert_eq!(p.subject.as_deref(), Some("a@b"));
        assert!(
            parse("skip_last_used_update=true")
                .unwrap()
                .skip_last_used_update
        );
        assert!(parse("skip_last_used_update=yes").is_err());
        assert!(parse("skip_last_update=true").is_err());
        assert!(parse("subject=a&subject=b").is_err());
        assert!(p.only(&[Param::Subject], "x").is_err());
        assert!(p.only(&[Param::Subject, Param::Ctx], "x").is_ok());
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        let parse = |text: &str| serde_json::from_str::<Integer>(text).map(|i| i.0);
        assert_eq!(parse("360").unwrap(), 360);
        assert_eq!(parse("360.0").unwrap(), 360);
        assert_eq!(parse("-1.0").unwrap(), -1);
        assert_eq!(parse("-1e3").unwrap(), -1000);
        // Parsed exactly (serde_json's float_roundtrip), not a fraction off.
        assert_eq!(
            parse("-2113652208574067.0").unwrap(),
            -2_113_652_208_574_067
        );
        assert_eq!(parse("-9223372036854775808").unwrap(), i64::MIN);
        assert_eq!(parse("9223372036854775807").unwrap(), i64::MAX);
        assert!(parse("360.5").is_err());
        assert!(parse("9223372036854775808").is_err());
        assert!(parse("9.3e18").is_err());
        assert!(parse("-9223372036854775809").is_err());
        assert!(parse("-9223372036854775809.0").is_err());
        assert!(parse("\"360\"").is_err());
        assert!(parse("true").is_err());
    }

    #[test]
    fn sid_header() {
        assert_eq!(sid(&HeaderMap::new()).unwrap(), None);
        assert_eq!(sid(&headers("sid", &["abc"])).unwrap(), Some("abc"));
        assert_eq!(
            sid(&headers("sid", &[""])).unwrap_err().code(),
            tessera_core::ErrorCode::MissingSid
        );
        assert!(sid(&headers("sid", &["a", "b"])).is_err());
    }
}
