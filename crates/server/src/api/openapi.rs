//! Serves the OpenAPI document kept in the repository.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::OPENAPI_JSON;

/// `GET /session-store/rest/v2/openapi.json`.
pub(crate) async fn document() -> Response {
    let mut response = OPENAPI_JSON.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
