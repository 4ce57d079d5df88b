//! DynamoDB-specific behaviour beyond the conformance suite: the table
//! shape, the item layout, sizes, the index bound, batching, and faults.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_core::{Lifetime, OnQuotaExhaustion, Subject, Timestamp};
use tessera_store::testkit::{policy, pre_login_ref, pre_login_session, session, session_ref};
use tessera_store::{PurgeReport, SessionStore, StoreError, Touch};
use tessera_store_dynamodb::sdk::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveStatus,
};
use tessera_store_dynamodb::{DynamoDbError, DynamoDbStore, create_table};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const MIN: i64 = 60_000;

fn now() -> Timestamp {
    Timestamp::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            .try_into()
            .expect("fits"),
    )
}

fn key(value: String) -> HashMap<String, AttributeValue> {
    HashMap::from([("username".to_owned(), AttributeValue::S(value))])
}

/// The key value of `subject`'s index item, as documented: `u#` and the
/// subject's hash.
fn index_key(subject: &str) -> String {
    format!("u#{}", tessera_crypto::SubjectHash::of(subject).to_hex())
}

async fn raw_item(store: &DynamoDbStore, value: String) -> Option<HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(key(value)))
        .consistent_read(true)
        .send()
        .await
        .expect("raw get")
        .item
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item[name]
        .as_n()
        .expect("a number")
        .parse()
        .expect("an integer")
}

#[tokio::test]
async fn a_table_of_another_shape_is_refused_with_what_was_expected() {
    let config = common::config_for(&common::endpoint(), &common::unique_table("shape"));
    let client = config.client().await.expect("client");
    client
        .create_table()
        .table_name(&config.table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create a wrongly shaped table");
    let err = DynamoDbStore::open(&config).await.expect_err("refused");
    let text = err.to_string();
    assert!(
        matches!(err, DynamoDbError::WrongTableShape { .. }),
        "{err:?}"
    );
    assert!(text.contains("`username` of type S"), "{text}");
    assert!(
        text.contains("HASH key `id` of type N, RANGE key `sk` of type S"),
        "{text}"
    );
    // create_table does not paper over it either.
    assert!(matches!(
        create_table(&config).await,
        Err(DynamoDbError::WrongTableShape { .. })
    ));
}

#[tokio::test]
async fn a_missing_table_is_named() {
    let config = common::config_for(&common::endpoint(), &common::unique_table("missing"));
    let err = DynamoDbStore::open(&config).await.expect_err("missing");
    assert!(matches!(err, DynamoDbError::TableMissing { .. }), "{err:?}");
    assert!(err.to_string().contains(&config.table));
}

#[tokio::test]
async fn create_table_is_idempotent_and_enables_ttl() {
    let (store, config) = common::fresh_store("ttl").await;
    create_table(&config)
        .await
        .expect("second create_table is a no-op");
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(&config.table)
        .send()
        .await
        .expect("describe ttl");
    let d = ttl.time_to_live_description().expect("description");
    assert_eq!(d.attribute_name(), Some("ttl"));
    assert!(matches!(
        d.time_to_live_status(),
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ));
}

#[tokio::test]
async fn items_follow_the_documented_layout() {
    let (store, _) = common::fresh_store("layout").await;
    let t0 = now();
    let id = session_ref("olga");
    let s = session("olga", "web", t0, 60, -1, 10);
    store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), t0)
        .await
        .expect("create");

    let item = raw_item(&store, format!("s#{id}"))
        .await
        .expect("session item");
    assert!(
        item["rec"]
            .as_s()
            .expect("rec is a string")
            .starts_with('{')
    );
    assert_eq!(item["sub"].as_s().unwrap(), "olga");
    assert_eq!(number(&item, "v"), 1);
    assert_eq!(number(&item, "lu"), t0.as_millis());
    assert_eq!(
        number(&item, "ttl"),
        t0.as_secs() + 10 * 60,
        "idle expiry in seconds"
    );
    assert_eq!(number(&item, "hx"), t0.as_millis() + 60 * MIN);

    let index = raw_item(&store, index_key("olga"))
        .await
        .expect("index item");
    assert!(
        raw_item(&store, "u#olga".to_owned()).await.is_none(),
        "no key names the subject"
    );
    let entries = index["s"].as_m().expect("a map");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[&id.to_string()].as_n().unwrap(),
        &(t0.as_millis() + 60 * MIN).to_string()
    );
    assert_eq!(
        number(&index, "ttl"),
        t0.as_secs() + 60 * 60,
        "latest hard expiry"
    );

    // A touch moves lu, the idle expiry and ttl, nothing else.
    let later = Timestamp::from_millis(t0.as_millis() + 3 * MIN);
    let touched = store
        .get_and_touch(&id, later, Touch::Yes)
        .await
        .expect("touch")
        .expect("alive");
    assert_eq!(touched.last_used, later);
    let item = raw_item(&store, format!("s#{id}"))
        .await
        .expect("session item");
    assert_eq!(number(&item, "lu"), later.as_millis());
    assert_eq!(number(&item, "ttl"), later.as_secs() + 10 * 60);
    assert_eq!(number(&item, "v"), 1);

    // A session without max_idle keeps its hard-expiry ttl across touches.
    let fixed = session_ref("olga");
    let s = session("olga", "web", t0, 30, -1, -1);
    store
        .create(&fixed, &s, &policy(5, OnQuotaExhaustion::DenyLogin), t0)
        .await
        .expect("create");
    store
        .get_and_touch(&fixed, later, Touch::Yes)
        .await
        .expect("touch")
        .expect("alive");
    let item = raw_item(&store, format!("s#{fixed}")).await.expect("item");
    assert_eq!(number(&item, "ttl"), t0.as_secs() + 30 * 60);
}

#[tokio::test]
async fn a_touch_never_moves_last_used_backwards() {
    let (store, _) = common::fresh_store("skew").await;
    let t0 = now();
    let id = session_ref("pia");
    let s = session("pia", "web", t0, 60, -1, 10);
    store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), t0)
        .await
        .expect("create");
    let later = Timestamp::from_millis(t0.as_millis() + MIN);
    store
        .get_and_touch(&id, later, Touch::Yes)
        .await
        .expect("touch");
    // Another server with a slower clock.
    let earlier = Timestamp::from_millis(t0.as_millis() + 30_000);
    let seen = store
        .get_and_touch(&id, earlier, Touch::Yes)
        .await
        .expect("touch")
        .expect("alive");
    assert_eq!(seen.last_used, later);
}

#[tokio::test]
async fn an_oversized_session_is_refused_before_any_write() {
    let (store, _) = common::fresh_store("size").await;
    let t0 = now();
    let id = session_ref("quinn");
    let mut s = session("quinn", "web", t0, 60, 60, 60);
    s.data.insert(
        "blob".into(),
        serde_json::Value::from("x".repeat(400 * 1024)),
    );
    let err = store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), t0)
        .await
        .expect_err("too large");
    assert!(
        matches!(err, StoreError::TooLarge { limit: 409_600, .. }),
        "{err:?}"
    );
    assert!(
        raw_item(&store, index_key("quinn")).await.is_none(),
        "nothing written"
    );

    // Growing a stored session past the limit is refused the same way.
    let small = session("quinn", "web", t0, 60, 60, 60);
    store
        .create(&id, &small, &policy(5, OnQuotaExhaustion::DenyLogin), t0)
        .await
        .expect("create");
    let mut big = small.clone();
    big.data = s.data.clone();
    let err = store.update(&id, &big, t0).await.expect_err("too large");
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err:?}");
    assert_eq!(store.get(&id, t0).await.expect("get"), Some(small));
}

/// An update that extends the hard expiry raises the index's bound too, so
/// the quota still counts the session after its old hard expiry.
#[tokio::test]
async fn extending_a_session_keeps_it_counted_by_the_quota() {
    let (store, _) = common::fresh_store("extend").await;
    let t0 = now();
    let p = policy(1, OnQuotaExhaustion::DenyLogin);
    let id = session_ref("rita");
    let s = session("rita", "web", t0, 10, -1, -1);
    store.create(&id, &s, &p, t0).await.expect("create");
    let mut longer = s.clone();
    longer.max_life = Lifetime::from_minutes("max_life", 60).unwrap();
    let stored = store.update(&id, &longer, t0).await.expect("update");
    assert_eq!(stored.version, 2);
    let index = raw_item(&store, index_key("rita")).await.expect("index");
    assert_eq!(
        index["s"].as_m().unwrap()[&id.to_string()].as_n().unwrap(),
        &(t0.as_millis() + 60 * MIN).to_string()
    );
    let t20 = Timestamp::from_millis(t0.as_millis() + 20 * MIN);
    assert!(store.get(&id, t20).await.expect("get").is_some());
    let err = store
        .create(
            &session_ref("rita"),
            &session("rita", "web", t20, 60, -1, -1),
            &p,
            t20,
        )
        .await
        .expect_err("the extended session still holds the quota");
    assert!(
        matches!(err, StoreError::QuotaExhausted { quota: 1 }),
        "{err:?}"
    );
    // A later update of the same session needs no index change.
    let again = store.update(&id, &stored, t20).await.expect("update");
    assert_eq!(again.version, 3);
}

/// Purge and count page through the table; deletes go in batches of 25.
#[tokio::test]
async fn purge_pages_and_batches() {
    let (store, mut config) = common::fresh_store("pages").await;
    config.scan_page_size = 4;
    config.max_read_units_per_second = 1_000.0;
    let store = {
        drop(store);
        DynamoDbStore::open(&config).await.expect("connect")
    };
    let t0 = now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    for i in 0..30 {
        let who = format!("user-{i}");
        let life = if i % 10 == 0 { 60 } else { 5 };
        store
            .create(
                &session_ref(&who),
                &session(&who, "web", t0, life, -1, -1),
                &p,
                t0,
            )
            .await
            .expect("create");
    }
    assert_eq!(store.count(t0).await.expect("count"), 30);
    let t5 = Timestamp::from_millis(t0.as_millis() + 5 * MIN);
    assert_eq!(store.count(t5).await.expect("count"), 3);
    let report = store.purge(t5).await.expect("purge");
    assert_eq!((report.sessions, report.index_entries), (27, 27));
    assert_eq!(store.count(t5).await.expect("count"), 3);
    assert_eq!(
        store.purge(t5).await.expect("purge"),
        PurgeReport::default()
    );
    // Empty index items are gone; live subjects keep theirs.
    assert!(raw_item(&store, index_key("user-1")).await.is_none());
    assert!(raw_item(&store, index_key("user-10")).await.is_some());
}

/// A stand-in endpoint: forwards to the emulator until cut, or answers
/// every request with a throttling error.
struct FakeEndpoint {
    url: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FakeEndpoint {
    async fn forwarding_to(target: String) -> Self {
        Self::start(move |mut inbound| {
            let target = target.clone();
            async move {
                let host = target.trim_start_matches("http://").to_owned();
                if let Ok(mut outbound) = TcpStream::connect(host).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            }
        })
        .await
    }

    async fn throttling() -> Self {
        Self::start(|mut inbound| async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut seen = Vec::new();
            // Read the head and the body it announces, then answer.
            loop {
                let Ok(n) = inbound.read(&mut buf).await else { return };
                if n == 0 {
                    return;
                }
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if seen.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
            let response = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = inbound.write_all(response.as_bytes()).await;
        })
        .await
    }

    /// Forwards every request to `target`, but the first
    /// `TransactWriteItems` only one way: the emulator applies it, and its
    /// answer is dropped with the connection, as a timeout would lose it.
    async fn losing_the_first_transaction_answer(target: String) -> Self {
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        Self::start(move |mut inbound| {
            let target = target.trim_start_matches("http://").to_owned();
            let lost = Arc::clone(&lost);
            async move {
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    return;
                };
                while let Some(request) = read_message(&mut inbound).await {
                    if outbound.write_all(&request).await.is_err() {
                        return;
                    }
                    let Some(answer) = read_message(&mut outbound).await else {
                        return;
                    };
                    let transaction = String::from_utf8_lossy(&request)
                        .to_lowercase()
                        .contains("dynamodb_20120810.transactwriteitems");
                    if transaction && !lost.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    if inbound.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            }
        })
        .await
    }

    async fn start<F, Fut>(handle: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let spawned = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let task = tokio::spawn(handle(stream));
                spawned.lock().unwrap().push(task);
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { url, tasks }
    }

    /// Closes the port and every open connection.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// One HTTP/1.1 message (head and the body its `content-length` gives),
/// or `None` when the peer closes first.
async fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let text = String::from_utf8_lossy(&seen).to_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                return Some(seen);
            }
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_succeeds_on_the_retry() {
    let (seeded, config) = common::fresh_store("lost-answer").await;
    let proxy = FakeEndpoint::losing_the_first_transaction_answer(common::endpoint()).await;
    let mut via = common::config_for(&proxy.url, &config.table);
    via.max_attempts = 3;
    via.attempt_timeout = Duration::from_secs(5);
    let store = DynamoDbStore::open(&via)
        .await
        .expect("connect through the proxy");
    let t0 = now();
    let id = session_ref("tove");
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let created = store
        .create(&id, &session("tove", "web", t0, 60, 60, 60), &p, t0)
        .await
        .expect("the retry meets its own write: a success, not AlreadyExists");
    assert!(created.closed.is_empty());
    let stored = seeded
        .get(&id, t0)
        .await
        .expect("get")
        .expect("stored once");
    assert_eq!(stored.version, 1);
    let tove = Subject::new("tove").unwrap();
    assert_eq!(
        seeded
            .list_by_subject(&tove, None, t0)
            .await
            .expect("list")
            .len(),
        1
    );
}

fn assert_unavailable<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    match r {
        Err(e) if e.is_unavailable() => {
            assert!(
                std::error::Error::source(&e).is_some(),
                "{what}: keeps its source"
            );
        }
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_never_not_found() {
    let (seeded, config) = common::fresh_store("down").await;
    let t0 = now();
    let id = session_ref("sam");
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    seeded
        .create(&id, &session("sam", "web", t0, 60, 60, 60), &p, t0)
        .await
        .expect("create");

    let proxy = FakeEndpoint::forwarding_to(common::endpoint()).await;
    let mut via = common::config_for(&proxy.url, &config.table);
    via.max_attempts = 2;
    via.connect_timeout = Duration::from_millis(300);
    via.attempt_timeout = Duration::from_secs(1);
    let store = DynamoDbStore::open(&via)
        .await
        .expect("connect through the proxy");
    assert!(store.get(&id, t0).await.expect("get").is_some());

    proxy.cut();
    assert_unavailable("get", store.get(&id, t0).await);
    assert_unavailable("touch", store.get_and_touch(&id, t0, Touch::Yes).await);
    assert_unavailable("delete", store.delete(&id, t0).await);
    let new = session_ref("sam");
    assert_unavailable(
        "create",
        store
            .create(&new, &session("sam", "web", t0, 60, 60, 60), &p, t0)
            .await,
    );
    let sam = Subject::new("sam").unwrap();
    assert_unavailable("list", store.list_by_subject(&sam, None, t0).await);
    assert_unavailable("count", store.count(t0).await);
    assert_unavailable("ping", store.ping().await);
    let err = DynamoDbStore::open(&via).await.expect_err("cannot connect");
    assert!(err.is_unreachable(), "{err:?}");
    // Nothing was lost: the session is still there.
    assert!(seeded.get(&id, t0).await.expect("get").is_some());
}

#[tokio::test]
async fn throttling_is_unavailable_after_the_retries() {
    let fake = FakeEndpoint::throttling().await;
    let mut config = common::config_for(&fake.url, "throttled-table");
    config.max_attempts = 2;
    let err = create_table(&config).await.expect_err("throttled");
    assert!(err.is_unreachable(), "{err:?}");
    let chain = format!("{:?}", std::error::Error::source(&err));
    assert!(chain.contains("ThrottlingException"), "{chain}");
    let err = DynamoDbStore::open(&config).await.expect_err("throttled");
    assert!(err.is_unreachable(), "{err:?}");
    fake.cut();
}

/// The emulator itself stops and comes back (empty, as moto keeps no
/// state): while it is down the store says unavailable, and afterwards it
/// answers again.
#[tokio::test]
async fn the_emulator_going_down_and_coming_back() {
    let bin = std::env::var("TESSERA_TEST_MOTO_SERVER_BIN").unwrap_or_else(|_| {
        panic!("TESSERA_TEST_MOTO_SERVER_BIN is not set. Run the tests with `cargo xtask test`.")
    });
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let start = || {
        std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(Emulator)
            .expect("start moto_server")
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let wait_up = || async {
        for _ in 0..300 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start on {port}");
    };
    let mut moto = start();
    wait_up().await;
    let mut config = common::config_for(&endpoint, &common::unique_table("restart"));
    config.max_attempts = 2;
    config.attempt_timeout = Duration::from_secs(1);
    create_table(&config).await.expect("table");
    let store = DynamoDbStore::open(&config).await.expect("connect");
    let t0 = now();
    let id = session_ref("tara");
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    store
        .create(&id, &session("tara", "web", t0, 60, 60, 60), &p, t0)
        .await
        .expect("create");

    moto.stop();
    assert_unavailable("get while down", store.get(&id, t0).await);
    assert_unavailable(
        "touch while down",
        store.get_and_touch(&id, t0, Touch::Yes).await,
    );

    let mut moto = start();
    wait_up().await;
    // A fresh emulator has no table: a backend error, still not "not found".
    let err = store.get(&id, t0).await.expect_err("no table");
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    create_table(&config).await.expect("table again");
    assert_eq!(store.get(&id, t0).await.expect("get"), None);
    store
        .create(&id, &session("tara", "web", t0, 60, 60, 60), &p, t0)
        .await
        .expect("create again");
    moto.stop();
}

/// A `moto_server` this test started, stopped (by its own handle) when the
/// test ends, also on a failed assertion.
struct Emulator(std::process::Child);

impl Emulator {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Create-if-absent treats an expired item under the same key as absent
/// (DynamoDB's TTL may not have removed it yet).
#[tokio::test]
async fn create_replaces_an_expired_item_under_the_same_key() {
    let (store, _) = common::fresh_store("replace").await;
    let t0 = now();
    let p = policy(1, OnQuotaExhaustion::DenyLogin);
    let id = session_ref("uma");
    store
        .create(&id, &session("uma", "web", t0, 5, -1, -1), &p, t0)
        .await
        .expect("create");
    let t5 = Timestamp::from_millis(t0.as_millis() + 5 * MIN);
    let again = session("uma", "web", t5, 60, -1, -1);
    store.create(&id, &again, &p, t5).await.expect("replaces");
    assert_eq!(store.get(&id, t5).await.expect("get"), Some(again));
    let index = raw_item(&store, index_key("uma")).await.expect("index");
    assert_eq!(index["s"].as_m().unwrap().len(), 1);
}

/// An item's size as DynamoDB counts it: attribute names plus values
/// (strings in UTF-8 bytes; numbers about one byte per two digits, plus
/// one).
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::N(n) => n.len().div_ceil(2) + 1,
                    AttributeValue::B(b) => b.as_ref().len(),
                    _ => 1,
                }
        })
        .sum()
}

#[tokio::test]
#[expect(
    clippy::print_stderr,
    reason = "the size is reported for docs/backends"
)]
async fn a_pre_login_session_is_one_item_and_no_index_item() {
    let (store, _) = common::fresh_store("pre-login").await;
    let t0 = now();
    let mut data = serde_json::Map::new();
    data.insert("cart".into(), serde_json::json!("x".repeat(200)));
    let pre = pre_login_session(t0, data.clone());
    let id = pre_login_ref();
    store.create_anonymous(&id, &pre, t0).await.expect("create");
    let mut next = pre.clone();
    next.data.insert("step".into(), serde_json::json!(2));
    store.update(&id, &next, t0).await.expect("update");
    let items = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "one item, no index item: {items:?}");
    let item = &items[0];
    assert_eq!(item["username"].as_s().unwrap(), &format!("s#{id}"));
    assert_eq!(item["sub"].as_s().unwrap(), "");
    let pre_bytes = item_size(item);

    let signed_in_id = session_ref("quentin");
    let mut signed_in = session("quentin", "web", t0, 60, 60, 30);
    signed_in.data = data;
    store
        .create(
            &signed_in_id,
            &signed_in,
            &policy(5, OnQuotaExhaustion::DenyLogin),
            t0,
        )
        .await
        .expect("create");
    let session_bytes = item_size(
        &raw_item(&store, format!("s#{signed_in_id}"))
            .await
            .expect("session item"),
    );
    let index_bytes = item_size(
        &raw_item(&store, index_key("quentin"))
            .await
            .expect("index item"),
    );
    eprintln!(
        "item sizes, 200-byte data: pre-login {pre_bytes} B; signed-in {session_bytes} B \
         + index {index_bytes} B"
    );
    assert!(pre_bytes < session_bytes + index_bytes);
}
