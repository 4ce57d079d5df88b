//! Every refusal of the API, over real HTTP: its status, its code and the
//! `{"error", "error_description"}` shape. Authentication with each kind of
//! token, SID checks, body and header limits, backend failures.

mod api_support;

use std::sync::Arc;
use std::time::Duration;

use api_support::faults::{Failing, Failure, Gated};
use api_support::{CI_TOKEN, Options, SECONDARY_TOKEN, TOKEN, TestServer, expect_error, login};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_server::api::{ApiLimits, BASE_PATH};
use tessera_store::MemoryStore;

// ---- Authentication ----

#[tokio::test]
async fn every_bad_token_gets_the_same_401() {
    let server = TestServer::start().await;
    let url = server.api_url("/sessions?subject=alice");
    let truncated = &TOKEN[..TOKEN.len() - 1];
    let half = &TOKEN[..TOKEN.len() / 2];
    let mut almost = TOKEN.to_owned();
    almost.replace_range(TOKEN.len() - 1.., "X");
    let mut first_wrong = TOKEN.to_owned();
    first_wrong.replace_range(..1, "X");
    // Same length, no character in common with the real token.
    let wrong: String = TOKEN
        .chars()
        .map(|c| if c == '-' { '_' } else { '-' })
        .collect();
    let swapped_case: String = TOKEN
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    // What the configuration holds: a hash is not a token.
    let hash = tessera_crypto::TokenHash::of(TOKEN).to_hex();
    let attempts: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("authorization", format!("Bearer {wrong}"))],
        vec![("authorization", format!("Bearer {truncated}"))],
        vec![("authorization", format!("Bearer {half}"))],
        vec![("authorization", format!("Bearer {almost}"))],
        vec![("authorization", format!("Bearer {first_wrong}"))],
        vec![("authorization", format!("Bearer {swapped_case}"))],
        vec![("authorization", format!("Bearer {hash}"))],
        vec![("authorization", format!("Bearer {}", "t".repeat(8192)))],
        vec![("authorization", format!("Bearer {TOKEN}x"))],
        vec![("authorization", "Bearer ".to_owned())],
        vec![("authorization", "Bearer".to_owned())],
        vec![("authorization", format!("Basic {TOKEN}"))],
        vec![("authorization", TOKEN.to_owned())],
        vec![
            ("authorization", format!("Bearer {TOKEN}")),
            ("authorization", format!("Bearer {TOKEN}")),
        ],
    ];
    let mut bodies = Vec::new();
    for headers in attempts {
        let mut request = server.client.get(&url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"tessera\""
        );
        bodies.push(response.bytes().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "identical bodies");
    let body: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(body["error"], "invalid_token");
    server.stop().await;
}

#[tokio::test]
async fn primary_secondary_and_labelled_tokens_are_accepted() {
    let server = TestServer::start().await;
    for token in [TOKEN, SECONDARY_TOKEN, CI_TOKEN] {
        let response = server
            .client
            .get(server.api_url("/sessions?subject=alice"))
            .header("authorization", format!("bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{token}");
    }
    server.stop().await;
}

#[tokio::test]
async fn every_api_route_needs_a_token() {
    let server = TestServer::start().await;
    for route in tessera_server::api::routes() {
        let response = server
            .client
            .request(
                route.method.clone(),
                format!("{}{}", server.base, route.path),
            )
            .send()
            .await
            .unwrap();
        if route.authenticated {
            expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        } else {
            assert_eq!(response.status(), StatusCode::OK, "{}", route.path);
        }
    }
    server.stop().await;
}

// ---- SIDs ----

#[tokio::test]
async fn malformed_and_forged_sids_are_one_400() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(login("alice")).await;
    // The same key with another tag: the right shape, a wrong HMAC.
    let mut forged = sid.clone();
    let last = if sid.ends_with('A') { "Q" } else { "A" };
    forged.replace_range(sid.len() - 1.., last);
    let legacy = sid[..22].to_owned();
    let mut descriptions = Vec::new();
    for bad in [
        "abc",
        forged.as_str(),
        legacy.as_str(),
        &"!".repeat(45),
        &format!("{sid}A"),
        &sid.replace('.', "-"),
    ] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let mut request = server.api(method.clone(), "/sessions").header("SID", bad);
            if method == Method::PUT {
                request = request.json(&json!({"data": {}}));
            }
            let response = request.send().await.unwrap();
            descriptions.push(expect_error(response, StatusCode::BAD_REQUEST, "invalid_sid").await);
        }
    }
    assert!(
        descriptions.windows(2).all(|w| w[0] == w[1]),
        "one description whatever failed"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_valid_sid_without_a_session_is_404() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(login("alice")).await;
    server
        .api(Method::DELETE, "/sessions")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    expect_error(
        server.get_by_sid(&sid, "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let put = server
        .api(Method::PUT, "/sessions")
        .header("SID", &sid)
        .json(&json!({"data": {}}))
        .send()
        .await
        .unwrap();
    expect_error(put, StatusCode::NOT_FOUND, "not_found").await;
    server.stop().await;
}

#[tokio::test]
async fn a_missing_sid_is_400() {
    let server = TestServer::start().await;
    let get = server.api(Method::GET, "/sessions").send().await.unwrap();
    expect_error(get, StatusCode::BAD_REQUEST, "missing_sid").await;
    let put = server
        .api(Method::PUT, "/sessions")
        .json(&json!({"data": {}}))
        .send()
        .await
        .unwrap();
    expect_error(put, StatusCode::BAD_REQUEST, "missing_sid").await;
    let delete = server
        .api(Method::DELETE, "/sessions")
        .send()
        .await
        .unwrap();
    expect_error(delete, StatusCode::BAD_REQUEST, "missing_sid").await;
    let empty = server
        .api(Method::GET, "/sessions")
        .header("SID", "")
        .send()
        .await
        .unwrap();
    expect_error(empty, StatusCode::BAD_REQUEST, "missing_sid").await;
    server.stop().await;
}

// ---- Bodies ----

async fn post_raw(
    server: &TestServer,
    content_type: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut request = server.api(Method::POST, "/sessions").body(body.to_owned());
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn bad_json_unknown_fields_and_bad_values_are_400() {
    let server = TestServer::start().await;
    let json_type = Some("application/json");
    expect_error(
        post_raw(&server, json_type, "{\"sub\": ").await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    expect_error(
        post_raw(&server, json_type, "").await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    let unknown = expect_error(
        post_raw(&server, json_type, r#"{"sub": "a", "admin": true}"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(unknown.contains("unknown field `admin`"), "{unknown}");
    let missing = expect_error(
        post_raw(&server, json_type, "{}").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(missing.contains("sub"), "{missing}");
    for (body, field) in [
        (r#"{"sub": ""}"#, "sub"),
        (r#"{"sub": "a", "ctx": "has space"}"#, "ctx"),
        (r#"{"sub": "a", "max_life": 0}"#, "max_life"),
        (r#"{"sub": "a", "max_idle": 0}"#, "max_idle"),
        (r#"{"sub": "a", "auth_time": 99999999999}"#, "auth_time"),
    ] {
        let description = expect_error(
            post_raw(&server, json_type, body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(description.contains(field), "{body}: {description}");
    }
    // A value of the wrong type is not quoted back.
    let typed = expect_error(
        post_raw(
            &server,
            json_type,
            r#"{"sub": "a", "data": "do-not-echo-me"}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(!typed.contains("do-not-echo-me"), "{typed}");
    server.stop().await;
}

#[tokio::test]
async fn integer_fields_take_a_zero_fraction_but_no_other() {
    // JSON Schema, and so the OpenAPI document, counts 60.0 as the integer 60.
    let server = TestServer::start().await;
    let json_type = Some("application/json");
    let whole = format!(
        r#"{{"sub": "a", "auth_time": {}.0, "max_life": 60.0, "auth_life": -1.0, "max_idle": 3e1}}"#,
        api_support::START.as_secs()
    );
    let response = post_raw(&server, json_type, &whole).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["session"]["max_life"], 60);
    assert_eq!(created["session"]["auth_life"], -1);
    assert_eq!(created["session"]["max_idle"], 30);
    let refreshed = server
        .api(Method::PUT, "/sessions/subject-auth-life")
        .json(&json!({"sub": "a", "auth_time": 1_799_999_000.0, "auth_life": 90.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    for body in [
        r#"{"sub": "a", "max_life": 60.5}"#,
        r#"{"sub": "a", "auth_time": 1e30}"#,
        r#"{"sub": "a", "max_idle": "60"}"#,
    ] {
        let description = expect_error(
            post_raw(&server, json_type, body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(
            description.contains("expected an integer"),
            "{body}: {description}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn update_refuses_changed_read_only_and_unknown_fields() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(login("alice")).await;
    for body in [
        json!({"sub": "mallory"}),
        json!({"ctx": "admin"}),
        json!({"sub": null}),
        json!({"creation_time": 1}),
        json!({"credentials": "x"}),
    ] {
        let response = server
            .api(Method::PUT, "/sessions")
            .header("SID", &sid)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let got: Value = server.get_by_sid(&sid, "").await.json().await.unwrap();
    assert_eq!(got["sub"], "alice");
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let server = TestServer::start().await;
    let body = r#"{"sub": "a"}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        expect_error(
            post_raw(&server, content_type, body).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    assert_eq!(
        post_raw(&server, Some("application/json; charset=utf-8"), body)
            .await
            .status(),
        StatusCode::CREATED
    );
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_413_declared_or_streamed() {
    let limits = ApiLimits {
        max_body_bytes: 1024,
        ..ApiLimits::default()
    };
    let server = TestServer::with(Options {
        limits,
        ..Options::default()
    })
    .await;
    let big = json!({"sub": "a", "data": {"blob": "x".repeat(2048)}}).to_string();
    let declared = post_raw(&server, Some("application/json"), &big).await;
    let description = expect_error(declared, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    assert!(description.contains("1024"), "{description}");

    // Without a Content-Length (chunked), the body is cut off at the limit.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(256)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let streamed = server
        .api(Method::POST, "/sessions")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    expect_error(streamed, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;

    let small = json!({"sub": "a", "data": {"blob": "x".repeat(512)}});
    let ok = server
        .api(Method::POST, "/sessions")
        .json(&small)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    server.stop().await;
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let limits = ApiLimits {
        max_header_bytes: 2048,
        ..ApiLimits::default()
    };
    let server = TestServer::with(Options {
        limits,
        ..Options::default()
    })
    .await;
    let response = server
        .api(Method::GET, "/sessions?subject=a")
        .header("x-padding", "p".repeat(4096))
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    )
    .await;
    // Probes are limited too, and answer normally below the limit.
    let response = server
        .raw(Method::GET, "/healthz")
        .header("x-padding", "p".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let long_query = format!("/sessions?subject={}", "s".repeat(4096));
    let response = server.api(Method::GET, &long_query).send().await.unwrap();
    expect_error(response, StatusCode::URI_TOO_LONG, "uri_too_long").await;
    assert_eq!(
        server
            .raw(Method::GET, "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

// ---- Queries, routes and methods ----

#[tokio::test]
async fn query_mistakes_are_400() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(login("alice")).await;
    for query in [
        "?skip_last_update=true",
        "?skip_last_used_update=yes",
        "?credentials=1",
        "?id=abc",
        "?subject=alice&skip_last_used_update=true",
    ] {
        let response = server.get_by_sid(&sid, query).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    // A SID and a subject select different operations: refused, not guessed.
    let both = server
        .api(Method::GET, "/sessions?subject=alice")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    expect_error(both, StatusCode::BAD_REQUEST, "invalid_request").await;
    let both = server
        .api(Method::DELETE, "/sessions?subject=alice")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    expect_error(both, StatusCode::BAD_REQUEST, "invalid_request").await;
    let bad_id = server
        .api(Method::DELETE, "/sessions?id=not-an-id")
        .send()
        .await
        .unwrap();
    expect_error(bad_id, StatusCode::BAD_REQUEST, "invalid_request").await;
    let empty_subject = server
        .api(Method::GET, "/sessions?subject=")
        .send()
        .await
        .unwrap();
    expect_error(empty_subject, StatusCode::BAD_REQUEST, "invalid_request").await;
    let purge_query = server
        .api(Method::POST, "/purge?all=true")
        .send()
        .await
        .unwrap();
    expect_error(purge_query, StatusCode::BAD_REQUEST, "invalid_request").await;
    // The session was never touched by the refused requests.
    assert_eq!(server.get_by_sid(&sid, "").await.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_json() {
    let server = TestServer::start().await;
    let response = server
        .api(Method::GET, "/nothing-here")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = server.raw(Method::GET, "/").send().await.unwrap();
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = server.api(Method::PATCH, "/sessions").send().await.unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    for method in ["GET", "POST", "PUT", "DELETE"] {
        assert!(allow.contains(method), "{allow}");
    }
    let response = server.raw(Method::POST, "/healthz").send().await.unwrap();
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn bad_if_match_is_400() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(login("alice")).await;
    for tag in ["1", "\"1\", \"2\""] {
        let response = server
            .api(Method::PUT, "/sessions")
            .header("SID", &sid)
            .header("If-Match", tag)
            .json(&json!({"data": {}}))
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    server.stop().await;
}

// ---- Backend failures ----

#[tokio::test]
async fn a_backend_outage_is_503_with_retry_after_never_404() {
    let server = TestServer::with(Options {
        store: Arc::new(Failing(Failure::Unavailable)),
        ..Options::default()
    })
    .await;
    // A SID minted by a working server with the same keys: well-formed and
    // verified, so the failing store is really asked.
    let healthy = TestServer::start().await;
    let (sid, id, _) = healthy.create(login("alice")).await;
    healthy.stop().await;

    let requests = vec![
        server.api(Method::POST, "/sessions").json(&login("alice")),
        server.api(Method::GET, "/sessions").header("SID", &sid),
        server
            .api(Method::PUT, "/sessions")
            .header("SID", &sid)
            .json(&json!({"data": {}})),
        server.api(Method::DELETE, "/sessions").header("SID", &sid),
        server.api(Method::GET, "/sessions?subject=alice"),
        server.api(Method::DELETE, "/sessions?subject=alice"),
        server.api(Method::DELETE, &format!("/sessions?id={id}")),
        server
            .api(Method::PUT, "/sessions/subject-auth-life")
            .json(&json!({"sub": "alice"})),
        server.api(Method::POST, "/purge"),
        server.raw(Method::GET, "/readyz"),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["retry-after"], "1");
        expect_error(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "backend_unavailable",
        )
        .await;
    }
    // The process itself is up.
    assert_eq!(
        server
            .raw(Method::GET, "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test]
async fn a_backend_error_is_500_with_a_generic_description() {
    let server = TestServer::with(Options {
        store: Arc::new(Failing(Failure::Backend)),
        ..Options::default()
    })
    .await;
    let response = server
        .api(Method::POST, "/sessions")
        .json(&login("alice"))
        .send()
        .await
        .unwrap();
    let description =
        expect_error(response, StatusCode::INTERNAL_SERVER_ERROR, "backend_error").await;
    assert!(!description.contains("connection refused"), "{description}");
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_is_500_and_the_server_carries_on() {
    let server = TestServer::with(Options {
        store: Arc::new(Failing(Failure::Panic)),
        ..Options::default()
    })
    .await;
    for _ in 0..2 {
        let response = server
            .api(Method::POST, "/sessions")
            .json(&login("alice"))
            .send()
            .await
            .unwrap();
        expect_error(
            response,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
        )
        .await;
    }
    let health = server.raw(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_corrupt_record_is_500_and_keeps_its_content_private() {
    let store = Arc::new(MemoryStore::new());
    let server = TestServer::with(Options {
        store: store.clone(),
        ..Options::default()
    })
    .await;
    let (sid, id, _) = server.create(login("alice")).await;
    store.write_raw(
        &id.parse().unwrap(),
        b"{\"format\": 1, \"secret-claim\": ".to_vec(),
    );
    let response = server.get_by_sid(&sid, "").await;
    let description = expect_error(
        response,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    assert!(!description.contains("secret-claim"));
    server.stop().await;
}

#[tokio::test]
async fn a_slow_request_times_out_with_503_and_its_operation_completes() {
    let store = Arc::new(Gated::default());
    let server = TestServer::with(Options {
        store: store.clone(),
        limits: ApiLimits {
            request_timeout: Duration::from_millis(200),
            ..ApiLimits::default()
        },
        ..Options::default()
    })
    .await;
    let (sid, _, _) = server.create(login("alice")).await;
    server.clock.advance_millis(60_000);
    // The read waits at the gate until after the response has timed out.
    let response = server.get_by_sid(&sid, "").await;
    assert_eq!(response.headers()["retry-after"], "1");
    expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "timeout").await;
    store.release.notify_one();
    // The touch behind the timed-out request still happened.
    let mut last_used = Value::Null;
    for _ in 0..100 {
        let alice = tessera_core::Subject::new("alice").unwrap();
        let sessions = server.sessions.list(&alice, None).await.unwrap();
        last_used = serde_json::to_value(&sessions[0].session).unwrap()["last_used"].clone();
        if last_used == api_support::START.as_secs() + 60 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(last_used, api_support::START.as_secs() + 60);
    server.stop().await;
}

#[tokio::test]
async fn the_base_path_is_the_reference_one() {
    assert_eq!(BASE_PATH, "/session-store/rest/v2");
}

#[tokio::test]
async fn lifetimes_above_the_ceilings_are_refused_naming_the_field() {
    let mut options = Options::default();
    options.policy.max_lifetime = tessera_core::Lifetime::minutes_const(600);
    options.policy.ceilings = tessera_core::Ceilings {
        max_life: tessera_core::Lifetime::minutes_const(600),
        auth_life: tessera_core::Lifetime::minutes_const(43_200),
        max_idle: tessera_core::Lifetime::minutes_const(14_400),
    };
    let server = TestServer::with(options).await;
    for (body, field) in [
        (
            serde_json::json!({"sub": "ann", "max_life": -1}),
            "max_life",
        ),
        (
            serde_json::json!({"sub": "ann", "max_life": 601}),
            "max_life",
        ),
        (
            serde_json::json!({"sub": "ann", "auth_life": -1}),
            "auth_life",
        ),
        (
            serde_json::json!({"sub": "ann", "max_idle": -1}),
            "max_idle",
        ),
    ] {
        let response = server
            .api(Method::POST, "/sessions")
            .json(&body)
            .send()
            .await
            .unwrap();
        let description = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(description.contains(field), "{body}: {description}");
        assert!(description.contains("at most"), "{body}: {description}");
    }
    // Within the ceilings, and the defaults, are fine.
    server
        .create(serde_json::json!({"sub": "ann", "max_life": 600, "max_idle": 30}))
        .await;
    server.create(login("ann")).await;
    let response = server
        .api(Method::PUT, "/sessions/subject-auth-life")
        .json(&serde_json::json!({"sub": "ann", "auth_life": -1}))
        .send()
        .await
        .unwrap();
    let description = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(description.contains("auth_life"), "{description}");
    assert_eq!(
        server.sessions.count().await.unwrap(),
        2,
        "only the two within the ceilings"
    );
    server.stop().await;
}
