//! The API's published contract: the OpenAPI document against the routes
//! actually served, the metrics page, and graceful shutdown.

mod api_support;

use std::collections::BTreeSet;
use std::sync::Arc;

use api_support::faults::Gated;
use api_support::{Options, TestServer, login};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_server::api::{OPENAPI_JSON, OPENAPI_PATH, routes};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
}

/// (method, path, needs a token) for every operation in the document.
fn documented() -> BTreeSet<(String, String, bool)> {
    let doc = document();
    let global_security = !doc["security"].as_array().unwrap().is_empty();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            let secured = operation
                .get("security")
                .map_or(global_security, |s| !s.as_array().unwrap().is_empty());
            out.insert((method.to_uppercase(), path.clone(), secured));
        }
    }
    out
}

fn served() -> BTreeSet<(String, String, bool)> {
    routes()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path.to_owned(), r.authenticated))
        .collect()
}

#[test]
fn the_document_describes_exactly_the_routes_served() {
    let documented = documented();
    let served = served();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && not_served.is_empty(),
        "served but not documented (or with other security): {undocumented:?}\n\
         documented but not served: {not_served:?}"
    );
}

#[test]
fn the_document_is_openapi_3_and_its_references_resolve() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Every $ref points at something that exists.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "dangling {reference}");
    }
    // Every operation documents its responses, and every API operation its
    // 401.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}");
            if operation.get("security").is_none() {
                assert!(responses.contains_key("401"), "{method} {path}");
            }
        }
    }
}

/// The `in.name` of every parameter of an operation, `$ref`s resolved.
fn parameter_names(doc: &Value, operation: &Value) -> BTreeSet<String> {
    operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let p = p["$ref"]
                .as_str()
                .map_or(p, |r| doc.pointer(r.strip_prefix('#').unwrap()).unwrap());
            format!(
                "{}.{}",
                p["in"].as_str().unwrap(),
                p["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn operation_by_id<'a>(doc: &'a Value, id: &str) -> Option<&'a Value> {
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .find(|op| op["operationId"] == id)
}

#[test]
fn parameter_sets_name_exactly_the_operation_parameters() {
    // `x-parameter-sets` tells which parameters select which of the
    // operations sharing a path and method; a validator relies on it, so
    // it must cover every parameter and name no other.
    let doc = document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(sets) = operation.get("x-parameter-sets") else {
                continue;
            };
            let declared = parameter_names(&doc, operation);
            let mut named = BTreeSet::new();
            for set in sets.as_array().unwrap() {
                let required = set["required"].as_array().unwrap();
                assert!(
                    !required.is_empty(),
                    "{method} {path}: a set selects by something"
                );
                for name in required.iter().chain(set["optional"].as_array().unwrap()) {
                    named.insert(name.as_str().unwrap().to_owned());
                }
            }
            assert_eq!(named, declared, "{method} {path}");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 3,
        "GET, PUT and DELETE /sessions have parameter sets"
    );
}

#[test]
fn links_lead_to_operations_and_parameters_that_exist() {
    let doc = document();
    let created = &doc["paths"]["/session-store/rest/v2/sessions"]["post"]["responses"]["201"];
    let links = created["links"].as_object().unwrap();
    let mut targets = BTreeSet::new();
    for (name, link) in links {
        let id = link["operationId"].as_str().unwrap();
        let target = operation_by_id(&doc, id).unwrap_or_else(|| panic!("{name}: no {id}"));
        let declared = parameter_names(&doc, target);
        for (parameter, expression) in link["parameters"].as_object().unwrap() {
            assert!(
                declared.contains(parameter),
                "{name}: {id} has no {parameter}"
            );
            let expression = expression.as_str().unwrap();
            assert!(
                expression.starts_with("$response.body#/") || expression == "$response.header.ETag",
                "{name}: {expression}"
            );
        }
        targets.insert(id);
    }
    assert_eq!(
        targets,
        BTreeSet::from(["endSessions", "getSessionOrList", "updateSession"]),
        "a created session can be read, updated and ended by following links"
    );
}

#[test]
fn the_documented_limits_are_the_code_limits() {
    let doc = document();
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    assert_eq!(
        schema("Subject")["maxLength"],
        tessera_core::Subject::MAX_LEN
    );
    assert_eq!(schema("Subject")["minLength"], 1);
    assert_eq!(
        schema("Context")["pattern"],
        format!("^[A-Za-z0-9._:-]{{1,{}}}$", tessera_core::Context::MAX_LEN)
    );
    assert_eq!(
        schema("Lifetime")["maximum"],
        tessera_core::Lifetime::MAX_MINUTES
    );
    assert_eq!(schema("Lifetime")["not"], json!({"const": 0}));
    // A SID is two 22-character halves and a dot; a legacy SID 20 to 128
    // characters of its own alphabet.
    let half = (tessera_crypto::SID_LEN - 1) / 2;
    let pattern = schema("Sid")["pattern"].as_str().unwrap().to_owned();
    assert_eq!(
        pattern,
        format!(
            "^(?:[A-Za-z0-9_-]{{{0}}}[AEIMQUYcgkosw048]\\.[A-Za-z0-9_-]{{{0}}}[AEIMQUYcgkosw048]|[A-Za-z0-9._-]{{{1},{2}}})$",
            half - 1,
            tessera_crypto::LEGACY_SID_MIN_LEN,
            tessera_crypto::LEGACY_SID_MAX_LEN
        )
    );
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    out.push(v.as_str().unwrap().to_owned());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_documented_route_is_answered_and_the_document_is_served() {
    let server = TestServer::start().await;
    for (method, path, _) in documented() {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = server
            .client
            .request(method.clone(), format!("{}{path}", server.base))
            .bearer_auth(api_support::TOKEN)
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
    }
    let response = server.raw(Method::GET, OPENAPI_PATH).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), OPENAPI_JSON);
    server.stop().await;
}

#[tokio::test]
async fn probes_answer_without_a_token() {
    let server = TestServer::start().await;
    let health: Value = server
        .raw(Method::GET, "/healthz")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));
    let ready = server.raw(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_sessions_and_refusals() {
    let server = TestServer::with(Options::quota(
        1,
        tessera_core::OnQuotaExhaustion::DenyLogin,
    ))
    .await;
    let (sid, _, _) = server.create(login("metrics-subject")).await;
    server.get_by_sid(&sid, "").await;
    let denied = server
        .api(Method::POST, "/sessions")
        .json(&login("metrics-subject"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::CONFLICT);
    server
        .client
        .get(server.api_url("/sessions"))
        .send()
        .await
        .unwrap();
    server
        .api(Method::DELETE, "/sessions")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();

    let response = server.raw(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let page = response.text().await.unwrap();
    for expected in [
        "tessera_http_requests_total{method=\"POST\",route=\"/session-store/rest/v2/sessions\",status=\"201\"}",
        "tessera_http_requests_total{method=\"POST\",route=\"/session-store/rest/v2/sessions\",status=\"409\"}",
        "tessera_http_requests_total{method=\"GET\",route=\"/session-store/rest/v2/sessions\",status=\"401\"}",
        "tessera_http_request_duration_seconds_bucket{method=\"GET\",route=\"/session-store/rest/v2/sessions\",le=\"0.005\"}",
        "tessera_sessions_created_total",
        "tessera_sessions_ended_total{reason=\"logout\"}",
        "tessera_quota_denials_total",
        "tessera_auth_failures_total",
        "tessera_backend_up 1",
    ] {
        assert!(page.contains(expected), "missing {expected} in\n{page}");
    }
    assert!(!page.contains(&sid));
    assert!(!page.contains("metrics-subject"), "no subject in labels");
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight() {
    let store = Arc::new(Gated::default());
    let server = TestServer::with(Options {
        store: store.clone(),
        ..Options::default()
    })
    .await;
    let (sid, _, _) = server.create(login("alice")).await;
    let base = server.base.clone();

    // A read that waits at the store's gate, in flight during shutdown.
    let in_flight = tokio::spawn(
        server
            .api(Method::GET, "/sessions")
            .header("SID", &sid)
            .send(),
    );
    store.entered.notified().await;
    let stopped = server.begin_stop();

    // New connections are refused once the server stops accepting.
    let mut refused = false;
    for _ in 0..200 {
        let fresh = reqwest::Client::new();
        if fresh.get(format!("{base}/healthz")).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener still accepts after shutdown began");
    assert!(
        !stopped.is_finished(),
        "the server waits for the request in flight"
    );

    store.release.notify_one();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sub"], "alice");
    stopped.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_waits_for_the_operation_of_a_timed_out_request() {
    let store = Arc::new(Gated::default());
    let server = TestServer::with(Options {
        store: store.clone(),
        limits: tessera_server::api::ApiLimits {
            request_timeout: std::time::Duration::from_millis(100),
            ..tessera_server::api::ApiLimits::default()
        },
        ..Options::default()
    })
    .await;
    let (sid, _, _) = server.create(login("alice")).await;
    server.clock.advance_millis(60_000);
    let response = server.get_by_sid(&sid, "").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let sessions = server.sessions.clone();

    // The connection is done; only the detached operation is left.
    let stopped = server.begin_stop();
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(!stopped.is_finished(), "shutdown waits for the operation");
    store.release.notify_one();
    stopped.await.unwrap().unwrap();

    let alice = tessera_core::Subject::new("alice").unwrap();
    let listed = sessions.list(&alice, None).await.unwrap();
    assert_eq!(
        listed[0].session.last_used,
        api_support::START.plus_millis(60_000),
        "the touch landed before the server stopped"
    );
}
