//! Legacy SIDs through the API: refused before any store access while
//! `acceptLegacySIDs` is off; looked up among imported sessions (and only
//! there) while it is on.

mod api_support;

use std::sync::Arc;

use api_support::faults::{Failing, Failure};
use api_support::{Options, START, TestServer, expect_error, login};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_crypto::LegacySids;
use tessera_store::{Imported, MemoryStore};

/// A token of the tokenizer's shape (`uuid4().hex`).
const LEGACY: &str = "9b2f6c1e0a7d4e3f8c5b2a1d0e9f8a7b";
/// A pre-HMAC SID of the reference store's shape (43 base64url characters).
const REFERENCE_LEGACY: &str = "_q3ZrP0wVYk2mL8sT1nB6xC4jH9gF5dE7aR2uW0oIyQ";

fn with_legacy(legacy_sids: LegacySids) -> Options {
    Options {
        legacy_sids,
        ..Options::default()
    }
}

fn imported_session(sub: &str) -> tessera_core::Session {
    let now = START.as_secs();
    serde_json::from_value(json!({
        "sub": sub, "ctx": "web",
        "creation_time": now - 600, "auth_time": now - 600, "last_used": now - 60,
        "max_life": 600, "auth_life": 600, "max_idle": 60,
        "data": {"cart": 3},
    }))
    .unwrap()
}

#[tokio::test]
async fn flag_off_refuses_legacy_sids_before_any_store_access() {
    // A store that fails every call: reaching it would be a 503.
    let server = TestServer::with(Options {
        store: Arc::new(Failing(Failure::Unavailable)),
        ..with_legacy(LegacySids::Reject)
    })
    .await;
    let malformed = expect_error(
        server.get_by_sid("abc", "").await,
        StatusCode::BAD_REQUEST,
        "invalid_sid",
    )
    .await;
    for legacy in [LEGACY, REFERENCE_LEGACY] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let mut request = server
                .api(method.clone(), "/sessions")
                .header("SID", legacy);
            if method == Method::PUT {
                request = request.json(&json!({"data": {}}));
            }
            let description = expect_error(
                request.send().await.unwrap(),
                StatusCode::BAD_REQUEST,
                "invalid_sid",
            )
            .await;
            assert_eq!(description, malformed, "the same body as a malformed SID");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn flag_on_looks_legacy_sids_up_in_the_store() {
    // The lookup happens (so a store outage is a 503, never a 404)...
    let failing = TestServer::with(Options {
        store: Arc::new(Failing(Failure::Unavailable)),
        ..with_legacy(LegacySids::Accept)
    })
    .await;
    let response = failing.get_by_sid(LEGACY, "").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    failing.stop().await;

    // ... and a forged legacy SID is one lookup and a 404.
    let server = TestServer::with(with_legacy(LegacySids::Accept)).await;
    for forged in [LEGACY, REFERENCE_LEGACY] {
        expect_error(
            server.get_by_sid(forged, "").await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_truncated_tessera_sid_reaches_nothing_with_the_flag_on() {
    let server = TestServer::with(with_legacy(LegacySids::Accept)).await;
    let (sid, _, _) = server.create(login("alice")).await;
    assert_eq!(server.get_by_sid(&sid, "").await.status(), StatusCode::OK);
    let key_part = &sid[..22];
    let response = server.get_by_sid(key_part, "").await;
    assert!(
        matches!(
            response.status(),
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST
        ),
        "{}",
        response.status()
    );
    server.stop().await;
}

#[tokio::test]
async fn an_imported_legacy_session_works_like_any_other() {
    let server = TestServer::with(Options {
        store: Arc::new(MemoryStore::new()),
        ..with_legacy(LegacySids::Accept)
    })
    .await;
    let outcome = server
        .sessions
        .import(
            LEGACY,
            imported_session("dave"),
            Some(br#"{"password":"pw"}"#),
        )
        .await
        .unwrap();
    assert!(outcome.legacy);
    assert!(matches!(outcome.imported, Imported::Created(_)));

    let response = server
        .get_by_sid(LEGACY, "?skip_last_used_update=true")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sub"], "dave");
    assert_eq!(body["id"], outcome.id.to_string());
    assert_eq!(body["creation_time"], START.as_secs() - 600);
    assert_eq!(body["last_used"], START.as_secs() - 60);
    assert_eq!(body["data"]["cart"], 3);
    // Another legacy SID of the same shape is still nothing.
    let other = LEGACY.replace('9', "8");
    expect_error(
        server.get_by_sid(&other, "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let response = server
        .api(Method::PUT, "/sessions")
        .header("SID", LEGACY)
        .json(&json!({"data": {"cart": 4}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["cart"], 4);

    let listed: Value = server
        .api(Method::GET, "/sessions?subject=dave")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed.to_string().matches("\"dave\"").count(),
        1,
        "{listed}"
    );

    let response = server
        .api(Method::DELETE, "/sessions")
        .header("SID", LEGACY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    expect_error(
        server.get_by_sid(LEGACY, "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    server.stop().await;
}
