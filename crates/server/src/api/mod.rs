//! The HTTP API: routes, errors, authentication, metrics and shutdown.
//!
//! Public for programs that serve the web API in-process on a `Sessions`
//! of their own (as the client's and the axum layer's tests do), and for
//! the fuzz targets; the `tessera` binary wires it from a configuration.
//!
//! The API is compatible with the reference session store web API: base path
//! [`BASE_PATH`], the SID in a `SID` request header, JSON errors of the form
//! `{"error": "<code>", "error_description": "<text>"}`. `docs/api.md` is the
//! reference for callers and `crates/server/openapi.json` the machine-readable
//! description, served at [`OPENAPI_PATH`].
//!
//! This module only translates between HTTP and the
//! [`Sessions`] service: it holds no session logic.
//! It never logs or echoes a SID, an API token, a password or credentials:
//! log lines carry the method, the route template, the status and the
//! latency, never headers, query strings or bodies.
//!
//! ```no_run
//! # async fn run(state: tessera_server::api::ApiState) -> std::io::Result<()> {
//! use tessera_server::api;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! api::serve(listener, api::router(state)).await // until SIGTERM or Ctrl-C
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use tessera_store::Sessions;

mod auth;
mod connections;
mod discard;
mod edge;
mod error;
mod extract;
mod health;
mod metrics;
mod openapi;
mod purge;
mod routes;
mod serve;
mod sessions;
mod subjects;
mod tls;
mod tokens;
mod view;

pub use routes::{RouteInfo, routes};
pub use serve::{
    ServeOptions, read_buffer_bytes, serve, serve_with_options, serve_with_shutdown,
    shutdown_signal,
};
pub use tls::{ServerTls, TlsSetupError};
pub use tokens::{LiveTokens, Tokens};

/// Counts the expired sessions a purge outside the API removed (the
/// periodic one), in the same metric as `POST /purge`.
pub(crate) fn record_purge(report: &tessera_store::PurgeReport) {
    metrics::expired(report.sessions);
}

/// The text of `/metrics` as it would be served now.
#[cfg(test)]
pub(crate) fn render_metrics() -> String {
    metrics::handle().render()
}

/// The base path of the session store API.
pub const BASE_PATH: &str = "/session-store/rest/v2";

/// Where the OpenAPI document is served (no token needed).
pub const OPENAPI_PATH: &str = "/session-store/rest/v2/openapi.json";

/// The OpenAPI 3 document describing every route, as kept in the repository
/// (`crates/server/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// What the API needs to answer requests.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The session service, over whichever backend is configured.
    pub sessions: Arc<Sessions>,
    /// The configured token hashes, replaceable while serving. With no API
    /// token, every API call is `401` (the probes, and `/metrics` unless it
    /// has a token of its own, still answer).
    pub tokens: Arc<LiveTokens>,
    /// Request size and time limits.
    pub limits: ApiLimits,
}

/// Request limits enforced by the API.
#[derive(Clone, Debug)]
pub struct ApiLimits {
    /// The largest request body accepted, in bytes; larger is `413`.
    pub max_body_bytes: usize,
    /// How long a request may take from the end of its headers to its
    /// response; longer is `503` with `Retry-After`. The store operation
    /// itself is never cut off half-way (see [`router`]).
    pub request_timeout: Duration,
    /// The largest total size of the request headers (names plus values), in
    /// bytes; larger is `431`. The request target (path and query) is held
    /// to the same limit; longer is `414`.
    pub max_header_bytes: usize,
}

impl Default for ApiLimits {
    /// 64 KiB of body, 10 seconds, 16 KiB of headers.
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
        }
    }
}

/// The state every handler sees: the [`ApiState`] behind one pointer.
#[derive(Debug, Clone)]
pub(crate) struct Shared(Arc<ApiState>);

impl std::ops::Deref for Shared {
    type Target = ApiState;
    fn deref(&self) -> &ApiState {
        &self.0
    }
}

/// Builds the API's router: every route of [`routes`], the bearer-token check
/// on the session store routes, and the middleware that applies the
/// [`ApiLimits`], logs, counts and turns every error into the JSON error
/// shape.
///
/// Each request's handler runs in a task of its own: when the request
/// timeout fires or the client goes away, the response is abandoned but the
/// store operation in progress still completes, so no operation is cut off
/// between two of its writes.
///
/// Installs the process-wide Prometheus recorder on first use; later calls
/// share it, so any number of routers can be built in one process.
pub fn router(state: ApiState) -> axum::Router {
    routes::build(Shared(Arc::new(state)))
}
