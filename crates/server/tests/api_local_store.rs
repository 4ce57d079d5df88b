//! The API over the local folder store, the embedded default's backend:
//! the life cycle, compare-and-set under concurrency, and two servers
//! sharing one folder that see each other's sessions and keep the quota
//! together.

mod api_support;

use std::sync::Arc;
use std::time::Duration;

use api_support::{Options, TestServer, login};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_core::OnQuotaExhaustion;
use tessera_store_local::{LocalConfig, LocalStore};

async fn local_store(path: &std::path::Path) -> Arc<LocalStore> {
    let mut config = LocalConfig::new(path);
    config.touch_window = Duration::ZERO;
    Arc::new(LocalStore::open(&config).await.unwrap())
}

async fn server_on(store: Arc<LocalStore>, quota: Option<(i64, OnQuotaExhaustion)>) -> TestServer {
    let mut options = match quota {
        Some((n, on)) => Options::quota(n, on),
        None => Options::default(),
    };
    options.store = store;
    TestServer::with(options).await
}

#[tokio::test]
async fn life_cycle_on_the_local_store() {
    let folder = tempfile::tempdir().unwrap();
    let server = server_on(local_store(folder.path()).await, None).await;
    let (sid, id, _) = server
        .create(json!({
            "sub": "alice",
            "max_idle": 5,
            "data": {"n": 0},
            "credentials": "s3cret",
        }))
        .await;

    server.clock.advance_millis(60_000);
    let response = server.get_by_sid(&sid, "?credentials=true").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let got: Value = response.json().await.unwrap();
    assert_eq!(got["credentials"], "s3cret");
    assert_eq!(got["last_used"], api_support::START.as_secs() + 60);

    let updated = server
        .api(Method::PUT, "/sessions")
        .header("SID", &sid)
        .header("If-Match", "\"1\"")
        .json(&json!({"data": {"n": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.headers()["etag"], "\"2\"");

    let listed: Value = server
        .api(Method::GET, "/sessions?subject=alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["session"]["data"]["n"], 1);

    // Idle past max_idle: gone, and purge removes the file.
    let (short, _, _) = server.create(json!({"sub": "bob", "max_idle": 1})).await;
    server.clock.advance_millis(2 * 60_000);
    let report: Value = server
        .api(Method::POST, "/purge")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["sessions"], 1);
    assert_eq!(
        server.get_by_sid(&short, "").await.status(),
        StatusCode::NOT_FOUND
    );

    let ended = server
        .api(Method::DELETE, "/sessions")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::OK);
    assert_eq!(
        server.get_by_sid(&sid, "").await.status(),
        StatusCode::NOT_FOUND
    );
    server.stop().await;
}

#[tokio::test]
async fn concurrent_puts_with_one_etag_on_the_local_store() {
    let folder = tempfile::tempdir().unwrap();
    let server = server_on(local_store(folder.path()).await, None).await;
    let (sid, _, _) = server.create(login("carol")).await;
    let requests = (0..100).map(|i| {
        server
            .api(Method::PUT, "/sessions")
            .header("SID", &sid)
            .header("If-Match", "\"1\"")
            .json(&json!({ "data": { "writer": i } }))
            .send()
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let stale = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((ok, stale), (1, 99), "{statuses:?}");
    server.stop().await;
}

#[tokio::test]
async fn two_servers_on_one_folder_share_sessions_and_the_quota() {
    let folder = tempfile::tempdir().unwrap();
    let quota = Some((3, OnQuotaExhaustion::DenyLogin));
    let a = server_on(local_store(folder.path()).await, quota).await;
    let b = server_on(local_store(folder.path()).await, quota).await;

    // A session made through one server is seen and ended through the other.
    let (sid, _, _) = a.create(login("dana")).await;
    assert_eq!(b.get_by_sid(&sid, "").await.status(), StatusCode::OK);
    let ended = b
        .api(Method::DELETE, "/sessions")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::OK);
    assert_eq!(a.get_by_sid(&sid, "").await.status(), StatusCode::NOT_FOUND);

    // Twelve concurrent logins of one subject, split across both servers:
    // exactly the quota gets in.
    let logins = (0..12).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        server
            .api(Method::POST, "/sessions")
            .json(&login("erik"))
            .send()
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(logins)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let denied = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, denied), (3, 9), "{statuses:?}");
    for server in [&a, &b] {
        let listed: Value = server
            .api(Method::GET, "/sessions?subject=erik")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 3);
    }
    a.stop().await;
    b.stop().await;
}
