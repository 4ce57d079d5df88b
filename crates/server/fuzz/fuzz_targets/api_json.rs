//! Any bytes as the JSON body of the API's three body-taking routes —
//! `POST /sessions`, `PUT /sessions` (on a live session) and
//! `PUT /sessions/subject-auth-life` — driven through the real router on a
//! memory store: no panic, never a 5xx other than 503, and every error in
//! the API's JSON error shape.
//!
//! Each input gets a fresh store, so runs are reproducible and the store
//! does not grow over a long run.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use tessera_core::Timestamp;
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{MasterKeys, SafePassword, TokenHash, TokenVerifier};
use tessera_server::api::{self, ApiLimits, ApiState, BASE_PATH};
use tessera_store::testkit::MockClock;
use tessera_store::{MemoryStore, Sessions, SessionsConfig};
use tower::ServiceExt as _;

const TOKEN: &str = "fuzzing-only-token-4vK9qLm2Xr7Tz1Wp8Yd3Nb6Hc";

/// Derived once: 600,000 PBKDF2 rounds per input would be all the fuzzer did.
fn keys() -> &'static MasterKeys {
    static KEYS: OnceLock<MasterKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        MasterKeys::derive(
            &SafePassword::new("fuzzing-only-Xq7!r2#Lp9zW").expect("strong"),
            &[],
        )
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fn router() -> axum::Router {
    let sessions = Sessions::new(
        Arc::new(MemoryStore::new()),
        SessionsConfig::default(),
        keys(),
        Arc::new(MockClock::new(Timestamp::from_secs(1_800_000_000))),
        Arc::new(SeededRandom::new(b"api_json")),
    );
    api::router(ApiState {
        sessions: Arc::new(sessions),
        tokens: Arc::new(
            TokenVerifier::new([("primary".to_owned(), TokenHash::of(TOKEN))]).into(),
        ),
        limits: ApiLimits::default(),
    })
}

fn request(method: Method, path: &str, sid: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{BASE_PATH}{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(sid) = sid {
        builder = builder.header("SID", sid);
    }
    builder.body(Body::from(body)).expect("a valid request")
}

/// Sends `request`; checks the status and, for errors, the body's shape.
async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let what = format!("{} {}", request.method(), request.uri().path());
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a response body")
        .to_vec();
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "{what} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    if status.is_client_error() || status.is_server_error() {
        let error: serde_json::Value =
            serde_json::from_slice(&body).expect("an error body is JSON");
        assert!(error["error"].is_string(), "{what}: {error}");
        assert!(error["error_description"].is_string(), "{what}: {error}");
    }
    (status, body)
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        let router = router();
        let (status, body) = send(
            &router,
            request(
                Method::POST,
                "/sessions",
                None,
                br#"{"sub":"fuzz"}"#.to_vec(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let created: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let sid = created["sid"].as_str().expect("a SID").to_owned();

        send(
            &router,
            request(Method::POST, "/sessions", None, data.to_vec()),
        )
        .await;
        send(
            &router,
            request(Method::PUT, "/sessions", Some(&sid), data.to_vec()),
        )
        .await;
        send(
            &router,
            request(
                Method::PUT,
                "/sessions/subject-auth-life",
                None,
                data.to_vec(),
            ),
        )
        .await;
    });
});
