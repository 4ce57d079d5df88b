//! The bearer-token check on the session store routes.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::error::ApiError;
use super::metrics;

/// Lets the request through only with `Authorization: Bearer <token>` whose
/// SHA-256 matches a configured hash.
///
/// Every refusal — no header, another scheme, an empty, truncated or wrong
/// token, two `Authorization` headers — gets the same `401` body, so a
/// caller learns nothing about how close it was. The comparison itself is
/// constant time ([`tessera_crypto::TokenVerifier::verify`]). The label of
/// the matching hash (`primary`, `secondary`, ...) is recorded in the
/// request's log span; the token never is.
pub(crate) async fn require_token(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let tokens = state.tokens.current();
    let Some(label) = presented(request.headers()).and_then(|t| tokens.api.verify(t)) else {
        metrics::auth_failure();
        return ApiError::unauthorized().into_response();
    };
    tracing::Span::current().record("token", tracing::field::display(label));
    drop(tokens);
    next.run(request).await
}

/// Whether a request may read `/metrics`: always when it has no token of
/// its own, else only with `Authorization: Bearer` of that token (an API
/// token is not accepted there, nor the metrics token on the API).
pub(crate) fn may_read_metrics(state: &Shared, headers: &HeaderMap) -> bool {
    let tokens = state.tokens.current();
    match &tokens.metrics {
        None => true,
        Some(verifier) => presented(headers).is_some_and(|t| verifier.verify(t).is_some()),
    }
}

/// The token of the one `Authorization: Bearer` header, if that is what the
/// request carries.
fn presented(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_one_bearer_header_yields_a_token() {
        assert_eq!(presented(&with(&["Bearer abc"])), Some("abc"));
        assert_eq!(presented(&with(&["bearer  abc"])), Some("abc"));
        assert_eq!(presented(&with(&["Basic abc"])), None);
        assert_eq!(presented(&with(&["Bearer"])), None);
        assert_eq!(presented(&with(&["Bearer a", "Bearer b"])), None);
        assert_eq!(presented(&with(&[])), None);
    }
}
