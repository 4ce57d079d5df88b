//! The client against a real `tessera` API on a loopback port, over the
//! memory store.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tessera_client::{Changes, Client, ClientError, NewSession, Sid, SubjectAuth};
use tessera_crypto::{MasterKeys, RootKey, TokenHash, TokenVerifier};
use tessera_server::api::{self, ApiLimits, ApiState};
use tessera_store::{MemoryStore, Sessions};

const TOKEN: &str = "clientTestsTokenZq8mW3rT6pL0vB4nC7xD1eF5gH9";

/// Serves the API on a free port until the test ends; returns its base URL.
async fn server() -> String {
    let keys = MasterKeys::from_root_keys(
        &RootKey::from_hex("e91a9c483c911e484d562ac0e4134661d0e1e70b52880c8fcc3bd71fd34068f6")
            .unwrap(),
        &[],
    );
    let sessions = Arc::new(Sessions::builder(MemoryStore::new(), &keys).build());
    let tokens = TokenVerifier::new([("primary".to_owned(), TokenHash::of(TOKEN))]);
    let router = api::router(ApiState {
        sessions,
        tokens: Arc::new(tokens.into()),
        limits: ApiLimits::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve_with_shutdown(
        listener,
        router,
        std::future::pending(),
    ));
    base
}

fn data(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[tokio::test]
async fn a_session_lives_and_ends_through_every_call() {
    let client = Client::new(&server().await, TOKEN).unwrap();
    client.ready().await.unwrap();

    let mut new = NewSession::of("alice");
    new.data = data(&[("theme", json!("dark"))]);
    new.credentials = Some(json!({"password": "hunter2-hunter2"}));
    let created = client.create(&new).await.unwrap();
    assert_eq!(created.session.sub, "alice");
    assert!(created.closed.is_empty());

    let read = client
        .get(&created.sid, Some("web"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((read.id.as_str(), read.version), (created.id.as_str(), 1));
    assert_eq!(read.session.data["theme"], "dark");
    assert_eq!(read.credentials, None);
    let opened = client
        .get_with_credentials(&created.sid, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        opened.credentials,
        Some(json!({"password": "hunter2-hunter2"}))
    );
    assert!(
        client
            .peek(&created.sid, Some("other"))
            .await
            .unwrap()
            .is_none()
    );

    let changes = Changes {
        data: Some(data(&[("theme", json!("light"))])),
        ..Changes::default()
    };
    let updated = client
        .update(&created.sid, None, Some(1), &changes)
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.session.data["theme"], "light");
    let stale = client
        .update(&created.sid, None, Some(1), &changes)
        .await
        .unwrap_err();
    assert!(stale.is_conflict(), "{stale:?}");
    assert_eq!(stale.code(), Some("precondition_failed"));

    let listed = client.list("alice", None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    let auth = client
        .set_subject_auth(&SubjectAuth {
            sub: "alice".into(),
            auth_life: Some(60),
            ..SubjectAuth::default()
        })
        .await
        .unwrap();
    assert_eq!(auth.updated, 1);
    assert_eq!(auth.sessions[0].session.auth_life, 60);

    let ended = client.end(&created.sid, None).await.unwrap().unwrap();
    assert_eq!(ended.sub, "alice");
    assert!(client.get(&created.sid, None).await.unwrap().is_none());
    assert!(client.end(&created.sid, None).await.unwrap().is_none());

    let a = client.create(&NewSession::of("bob")).await.unwrap();
    let b = client.create(&NewSession::of("bob")).await.unwrap();
    assert!(client.end_by_id(&a.id).await.unwrap().is_some());
    let all = client.end_all("bob", None).await.unwrap();
    assert_eq!((all.removed, all.ids), (1, vec![b.id]));
    assert_eq!(client.purge().await.unwrap().sessions, 0);
}

#[tokio::test]
async fn errors_say_what_happened_and_hold_no_secret() {
    let base = server().await;
    let wrong = Client::new(&base, "notTheTokenAtAll0123456789abcdefghijklmn").unwrap();
    let refused = wrong.create(&NewSession::of("alice")).await.unwrap_err();
    assert!(matches!(refused, ClientError::Api { status: 401, .. }));
    assert_eq!(refused.code(), Some("invalid_token"));

    let client = Client::new(&base, TOKEN).unwrap();
    let forged = client.get(&Sid::new("not-a-sid"), None).await.unwrap_err();
    assert_eq!(forged.code(), Some("invalid_sid"));
    assert!(!forged.is_unavailable());

    let created = client.create(&NewSession::of("carol")).await.unwrap();
    let shown = format!("{client:?} {created:?} {refused} {forged}");
    assert!(!shown.contains(TOKEN));
    assert!(!shown.contains(created.sid.expose_secret()));

    // Nothing listens on port 9 of loopback.
    let down = Client::new("http://127.0.0.1:9", TOKEN).unwrap();
    let outage = down.get(&created.sid, None).await.unwrap_err();
    assert!(outage.is_unavailable(), "{outage:?}");
    assert!(!format!("{outage:?}").contains(created.sid.expose_secret()));

    assert!(matches!(
        Client::new("sessions.internal", TOKEN),
        Err(ClientError::Config { .. })
    ));
}
