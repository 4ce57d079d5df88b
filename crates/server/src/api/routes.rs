//! The route table: the one list of what the API serves. The router is
//! built from it, the access log and metrics label requests with its paths,
//! and a test checks the OpenAPI document against it in both directions.

use axum::Router;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, get, post, put};

use super::{Shared, auth, edge, health, metrics, openapi, purge, sessions, subjects};

/// `/session-store/rest/v2` followed by `$path`, as a literal.
macro_rules! api_path {
    ($path:literal) => {
        concat!("/session-store/rest/v2", $path)
    };
}

/// One route.
struct Route {
    method: Method,
    path: &'static str,
    /// Whether a bearer token is required.
    authenticated: bool,
    handler: fn() -> MethodRouter<Shared>,
}

/// Every route the API serves.
fn table() -> [Route; 11] {
    let api = |method, path, handler| Route {
        method,
        path,
        authenticated: true,
        handler,
    };
    let open = |method, path, handler| Route {
        method,
        path,
        authenticated: false,
        handler,
    };
    [
        api(Method::POST, api_path!("/sessions"), || {
            post(sessions::create)
        }),
        api(Method::POST, api_path!("/sessions/pre-login"), || {
            post(sessions::create_pre_login)
        }),
        api(Method::GET, api_path!("/sessions"), || get(sessions::get)),
        api(Method::PUT, api_path!("/sessions"), || {
            put(sessions::update)
        }),
        api(Method::DELETE, api_path!("/sessions"), || {
            axum::routing::delete(sessions::delete)
        }),
        api(
            Method::PUT,
            api_path!("/sessions/subject-auth-life"),
            || put(subjects::auth_life),
        ),
        api(Method::POST, api_path!("/purge"), || post(purge::purge)),
        open(Method::GET, api_path!("/openapi.json"), || {
            get(openapi::document)
        }),
        open(Method::GET, "/healthz", || get(health::healthz)),
        open(Method::GET, "/readyz", || get(health::readyz)),
        open(Method::GET, "/metrics", || get(metrics::page)),
    ]
}

/// The route label of requests that matched no route (a label, not a
/// path: it cannot collide with one).
pub(crate) const UNMATCHED: &str = "unmatched";

/// A route the API serves, for documentation and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// The HTTP method.
    pub method: Method,
    /// The full path.
    pub path: &'static str,
    /// Whether the route needs `Authorization: Bearer`.
    pub authenticated: bool,
}

/// Every route the router from [`router`](super::router) serves (besides
/// the implicit `HEAD` for each `GET`).
pub fn routes() -> Vec<RouteInfo> {
    table()
        .into_iter()
        .map(|r| RouteInfo {
            method: r.method,
            path: r.path,
            authenticated: r.authenticated,
        })
        .collect()
}

/// The static label for a matched path (the table's own string, so metrics
/// labels are never built from request data).
pub(crate) fn label(matched: &str) -> &'static str {
    table()
        .into_iter()
        .find(|r| r.path == matched)
        .map_or(UNMATCHED, |r| r.path)
}

/// Whether a route label is one of the token-protected API routes.
pub(crate) fn is_api(label: &str) -> bool {
    label.starts_with(api_path!("/")) && label != api_path!("/openapi.json")
}

/// Builds the router from the table.
pub(super) fn build(state: Shared) -> Router {
    // Install the recorder before the first request is counted.
    drop(metrics::handle());
    let mut router = Router::new();
    for route in table() {
        let mut method_router = (route.handler)();
        if route.authenticated {
            method_router =
                method_router.route_layer(from_fn_with_state(state.clone(), auth::require_token));
        }
        router = router.route(route.path, method_router);
    }
    router
        .fallback(edge::not_found)
        .layer(from_fn_with_state(state.clone(), edge::edge))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_path_constants_agree_with_the_table() {
        assert_eq!(api_path!(""), super::super::BASE_PATH);
        assert_eq!(api_path!("/openapi.json"), super::super::OPENAPI_PATH);
        assert!(
            routes()
                .iter()
                .any(|r| r.path == super::super::OPENAPI_PATH)
        );
    }

    #[test]
    fn labels_come_from_the_table() {
        assert_eq!(label(api_path!("/sessions")), api_path!("/sessions"));
        assert_eq!(label("/anything"), UNMATCHED);
        assert!(is_api(api_path!("/purge")));
        assert!(!is_api("/metrics"));
        assert!(!is_api(api_path!("/openapi.json")));
    }
}
