//! Pre-login sessions over real HTTP: started without a subject, used and
//! changed like any session, then carried into a login under a new SID
//! that ends them.

mod api_support;

use api_support::{Options, TestServer, expect_error, login};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_core::OnQuotaExhaustion;

async fn pre_login(server: &TestServer, body: Value) -> (String, Value) {
    let response = server
        .api(Method::POST, "/sessions/pre-login")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let answer: Value = response.json().await.unwrap();
    (answer["sid"].as_str().unwrap().to_owned(), answer)
}

async fn sign_in(server: &TestServer, sid: &str, body: Value) -> reqwest::Response {
    server
        .api(Method::POST, "/sessions")
        .header("Pre-Login-SID", sid)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_cart_is_carried_across_login_and_the_old_sid_dies() {
    let server = TestServer::start().await;
    let (sid, answer) = pre_login(&server, json!({"data": {"cart": [42]}})).await;
    assert_eq!(answer["pre_login"], true);
    assert_eq!(answer["closed"], json!([]));
    let session = &answer["session"];
    assert_eq!(session["sub"], "");
    assert_eq!(session["max_idle"], 30, "the pre-login default");
    assert_eq!(session["max_life"], 1440);
    assert_eq!(session["auth_life"], -1);

    // Used and changed like any session.
    let read = server.get_by_sid(&sid, "").await;
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["pre_login"], true);
    let put = server
        .api(Method::PUT, "/sessions")
        .header("SID", &sid)
        .header("If-Match", "\"1\"")
        .json(&json!({"data": {"cart": [42, 7], "return_to": "/checkout"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);

    let response = sign_in(
        &server,
        &sid,
        json!({"sub": "alice", "data": {"return_to": "/done"}}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let signed_in: Value = response.json().await.unwrap();
    assert!(signed_in.get("pre_login").is_none());
    let new_sid = signed_in["sid"].as_str().unwrap();
    assert_ne!(new_sid, sid);
    assert_eq!(signed_in["session"]["sub"], "alice");
    assert_eq!(
        signed_in["session"]["data"],
        json!({"cart": [42, 7], "return_to": "/done"})
    );
    assert_eq!(
        signed_in["session"]["max_idle"], 14_400,
        "the login's own lifetimes"
    );

    expect_error(
        server.get_by_sid(&sid, "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        sign_in(&server, &sid, login("mallory")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let listed: Value = server
        .api(Method::GET, "/sessions?subject=alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn only_a_pre_login_session_of_the_same_context_is_carried() {
    let server = TestServer::start().await;
    let (signed_in, _, _) = server.create(login("bob")).await;
    let description = expect_error(
        sign_in(&server, &signed_in, login("bob")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(description.contains("pre-login"), "{description}");
    assert_eq!(
        server.get_by_sid(&signed_in, "").await.status(),
        StatusCode::OK
    );

    let (mobile, _) = pre_login(&server, json!({"ctx": "mobile"})).await;
    expect_error(
        sign_in(&server, &mobile, login("bob")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let carried = sign_in(&server, &mobile, json!({"sub": "bob", "ctx": "mobile"})).await;
    assert_eq!(carried.status(), StatusCode::CREATED);

    expect_error(
        sign_in(&server, "not-a-sid", login("bob")).await,
        StatusCode::BAD_REQUEST,
        "invalid_sid",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn pre_login_bodies_are_checked_and_lifetimes_bounded() {
    let server = TestServer::start().await;
    let (_, answer) = pre_login(&server, json!({"max_idle": 5, "max_life": 60})).await;
    assert_eq!(answer["session"]["max_idle"], 5);
    for (body, field) in [
        (json!({"sub": "alice"}), "sub"),
        (json!({"max_idle": 0}), "max_idle"),
        (json!({"ctx": "bad ctx"}), "ctx"),
    ] {
        let response = server
            .api(Method::POST, "/sessions/pre-login")
            .json(&body)
            .send()
            .await
            .unwrap();
        let description = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(description.contains(field), "{field}: {description}");
    }
    // No subject to name: an empty `sub` is no way into a login.
    expect_error(
        server
            .api(Method::POST, "/sessions")
            .json(&json!({"sub": ""}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_login_refused_by_the_quota_keeps_the_pre_login_session() {
    let server = TestServer::with(Options::quota(1, OnQuotaExhaustion::DenyLogin)).await;
    server.create(login("carol")).await;
    let (sid, _) = pre_login(&server, json!({"data": {"cart": [1]}})).await;
    expect_error(
        sign_in(&server, &sid, login("carol")).await,
        StatusCode::CONFLICT,
        "quota_exhausted",
    )
    .await;
    let kept: Value = server.get_by_sid(&sid, "").await.json().await.unwrap();
    assert_eq!(kept["data"], json!({"cart": [1]}));
    server.stop().await;
}

#[tokio::test]
async fn a_sid_header_on_a_create_is_ignored_as_in_the_reference() {
    let server = TestServer::start().await;
    let (sid, _) = pre_login(&server, json!({"data": {"cart": [9]}})).await;
    let response = server
        .api(Method::POST, "/sessions")
        .header("SID", &sid)
        .json(&login("erin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert!(created["session"].get("data").is_none(), "nothing carried");
    assert_eq!(server.get_by_sid(&sid, "").await.status(), StatusCode::OK);
    let empty = server
        .api(Method::POST, "/sessions")
        .header("Pre-Login-SID", "")
        .json(&login("erin"))
        .send()
        .await
        .unwrap();
    expect_error(empty, StatusCode::BAD_REQUEST, "invalid_request").await;
    server.stop().await;
}
