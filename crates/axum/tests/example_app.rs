//! The `login` example, driven over real HTTP: login → whoami → logout →
//! 401, on the local store, Redis and DynamoDB in process, and on the local
//! store and Redis through a remote `tessera` server.

#[path = "../examples/login.rs"]
#[allow(dead_code, reason = "the example's main is not run here")]
mod example;

use std::sync::{Arc, Mutex};
use tessera_store::testkit::{service_env, unique};

use axum::Router;
use reqwest::header::{COOKIE, HeaderMap, RETRY_AFTER, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_axum::SessionLayer;
use tessera_client::Client;
use tessera_crypto::{TokenHash, TokenVerifier};
use tessera_server::api::{self, ApiLimits, ApiState};
use tessera_store::SystemRandom;
use tessera_store::prelude::*;
use tessera_store_dynamodb::{DynamoDbConfig, DynamoDbStore, create_table};
use tessera_store_local::{LocalConfig, LocalStore};
use tessera_store_redis::{RedisConfig, RedisStore};

const TOKEN: &str = "axumExampleTestsTokenQ7mW2rT9pL4vB8nC1xD6eF3";

fn sessions(store: impl SessionStore + 'static) -> Sessions {
    let keys = MasterKeys::from_root_keys(&RootKey::generate(&SystemRandom::new()).unwrap(), &[]);
    Sessions::builder(store, &keys).build()
}

async fn local() -> (LocalStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&LocalConfig::new(dir.path()))
        .await
        .unwrap();
    (store, dir)
}

async fn redis() -> RedisStore {
    let mut config = RedisConfig::from_url(service_env("TESSERA_TEST_REDIS_URL"));
    config.key_prefix = format!("{}:", unique("redis"));
    RedisStore::open(&config).await.expect("connect to Redis")
}

async fn dynamodb() -> DynamoDbStore {
    let mut config = DynamoDbConfig::new(unique("table"));
    config.endpoint_url = Some(service_env("TESSERA_TEST_DYNAMODB_ENDPOINT"));
    config.aws_region_name = Some("us-east-1".into());
    config.aws_access_key = Some("testing".into());
    config.aws_secret_key = Some("testing".into());
    create_table(&config).await.expect("create table");
    DynamoDbStore::open(&config).await.expect("connect")
}

/// Serves `router` on a free loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

/// A `tessera` server over `store`, and a client of it.
async fn remote(store: impl SessionStore + 'static) -> Client {
    let tokens = TokenVerifier::new([("primary".to_owned(), TokenHash::of(TOKEN))]);
    let router = api::router(ApiState {
        sessions: Arc::new(sessions(store)),
        tokens: Arc::new(tokens.into()),
        limits: ApiLimits::default(),
    });
    Client::new(&serve(router).await, TOKEN).unwrap()
}

/// A user agent that keeps the session cookie as a browser would, over
/// plain HTTP (the `Secure` cookie is sent anyway: this is a test).
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Mutex<Option<String>>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Browser {
    async fn open(layer: SessionLayer) -> Arc<Self> {
        Arc::new(Self {
            http: reqwest::Client::new(),
            base: serve(example::app(layer)).await,
            cookie: Mutex::new(None),
        })
    }

    fn cookie(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }

    fn set_cookie(&self, cookie: Option<String>) {
        *self.cookie.lock().unwrap() = cookie;
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = self.cookie() {
            request = request.header(COOKIE, cookie);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(set) = headers.get(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap().trim().to_owned();
            self.set_cookie((!set.contains("Max-Age=0")).then_some(pair));
        }
        Answer {
            status,
            headers,
            body: response.text().await.unwrap(),
        }
    }

    async fn login(&self, user: &str) -> Answer {
        self.login_with_password(user, "open sesame").await
    }

    async fn login_with_password(&self, user: &str, password: &str) -> Answer {
        self.call(
            Method::POST,
            "/login",
            Some(json!({"user": user, "password": password})),
        )
        .await
    }

    async fn add_to_cart(&self) -> Answer {
        self.call(Method::POST, "/cart", None).await
    }

    async fn whoami(&self) -> Answer {
        self.call(Method::GET, "/whoami", None).await
    }
}

/// Two items in a cart before anyone signs in: a pre-login session, in a
/// cookie, which is nobody; returns that cookie.
async fn fill_cart_before_login(browser: &Browser) -> String {
    let first = browser.add_to_cart().await;
    assert_eq!(
        (first.status, first.body.as_str()),
        (StatusCode::OK, "1 in the cart\n")
    );
    let pre_login = browser.cookie().expect("a pre-login session's cookie");
    assert!(pre_login.starts_with("__Host-tessera="));
    assert_eq!(browser.add_to_cart().await.body, "2 in the cart\n");
    assert_eq!(
        browser.cookie(),
        Some(pre_login.clone()),
        "the same session"
    );
    assert_eq!(
        browser.whoami().await.status,
        StatusCode::UNAUTHORIZED,
        "a pre-login session is nobody"
    );

    pre_login
}

/// The example's whole life cycle under `layer`.
async fn drive(layer: SessionLayer) {
    let browser = Browser::open(layer).await;

    let anonymous = browser.whoami().await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let error: Value = serde_json::from_str(&anonymous.body).unwrap();
    assert_eq!(error["error"], "not_signed_in");

    // A wrong password: no session, no cookie.
    let wrong = browser.login_with_password("alice", "guess").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let error: Value = serde_json::from_str(&wrong.body).unwrap();
    assert_eq!(error["error"], "login_refused");
    assert_eq!(error["error_description"], "wrong user name or password");
    assert!(!wrong.headers.contains_key(SET_COOKIE));

    let pre_login = fill_cart_before_login(&browser).await;
    let login = browser.login("alice").await;
    assert_eq!(
        (login.status, login.body.as_str()),
        (StatusCode::OK, "signed in as alice\n")
    );
    let set = login.headers[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in [
        "__Host-tessera=",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    assert_eq!(login.headers["cache-control"], "no-store");

    // The cart came along under a new SID; the pre-login SID is dead.
    let signed_in = browser.cookie().unwrap();
    assert_ne!(signed_in, pre_login);
    assert_eq!(browser.add_to_cart().await.body, "3 in the cart\n");
    browser.set_cookie(Some(pre_login));
    assert_eq!(
        browser.add_to_cart().await.body,
        "1 in the cart\n",
        "the old pre-login SID holds nothing: a new pre-login session began"
    );
    browser.set_cookie(Some(signed_in));

    assert_eq!(browser.whoami().await.body, "alice, visit 1\n");
    assert_eq!(browser.whoami().await.body, "alice, visit 2\n");

    // Fifty clients at once, each counting four visits one after the
    // other, so the races go on: every visit answers 200 and none is lost.
    // (This in-process client does not press as hard as `wrk` does on the
    // example's binary, where docs/library.md gives the measured 409 rates.)
    let visits = (0..50).map(|_| {
        let browser = Arc::clone(&browser);
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..4 {
                statuses.push(browser.whoami().await.status);
            }
            statuses
        })
    });
    for visit in visits {
        for status in visit.await.unwrap() {
            assert_eq!(status, StatusCode::OK);
        }
    }
    assert_eq!(browser.whoami().await.body, "alice, visit 203\n");

    // A login always mints a new SID and ends the old session.
    let before = browser.cookie().unwrap();
    browser.login("alice").await;
    let after = browser.cookie().unwrap();
    assert_ne!(before, after);
    browser.set_cookie(Some(before));
    let stale = browser.whoami().await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    assert!(
        stale.headers[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    browser.set_cookie(Some(after.clone()));
    assert_eq!(browser.whoami().await.body, "alice, visit 1\n");

    let logout = browser.call(Method::POST, "/logout", None).await;
    assert_eq!(
        (logout.status, logout.body.as_str()),
        (StatusCode::OK, "signed out\n")
    );
    assert!(
        logout.headers[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(browser.cookie(), None);
    assert_eq!(browser.whoami().await.status, StatusCode::UNAUTHORIZED);
    browser.set_cookie(Some(after));
    assert_eq!(browser.whoami().await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        browser.call(Method::POST, "/logout", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

// Several threads, so the 50 concurrent visits really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_the_local_store_in_process() {
    let (store, _dir) = local().await;
    drive(SessionLayer::new(sessions(store))).await;
}

// Several threads, so the 50 concurrent visits really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_redis_in_process() {
    drive(SessionLayer::new(sessions(redis().await))).await;
}

// Several threads, so the 50 concurrent visits really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_dynamodb_in_process() {
    drive(SessionLayer::new(sessions(dynamodb().await))).await;
}

// Several threads, so the 50 concurrent visits really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_the_local_store_through_a_remote_server() {
    let (store, _dir) = local().await;
    drive(SessionLayer::new(remote(store).await)).await;
}

// Several threads, so the 50 concurrent visits really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_redis_through_a_remote_server() {
    drive(SessionLayer::new(remote(redis().await).await)).await;
}

#[tokio::test]
async fn a_backend_outage_is_503_with_retry_after_never_a_logout() {
    let (store, _dir) = local().await;
    let browser = Browser::open(SessionLayer::new(remote(store).await)).await;
    browser.login("alice").await;
    let cookie = browser.cookie().unwrap();

    // The same cookie, presented to an app whose session server is down.
    let down = Client::new("http://127.0.0.1:9", TOKEN).unwrap();
    let stranded = Browser::open(SessionLayer::new(down)).await;
    stranded.set_cookie(Some(cookie.clone()));
    let answer = stranded.whoami().await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers[RETRY_AFTER], "1");
    assert!(
        answer.headers.get(SET_COOKIE).is_none(),
        "an outage must not clear the cookie"
    );
    let error: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(error["error"], "backend_unavailable");
    assert!(!answer.body.contains(cookie.split('=').nth(1).unwrap()));
    assert_eq!(
        stranded.login("bob").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Nobody signed in needs no backend to be told so.
    stranded.set_cookie(None);
    assert_eq!(stranded.whoami().await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn at_the_quota_a_login_is_409_and_nothing_is_stored() {
    let (store, _dir) = local().await;
    let keys = MasterKeys::from_root_keys(&RootKey::generate(&SystemRandom::new()).unwrap(), &[]);
    let policy = Policy {
        quota_per_subject: Quota::new("quotaPerSubject", 1).unwrap(),
        on_quota_exhaustion: OnQuotaExhaustion::DenyLogin,
        ..Policy::default()
    };
    let sessions = Arc::new(Sessions::builder(store, &keys).policy(policy).build());
    let first = Browser::open(SessionLayer::new(Arc::clone(&sessions))).await;
    assert_eq!(first.login("carol").await.status, StatusCode::OK);
    let second = Browser::open(SessionLayer::new(Arc::clone(&sessions))).await;
    let refused = second.login("carol").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("quota_exhausted"));
    assert_eq!(second.cookie(), None);
    assert_eq!(
        sessions
            .list(&Subject::new("carol").unwrap(), None)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Ten requests that each read the session, wait, then count a visit: all
/// ten read the same version, so nine lose the first compare-and-set and
/// must retry on what the others wrote. With `retries`, how many answered
/// 200 and the count at the end.
async fn racing_counters(layer: SessionLayer) -> (usize, u64) {
    use axum::routing::{get, post};
    use std::time::Duration;
    use tessera_axum::{Error, Session, SignedIn};

    async fn login(session: Session) -> Result<(), Error> {
        session.login("dave").await.map(drop)
    }
    async fn slow_visit(user: SignedIn) -> Result<String, Error> {
        let _: Option<u64> = user.get("visits").await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let n = user
            .update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)
            .await?;
        Ok(n.to_string())
    }
    async fn count(user: SignedIn) -> Result<String, Error> {
        Ok(user.get::<u64>("visits").await?.unwrap_or(0).to_string())
    }
    let app = Router::new()
        .route("/login", post(login))
        .route("/visit", post(slow_visit))
        .route("/count", get(count))
        .layer(layer);
    let browser = Arc::new(Browser {
        http: reqwest::Client::new(),
        base: serve(app).await,
        cookie: Mutex::new(None),
    });
    assert_eq!(
        browser.call(Method::POST, "/login", None).await.status,
        StatusCode::OK
    );
    let visits: Vec<_> = (0..10)
        .map(|_| {
            let browser = Arc::clone(&browser);
            tokio::spawn(async move { browser.call(Method::POST, "/visit", None).await.status })
        })
        .collect();
    let mut ok = 0;
    for visit in visits {
        let status = visit.await.unwrap();
        assert!(
            matches!(status, StatusCode::OK | StatusCode::CONFLICT),
            "{status}"
        );
        ok += usize::from(status == StatusCode::OK);
    }
    let count = browser
        .call(Method::GET, "/count", None)
        .await
        .body
        .parse()
        .unwrap();
    (ok, count)
}

#[tokio::test]
async fn concurrent_modifications_retry_until_each_lands() {
    let (store, _dir) = local().await;
    assert_eq!(
        racing_counters(SessionLayer::new(sessions(store))).await,
        (10, 10)
    );
    assert_eq!(
        racing_counters(SessionLayer::new(remote(redis().await).await)).await,
        (10, 10)
    );
}

#[tokio::test]
async fn without_retries_the_losers_of_a_race_are_409_and_nothing_is_lost() {
    let (store, _dir) = local().await;
    let (ok, count) =
        racing_counters(SessionLayer::new(sessions(store)).with_modify_retries(0)).await;
    assert!(
        ok < 10,
        "{ok} of 10 requests won a race that only one can win at a time"
    );
    assert_eq!(
        count,
        u64::try_from(ok).unwrap(),
        "each 200 is one visit counted"
    );
}

/// The example stays a small application: at most 40 lines of code (blank
/// and comment lines aside), and only `use` of tessera-axum, axum, tokio
/// and serde.
#[test]
fn the_example_is_40_lines_on_four_dependencies() {
    let source = include_str!("../examples/login.rs");
    let code: Vec<&str> = source
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .collect();
    assert!(code.len() <= 40, "{} lines of code", code.len());
    for line in &code {
        for path in line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
            // A lower-case first segment names a crate (or a module of
            // one in a `use` group); types and variants are upper case.
            if let Some((krate, _)) = path.split_once("::")
                && krate.starts_with(|c: char| c.is_ascii_lowercase())
            {
                assert!(
                    ["tessera_axum", "axum", "tokio", "serde", "std", "routing"].contains(&krate),
                    "`{krate}` in `{line}`"
                );
            }
        }
    }
}
