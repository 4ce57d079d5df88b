//! Shared fixture of the API tests: a real server on a loopback port, over
//! the memory store (or a store the test supplies), driven with reqwest.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tessera_core::{OnQuotaExhaustion, Policy, Quota, Timestamp};
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{LegacySids, MasterKeys, SafePassword, TokenHash, TokenVerifier};
use tessera_server::api::{self, ApiLimits, ApiState, BASE_PATH};
use tessera_store::testkit::MockClock;
use tessera_store::{MemoryStore, SessionStore, Sessions, SessionsConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The safe password of every test server.
pub const SAFE_PASSWORD: &str = "api-tests-Zq8!mW3#rT6@";
/// The primary API token.
pub const TOKEN: &str = "primaryTokenForTheApiTests0123456789abcdefgh";
/// The secondary API token (roll-over).
pub const SECONDARY_TOKEN: &str = "secondaryTokenForTheApiTests0123456789abcd";
/// A labelled extra token.
pub const CI_TOKEN: &str = "ciTokenForTheApiTests0123456789abcdefghijk";

/// The keys, derived once per test binary (600k PBKDF2 rounds).
pub fn keys() -> &'static MasterKeys {
    static KEYS: OnceLock<MasterKeys> = OnceLock::new();
    KEYS.get_or_init(|| MasterKeys::derive(&SafePassword::new(SAFE_PASSWORD).unwrap(), &[]))
}

/// What a test server is built from.
pub struct Options {
    pub policy: Policy,
    pub store: Arc<dyn SessionStore>,
    pub limits: ApiLimits,
    pub legacy_sids: LegacySids,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            store: Arc::new(MemoryStore::new()),
            limits: ApiLimits::default(),
            legacy_sids: LegacySids::Reject,
        }
    }
}

impl Options {
    /// A policy with `quota` sessions per subject and `on` at exhaustion.
    pub fn quota(quota: i64, on: OnQuotaExhaustion) -> Self {
        Self {
            policy: Policy {
                quota_per_subject: Quota::new("quota", quota).unwrap(),
                on_quota_exhaustion: on,
                ..Policy::default()
            },
            ..Self::default()
        }
    }
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<MockClock>,
    pub sessions: Arc<Sessions>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A seed no other server of this test binary uses.
fn next_seed() -> [u8; 8] {
    static SERVERS: AtomicU64 = AtomicU64::new(0);
    SERVERS.fetch_add(1, Ordering::Relaxed).to_le_bytes()
}

/// The time the mock clock starts at.
pub const START: Timestamp = Timestamp::from_secs(1_800_000_000);

impl TestServer {
    pub async fn start() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Self {
        let clock = Arc::new(MockClock::new(START));
        let sessions = Arc::new(Sessions::new(
            options.store,
            SessionsConfig {
                policy: options.policy,
                legacy_sids: options.legacy_sids,
                ..SessionsConfig::default()
            },
            keys(),
            clock.clone(),
            // Each server draws its own SIDs: two servers sharing a store
            // must not mint the same ones.
            Arc::new(SeededRandom::new(&next_seed())),
        ));
        let tokens = TokenVerifier::new([
            ("primary".to_owned(), TokenHash::of(TOKEN)),
            ("secondary".to_owned(), TokenHash::of(SECONDARY_TOKEN)),
            ("ci".to_owned(), TokenHash::of(CI_TOKEN)),
        ]);
        let router = api::router(ApiState {
            sessions: sessions.clone(),
            tokens: Arc::new(tokens.into()),
            limits: options.limits,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve_with_shutdown(listener, router, async {
            let _ = rx.await;
        }));
        Self {
            base,
            client: reqwest::Client::new(),
            clock,
            sessions,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The URL of an API path (under the base path).
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{BASE_PATH}{path}", self.base)
    }

    /// A request to an API path with the primary token.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.api_url(path))
            .bearer_auth(TOKEN)
    }

    /// A request to a path outside the API base, without a token.
    pub fn raw(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Creates a session; returns (sid, id, full answer).
    pub async fn create(&self, body: Value) -> (String, String, Value) {
        let response = self
            .api(Method::POST, "/sessions")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let answer: Value = response.json().await.unwrap();
        (
            answer["sid"].as_str().unwrap().to_owned(),
            answer["id"].as_str().unwrap().to_owned(),
            answer,
        )
    }

    /// `GET /sessions` with a SID (and an optional query).
    pub async fn get_by_sid(&self, sid: &str, query: &str) -> Response {
        self.api(Method::GET, &format!("/sessions{query}"))
            .header("SID", sid)
            .send()
            .await
            .unwrap()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.take().unwrap().send(()).unwrap();
        self.task.take().unwrap().await.unwrap().unwrap();
    }

    /// Signals shutdown and returns the server task, to await later.
    pub fn begin_stop(mut self) -> JoinHandle<std::io::Result<()>> {
        self.shutdown.take().unwrap().send(()).unwrap();
        self.task.take().unwrap()
    }
}

/// Asserts the response is an API error with this status and code; returns
/// its description.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status, "status of {code}");
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "content type of {code}"
    );
    let body: Value = response.json().await.unwrap();
    let object = body.as_object().unwrap();
    assert_eq!(
        object.len(),
        2,
        "exactly error and error_description: {body}"
    );
    assert_eq!(body["error"], code, "{body}");
    let description = body["error_description"].as_str().unwrap().to_owned();
    assert!(!description.is_empty());
    description
}

/// A minimal login body.
pub fn login(sub: &str) -> Value {
    json!({ "sub": sub })
}

/// Fault injectors for the server's error mapping. They stand in for a
/// backend only to check how the API answers its failures; the backends
/// themselves are tested for real in their own crates.
pub mod faults {
    use std::sync::Arc;

    use async_trait::async_trait;
    use tessera_core::{Context, Policy, Session, Subject, Timestamp};
    use tessera_crypto::StorageKey;
    use tessera_store::{
        Created, LegacyAlias, MemoryStore, PurgeReport, RevokeReport, SessionRef, SessionStore,
        StoreError, StoredSession, Touch,
    };
    use tokio::sync::Notify;

    /// How every call of a [`Failing`] store fails.
    #[derive(Clone, Copy)]
    pub enum Failure {
        /// `StoreError::Unavailable`: the backend does not answer.
        Unavailable,
        /// `StoreError::Backend`: the backend answers with an error.
        Backend,
        /// A panic inside the store (a bug).
        Panic,
    }

    /// A store whose every call fails.
    pub struct Failing(pub Failure);

    impl Failing {
        fn fail<T>(&self) -> Result<T, StoreError> {
            let source =
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
            Err(match self.0 {
                Failure::Unavailable => {
                    StoreError::unavailable("connecting to the backend", source)
                }
                Failure::Backend => StoreError::backend("writing to the backend", source),
                Failure::Panic => panic!("injected store panic"),
            })
        }
    }

    #[async_trait]
    impl SessionStore for Failing {
        async fn create(
            &self,
            _: &SessionRef,
            _: &Session,
            _: &Policy,
            _: Timestamp,
        ) -> Result<Created, StoreError> {
            self.fail()
        }
        async fn create_anonymous(
            &self,
            _: &SessionRef,
            _: &Session,
            _: Timestamp,
        ) -> Result<(), StoreError> {
            self.fail()
        }
        async fn put_legacy_alias(
            &self,
            _: &StorageKey,
            _: &LegacyAlias,
        ) -> Result<(), StoreError> {
            self.fail()
        }
        async fn legacy_alias(
            &self,
            _: &StorageKey,
            _: Timestamp,
        ) -> Result<Option<SessionRef>, StoreError> {
            self.fail()
        }
        async fn get(&self, _: &SessionRef, _: Timestamp) -> Result<Option<Session>, StoreError> {
            self.fail()
        }
        async fn get_and_touch(
            &self,
            _: &SessionRef,
            _: Timestamp,
            _: Touch,
        ) -> Result<Option<Session>, StoreError> {
            self.fail()
        }
        async fn update(
            &self,
            _: &SessionRef,
            _: &Session,
            _: Timestamp,
        ) -> Result<Session, StoreError> {
            self.fail()
        }
        async fn delete(
            &self,
            _: &SessionRef,
            _: Timestamp,
        ) -> Result<Option<Session>, StoreError> {
            self.fail()
        }
        async fn list_by_subject(
            &self,
            _: &Subject,
            _: Option<&Context>,
            _: Timestamp,
        ) -> Result<Vec<StoredSession>, StoreError> {
            self.fail()
        }
        async fn delete_by_subject(
            &self,
            _: &Subject,
            _: Option<&Context>,
            _: Timestamp,
        ) -> Result<Vec<SessionRef>, StoreError> {
            self.fail()
        }
        async fn count(&self, _: Timestamp) -> Result<u64, StoreError> {
            self.fail()
        }
        async fn delete_all(&self, _: Timestamp) -> Result<RevokeReport, StoreError> {
            self.fail()
        }
        async fn purge(&self, _: Timestamp) -> Result<PurgeReport, StoreError> {
            self.fail()
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.fail()
        }
    }

    /// A memory store whose reads (`get_and_touch`) wait at a gate: each
    /// read announces itself on `entered` and then waits for `release`.
    /// Used to hold a request in flight.
    #[derive(Default)]
    pub struct Gated {
        pub inner: MemoryStore,
        pub entered: Arc<Notify>,
        pub release: Arc<Notify>,
    }

    #[async_trait]
    impl SessionStore for Gated {
        async fn create(
            &self,
            id: &SessionRef,
            s: &Session,
            p: &Policy,
            now: Timestamp,
        ) -> Result<Created, StoreError> {
            self.inner.create(id, s, p, now).await
        }
        async fn create_anonymous(
            &self,
            id: &SessionRef,
            s: &Session,
            now: Timestamp,
        ) -> Result<(), StoreError> {
            self.inner.create_anonymous(id, s, now).await
        }
        async fn put_legacy_alias(
            &self,
            legacy: &StorageKey,
            alias: &LegacyAlias,
        ) -> Result<(), StoreError> {
            self.inner.put_legacy_alias(legacy, alias).await
        }
        async fn legacy_alias(
            &self,
            legacy: &StorageKey,
            now: Timestamp,
        ) -> Result<Option<SessionRef>, StoreError> {
            self.inner.legacy_alias(legacy, now).await
        }
        async fn get(
            &self,
            id: &SessionRef,
            now: Timestamp,
        ) -> Result<Option<Session>, StoreError> {
            self.inner.get(id, now).await
        }
        async fn get_and_touch(
            &self,
            id: &SessionRef,
            now: Timestamp,
            touch: Touch,
        ) -> Result<Option<Session>, StoreError> {
            self.entered.notify_one();
            self.release.notified().await;
            self.inner.get_and_touch(id, now, touch).await
        }
        async fn update(
            &self,
            id: &SessionRef,
            s: &Session,
            now: Timestamp,
        ) -> Result<Session, StoreError> {
            self.inner.update(id, s, now).await
        }
        async fn delete(
            &self,
            id: &SessionRef,
            now: Timestamp,
        ) -> Result<Option<Session>, StoreError> {
            self.inner.delete(id, now).await
        }
        async fn list_by_subject(
            &self,
            s: &Subject,
            c: Option<&Context>,
            now: Timestamp,
        ) -> Result<Vec<StoredSession>, StoreError> {
            self.inner.list_by_subject(s, c, now).await
        }
        async fn delete_by_subject(
            &self,
            s: &Subject,
            c: Option<&Context>,
            now: Timestamp,
        ) -> Result<Vec<SessionRef>, StoreError> {
            self.inner.delete_by_subject(s, c, now).await
        }
        async fn count(&self, now: Timestamp) -> Result<u64, StoreError> {
            self.inner.count(now).await
        }
        async fn delete_all(&self, now: Timestamp) -> Result<RevokeReport, StoreError> {
            self.inner.delete_all(now).await
        }
        async fn purge(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
            self.inner.purge(now).await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.inner.ping().await
        }
    }
}
