//! The reference API's round trip: a client GETs a session, changes its
//! `data`, and PUTs the whole object back. Through the server, on every
//! backend: the memory store, the local folder, Redis and DynamoDB.

mod api_support;

use std::sync::Arc;
use tessera_store::testkit::{service_env, unique};

use api_support::{Options, TestServer, expect_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::{MemoryStore, SessionStore};
use tessera_store_dynamodb::{DynamoDbConfig, DynamoDbStore, create_table};
use tessera_store_local::{LocalConfig, LocalStore};
use tessera_store_redis::{RedisConfig, RedisStore};

async fn redis() -> Arc<dyn SessionStore> {
    let mut config = RedisConfig::from_url(service_env("TESSERA_TEST_REDIS_URL"));
    config.key_prefix = format!("{}:", unique("redis"));
    Arc::new(RedisStore::open(&config).await.expect("connect to Redis"))
}

async fn dynamodb() -> Arc<dyn SessionStore> {
    let mut config = DynamoDbConfig::new(unique("table"));
    config.endpoint_url = Some(service_env("TESSERA_TEST_DYNAMODB_ENDPOINT"));
    config.aws_region_name = Some("us-east-1".into());
    config.aws_access_key = Some("testing".into());
    config.aws_secret_key = Some("testing".into());
    create_table(&config).await.expect("create table");
    Arc::new(DynamoDbStore::open(&config).await.expect("connect"))
}

/// GET → change `data` → PUT the whole object → GET shows the change; a
/// changed read-only field is refused naming it, and changes nothing.
async fn round_trip(store: Arc<dyn SessionStore>) {
    let server = TestServer::with(Options {
        store,
        ..Options::default()
    })
    .await;
    let (sid, _, _) = server
        .create(json!({
            "sub": "alice",
            "max_life": 600,
            "amr": ["pwd"],
            "claims": {"email": "alice@example.com"},
            "data": {"theme": "dark"},
        }))
        .await;
    server.clock.advance_minutes(1);

    let mut session: Value = server.get_by_sid(&sid, "").await.json().await.unwrap();
    session["data"]["theme"] = json!("light");
    session["data"]["lang"] = json!("fr");
    // A client's copy of `last_used` is stale as soon as anyone reads the
    // session: it is accepted whatever it says.
    server.clock.advance_minutes(1);
    server.get_by_sid(&sid, "").await;
    let response = server
        .api(Method::PUT, "/sessions")
        .header("SID", &sid)
        .json(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );

    let after: Value = server.get_by_sid(&sid, "").await.json().await.unwrap();
    assert_eq!(after["data"], json!({"theme": "light", "lang": "fr"}));
    assert_eq!(after["claims"], session["claims"]);
    for field in [
        "sub",
        "ctx",
        "creation_time",
        "auth_time",
        "max_life",
        "max_idle",
    ] {
        assert_eq!(after[field], session[field], "{field}");
    }

    // Each read-only field, changed, is refused with its name.
    for (field, value) in [
        ("sub", json!("mallory")),
        ("ctx", json!("device")),
        ("creation_time", json!(1)),
        ("auth_time", json!(2)),
        ("max_life", json!(-1)),
        ("auth_life", json!(5)),
        ("max_idle", json!(7)),
        ("id", json!("0000-0000")),
    ] {
        let mut changed = after.clone();
        changed[field] = value;
        changed["data"] = json!({"theme": "changed"});
        let response = server
            .api(Method::PUT, "/sessions")
            .header("SID", &sid)
            .json(&changed)
            .send()
            .await
            .unwrap();
        let description = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            description.starts_with(&format!("invalid {field}: is read-only")),
            "{field}: {description}"
        );
    }
    let last: Value = server.get_by_sid(&sid, "").await.json().await.unwrap();
    assert_eq!(last["data"], json!({"theme": "light", "lang": "fr"}));
    server.stop().await;
}

#[tokio::test]
async fn round_trip_on_the_memory_store() {
    round_trip(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn round_trip_on_the_local_store() {
    let folder = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&LocalConfig::new(folder.path().join("sessions")))
        .await
        .unwrap();
    round_trip(Arc::new(store)).await;
}

#[tokio::test]
async fn round_trip_on_redis() {
    round_trip(redis().await).await;
}

#[tokio::test]
async fn round_trip_on_dynamodb() {
    round_trip(dynamodb().await).await;
}
