//! The middleware every request passes: header-size limit, request timeout,
//! the JSON error shape for responses made outside the handlers, the access
//! log and the request metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;
use tracing::field::Empty;

use tessera_core::ErrorCode;

use super::error::ApiError;
use super::extract::BodyDeadline;
use super::{Shared, metrics, routes};

/// Wraps one request.
///
/// The log span carries the method and the route *template* (never the URI,
/// whose query may name a subject, nor any header); the closing event adds
/// the status, the error code if any, and the latency. Probes and
/// `/metrics` log at `DEBUG`, API calls at `INFO`.
pub(crate) async fn edge(
    State(state): State<Shared>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = matched
        .as_ref()
        .map_or(routes::UNMATCHED, |m| routes::label(m.as_str()));
    let span = tracing::info_span!("request", method = %method, route = %route, token = Empty);

    let mut response = async {
        let limit = state.limits.max_header_bytes;
        if let Err(e) = check_target(request.uri(), limit)
            .and_then(|()| check_headers(request.headers(), limit))
        {
            return e.into_response();
        }
        // The handler runs in its own task so that neither the timeout nor
        // a client hanging up cancels a store operation half-way; shutdown
        // waits for it through the guard.
        let deadline = tokio::time::Instant::now() + state.limits.request_timeout;
        request.extensions_mut().insert(BodyDeadline(deadline));
        let tracker = request.extensions().get::<TaskTracker>().cloned();
        let task = async move { next.run(request).await }.in_current_span();
        let handler = match tracker {
            Some(tracker) => tracker.spawn(task),
            None => tokio::spawn(task),
        };
        match tokio::time::timeout_at(deadline, handler).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => {
                tracing::error!("request handler failed");
                ApiError::internal().into_response()
            }
            Err(_) => {
                tracing::warn!("request timed out; the operation continues in the background");
                ApiError::timeout().into_response()
            }
        }
    }
    .instrument(span.clone())
    .await;

    if is_plain_error(&response) {
        response = with_json_body(&response);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));

    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    let error = response.extensions().get::<ErrorCode>().map(|c| c.as_str());
    let latency_ms = format_args!("{:.3}", seconds * 1000.0);
    span.in_scope(|| {
        if routes::is_api(route) {
            tracing::info!(status, error, %latency_ms, "request");
        } else {
            tracing::debug!(status, error, %latency_ms, "request");
        }
    });
    metrics::request(&method, route, status, seconds);
    response
}

/// Refuses a request target (path and query) longer than the header
/// limit: the request line is part of the head the limit is about.
fn check_target(uri: &Uri, limit: usize) -> Result<(), ApiError> {
    let size = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if size > limit {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            ErrorCode::UriTooLong,
            format!("the request target is longer than the limit of {limit} bytes"),
        ));
    }
    Ok(())
}

/// Refuses requests whose headers (names and values) add up to more than
/// `limit` bytes, before any of them is interpreted.
fn check_headers(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > limit {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::HeadersTooLarge,
            format!("the request headers are larger than the limit of {limit} bytes"),
        ));
    }
    Ok(())
}

/// An error status produced outside the handlers (the router's `405`), so
/// without the JSON body.
fn is_plain_error(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && response.extensions().get::<ErrorCode>().is_none()
}

/// Replaces the body of such a response with the JSON error shape, keeping
/// its `Allow` header.
fn with_json_body(response: &Response) -> Response {
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut replaced = ApiError::for_status(response.status()).into_response();
    if let Some(allow) = allow {
        replaced.headers_mut().insert(header::ALLOW, allow);
    }
    replaced
}

/// The answer for paths that match no route.
pub(crate) async fn not_found() -> Response {
    ApiError::for_status(StatusCode::NOT_FOUND).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_size_counts_names_and_values() {
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1234567"));
        assert!(check_headers(&h, 10).is_ok());
        assert!(check_headers(&h, 9).is_err());
    }

    #[test]
    fn target_size_counts_path_and_query() {
        let uri: Uri = "/a?b=c".parse().unwrap();
        assert!(check_target(&uri, 6).is_ok());
        assert!(check_target(&uri, 5).is_err());
    }
}
