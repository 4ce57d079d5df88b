//! Prometheus metrics: the process-wide recorder, the metric names, and the
//! `/metrics` page.
//!
//! The recorder is installed once per process, the first time a router is
//! built, and every router shares it; that is what lets tests and embedders
//! build many routers. Labels are bounded: the route *template*, the method,
//! the status, a fixed set of reasons. No label or value carries a SID, a
//! subject or a token.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::Shared;

/// Requests answered, by `method`, `route` and `status`.
pub(crate) const REQUESTS: &str = "tessera_http_requests_total";
/// Request latency in seconds, by `method` and `route`.
pub(crate) const DURATION: &str = "tessera_http_request_duration_seconds";
/// Sessions created.
const CREATED: &str = "tessera_sessions_created_total";
/// Sessions ended, by `reason`: `logout` (DELETE with a SID), `admin` (by
/// id), `subject` (all of a subject).
const ENDED: &str = "tessera_sessions_ended_total";
/// Sessions closed to make room under the quota (`CLOSE_OLD_SESSION`).
const EVICTED: &str = "tessera_sessions_evicted_total";
/// Expired sessions removed by a purge.
const EXPIRED: &str = "tessera_sessions_expired_total";
/// Logins refused by the quota (`DENY_LOGIN`).
const QUOTA_DENIALS: &str = "tessera_quota_denials_total";
/// Stored records the record check refused (`outcome="refused"`: a MAC that
/// does not verify, a last use in the future, or no MAC while unsigned
/// records are refused) or served without a MAC (`outcome="unsigned"`,
/// while `acceptUnsignedRecords` is on), since start-up.
const RECORD_CHECKS: &str = "tessera_record_checks_total";
/// Backend failures, by `kind`: `unavailable`, `backend`, `corrupt`,
/// `newer_format`, `other`.
const BACKEND_ERRORS: &str = "tessera_backend_errors_total";
/// Requests refused for want of a valid bearer token.
const AUTH_FAILURES: &str = "tessera_auth_failures_total";

/// Whether the backend answered its last check (1) or not (0): checked at
/// each scrape of `/metrics` and at each `/readyz`. An alert on it sees an
/// outage that `up` (the scrape itself) cannot, since `/metrics` answers
/// whatever the backend does.
const BACKEND_UP: &str = "tessera_backend_up";
/// `/readyz` answers `503`: the backend did not answer its ping.
const READINESS_FAILURES: &str = "tessera_readiness_failures_total";
/// How long a scrape waits for the backend to answer its ping before it
/// reports the backend down (Prometheus's own scrape timeout is 10 s); at
/// most half the request timeout, so that the page is still served.
const BACKEND_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Connections refused because the server was at `server.max_connections`.
const CONNECTIONS_REFUSED: &str = "tessera_connections_refused_total";

/// Latency buckets, in seconds: 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The handle of the process-wide recorder, installing it on first use.
///
/// If another recorder was installed first (by an embedding application),
/// the API's metrics go to that one and `/metrics` renders an empty page
/// from a recorder of its own.
pub(crate) fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets_for_metric(Matcher::Full(DURATION.into()), BUCKETS)
            {
                Ok(b) => b,
                // Only an empty bucket list fails, and BUCKETS is not empty.
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics will not show the API's metrics"
                );
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "HTTP requests answered, by method, route and status."
    );
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "HTTP request latency, by method and route."
    );
    describe_counter!(CREATED, "Sessions created.");
    describe_counter!(
        ENDED,
        "Sessions ended by a request, by reason (logout, admin, subject)."
    );
    describe_counter!(
        EVICTED,
        "Sessions closed to make room under the per-subject quota."
    );
    describe_counter!(EXPIRED, "Expired sessions removed by a purge.");
    describe_counter!(
        QUOTA_DENIALS,
        "Logins refused because the subject's quota was exhausted."
    );
    describe_counter!(BACKEND_ERRORS, "Session backend failures, by kind.");
    describe_counter!(
        RECORD_CHECKS,
        "Stored records refused by the record check, or served unsigned, by outcome."
    );
    describe_counter!(
        AUTH_FAILURES,
        "Requests refused for want of a valid API token."
    );
    describe_gauge!(
        BACKEND_UP,
        "Whether the session backend answered its last check (1) or not (0)."
    );
    describe_counter!(
        READINESS_FAILURES,
        "Readiness checks (/readyz) answered 503 because the backend did not answer."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections refused because the server was at its connection limit."
    );
}

/// Counts one answered request.
pub(crate) fn request(method: &Method, route: &'static str, status: u16, seconds: f64) {
    let method = method_label(method);
    metrics::counter!(REQUESTS, "method" => method, "route" => route, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(DURATION, "method" => method, "route" => route).record(seconds);
}

/// A bounded label for a method: the standard ones by name, any other
/// (clients can send arbitrary tokens) as `OTHER`.
fn method_label(method: &Method) -> &'static str {
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::TRACE,
        Method::CONNECT,
    ]
    .into_iter()
    .zip([
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ])
    .find_map(|(m, name)| (m == method).then_some(name))
    .unwrap_or("OTHER")
}

pub(crate) fn created(evicted: usize) {
    metrics::counter!(CREATED).increment(1);
    if evicted > 0 {
        metrics::counter!(EVICTED).increment(evicted as u64);
    }
}

pub(crate) fn ended(reason: &'static str, count: usize) {
    if count > 0 {
        metrics::counter!(ENDED, "reason" => reason).increment(count as u64);
    }
}

pub(crate) fn expired(count: u64) {
    metrics::counter!(EXPIRED).increment(count);
}

pub(crate) fn quota_denied() {
    metrics::counter!(QUOTA_DENIALS).increment(1);
}

pub(crate) fn backend_error(kind: &'static str) {
    metrics::counter!(BACKEND_ERRORS, "kind" => kind).increment(1);
}

pub(crate) fn auth_failure() {
    metrics::counter!(AUTH_FAILURES).increment(1);
}

/// Records the outcome of a check of the backend (a `/readyz` or a scrape).
pub(crate) fn backend_checked(up: bool) {
    metrics::gauge!(BACKEND_UP).set(if up { 1.0 } else { 0.0 });
}

/// Counts one `/readyz` answered `503`.
pub(crate) fn readiness_failed() {
    metrics::counter!(READINESS_FAILURES).increment(1);
}

pub(crate) fn connection_refused() {
    metrics::counter!(CONNECTIONS_REFUSED).increment(1);
}

/// `GET /metrics`: the Prometheus text exposition; `401` without the
/// metrics token when one is configured (`server.metrics_token_sha256`).
pub(crate) async fn page(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if !super::auth::may_read_metrics(&state, &headers) {
        auth_failure();
        return super::error::ApiError::unauthorized().into_response();
    }
    let up = matches!(
        tokio::time::timeout(
            BACKEND_CHECK_LIMIT.min(state.limits.request_timeout / 2),
            state.sessions.ping()
        )
        .await,
        Ok(Ok(()))
    );
    backend_checked(up);
    let checks = state.sessions.record_checks();
    metrics::counter!(RECORD_CHECKS, "outcome" => "refused").absolute(checks.refused());
    metrics::counter!(RECORD_CHECKS, "outcome" => "unsigned").absolute(checks.unsigned());
    let handle = handle();
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_bounded() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let custom = Method::from_bytes(b"X-ANYTHING-A-CLIENT-SENDS").unwrap();
        assert_eq!(method_label(&custom), "OTHER");
    }
}
