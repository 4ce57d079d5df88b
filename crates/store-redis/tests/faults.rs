//! Failure behaviour against real `redis-server` processes of the tests'
//! own: an outage is "unavailable" (never "not found", never a hang past
//! the command timeout), the store recovers by itself, and scripts survive
//! a flushed script cache.

mod common;

use std::time::{Duration, Instant};

use fred::interfaces::{ClientLike as _, LuaInterface as _};
use tessera_core::{Context, OnQuotaExhaustion, Subject, Timestamp};
use tessera_store::testkit::{policy, session, session_ref};
use tessera_store::{Clock as _, SessionStore, StoreError, SystemClock, Touch};
use tessera_store_redis::{RedisConfig, RedisError, RedisStore};

use common::PrivateRedis;

const COMMAND_TIMEOUT_MS: u64 = 500;

fn private_config(redis: &PrivateRedis) -> RedisConfig {
    let mut config = RedisConfig::from_url(redis.url());
    config.key_prefix = common::unique_prefix();
    config.command_timeout = Duration::from_millis(COMMAND_TIMEOUT_MS);
    config.connect_timeout = Duration::from_secs(1);
    config
}

fn now() -> Timestamp {
    Timestamp::from_secs(SystemClock.now().as_secs())
}

/// Every operation fails as unavailable, within the command timeout (plus
/// scheduling slack for a loaded machine; a hang would last until the
/// test's own timeout, four times the limit), while the server is down.
async fn assert_every_operation_unavailable(store: &RedisStore, subject: &Subject) {
    let now = now();
    let id = session_ref(subject.as_str());
    let s = session(subject.as_str(), "web", now, 60, 60, 60);
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let limit = Duration::from_millis(COMMAND_TIMEOUT_MS + 2_500);
    macro_rules! check {
        ($name:literal, $op:expr) => {{
            let started = Instant::now();
            let result = tokio::time::timeout(limit * 4, $op)
                .await
                .unwrap_or_else(|_| panic!("{} hung while Redis is down", $name));
            let took = started.elapsed();
            match result {
                Err(e @ StoreError::Unavailable { .. }) => {
                    assert!(took <= limit, "{} took {took:?} to fail: {e}", $name);
                }
                other => panic!("{} while Redis is down: {other:?}", $name),
            }
        }};
    }
    check!("create", store.create(&id, &s, &p, now));
    check!("get", store.get(&id, now));
    check!("get_and_touch", store.get_and_touch(&id, now, Touch::Yes));
    check!("update", store.update(&id, &s, now));
    check!("delete", store.delete(&id, now));
    check!("list_by_subject", store.list_by_subject(subject, None, now));
    check!(
        "delete_by_subject",
        store.delete_by_subject(subject, Some(&Context::default()), now)
    );
    check!("count", store.count(now));
    check!("purge", store.purge(now));
    check!("ping", store.ping());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_unavailable_and_the_store_recovers_by_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut redis = PrivateRedis::start(dir.path());
    let store = RedisStore::open(&private_config(&redis))
        .await
        .expect("connects");
    let subject = Subject::new("olga").expect("subject");
    let now = now();
    let id = session_ref("olga");
    let s = session("olga", "web", now, 600, 600, 600);
    store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), now)
        .await
        .expect("create");

    redis.kill();
    // Twice: right after the connection drops, and once the client is in
    // its reconnect loop.
    assert_every_operation_unavailable(&store, &subject).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_every_operation_unavailable(&store, &subject).await;

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let back = loop {
        match store.get(&id, now).await {
            Ok(found) => break found,
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the store did not recover: {e:?}"),
        }
    };
    assert_eq!(
        back,
        Some(s),
        "the session survived the restart, read by the same store"
    );
    assert_eq!(store.count(now).await.expect("count"), 1);
    store.ping().await.expect("ping");
}

/// A server that accepts and never answers (stopped) is an outage too:
/// no command waits past the command timeout, though the connection is
/// up, and the store comes back by itself when the server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_is_unavailable_and_the_store_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = PrivateRedis::start(dir.path());
    let store = RedisStore::open(&private_config(&redis))
        .await
        .expect("connects");
    let subject = Subject::new("paula").expect("subject");
    let now = now();
    let id = session_ref("paula");
    let s = session("paula", "web", now, 600, 600, 600);
    store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), now)
        .await
        .expect("create");
    assert_eq!(store.get(&id, now).await.expect("get"), Some(s));

    redis.pause();
    assert_every_operation_unavailable(&store, &subject).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_every_operation_unavailable(&store, &subject).await;

    // The commands written before the client gave up are still in the
    // server's socket buffers and run when it resumes (a timeout never
    // says a command did not run): the delete among them ends the session.
    // What must hold is that the same store works again by itself.
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.ping().await {
            Ok(()) => break,
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the store did not recover: {e:?}"),
        }
    }
    let later = session_ref("paula");
    let s2 = session("paula", "web", now, 600, 600, 600);
    store
        .create(&later, &s2, &policy(5, OnQuotaExhaustion::DenyLogin), now)
        .await
        .expect("create after the server resumed");
    assert_eq!(store.get(&later, now).await.expect("get"), Some(s2));
}

#[tokio::test]
async fn connecting_to_a_dead_server_is_unavailable_within_the_connect_timeout() {
    let mut config = RedisConfig::from_url(format!("redis://127.0.0.1:{}", common::free_port()));
    config.connect_timeout = Duration::from_millis(700);
    let started = Instant::now();
    let err = RedisStore::open(&config)
        .await
        .expect_err("nothing listens there");
    assert!(err.is_unreachable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(700 + 2_500),
        "took {:?}",
        started.elapsed()
    );
}

/// A port that accepts connections and never answers (a stopped server, a
/// proxy with nothing behind it): opening fails within the connect timeout
/// (plus the command timeout for closing), and never hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_server_that_never_answers_fails_in_time() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    // Accept and hold every connection, saying nothing.
    let held = std::thread::spawn(move || {
        let mut streams = Vec::new();
        for stream in listener.incoming().take(64) {
            streams.push(stream);
        }
        streams.len()
    });
    let mut config = RedisConfig::from_url(format!("redis://127.0.0.1:{port}"));
    config.connect_timeout = Duration::from_millis(700);
    config.command_timeout = Duration::from_millis(COMMAND_TIMEOUT_MS);
    let started = Instant::now();
    let limit = Duration::from_millis(700 + COMMAND_TIMEOUT_MS + 2_500);
    let result = tokio::time::timeout(limit * 4, RedisStore::open(&config))
        .await
        .expect("opening hung against a server that never answers");
    let err = result.expect_err("nothing answers there");
    assert!(err.is_unreachable(), "{err:?}");
    assert!(started.elapsed() <= limit, "took {:?}", started.elapsed());
    drop(held);
}

#[tokio::test]
async fn a_wrong_password_is_a_backend_error_not_an_outage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = PrivateRedis::start(dir.path());
    let raw = common::raw_client(&RedisConfig::from_url(redis.url())).await;
    let () = raw
        .custom(
            fred::types::CustomCommand::new_static("CONFIG", None, false),
            vec!["SET", "requirepass", "right"],
        )
        .await
        .expect("set a password");
    let mut config = private_config(&redis);
    config.url = Some(format!("redis://:wrong@127.0.0.1:{}", redis.port));
    let err = RedisStore::open(&config).await.expect_err("refused");
    assert!(matches!(err, RedisError::Refused { .. }), "{err:?}");
}

async fn flush_scripts_then_use(config: RedisConfig, clustered: bool) {
    let store = RedisStore::open(&config).await.expect("connects");
    let raw = common::raw_client(&config).await;
    let now = now();
    let p = policy(2, OnQuotaExhaustion::CloseOldSession);
    let a = session_ref("pete");
    let s = session("pete", "web", now, 60, 60, 60);
    let flush = async || {
        if clustered {
            raw.script_flush_cluster(false).await.expect("flush");
        } else {
            raw.script_flush(false).await.expect("flush");
        }
    };
    flush().await;
    store
        .create(&a, &s, &p, now)
        .await
        .expect("create after flush");
    flush().await;
    assert_eq!(
        store.get(&a, now).await.expect("get after flush"),
        Some(s.clone())
    );
    flush().await;
    let subject = Subject::new("pete").expect("subject");
    assert_eq!(
        store
            .list_by_subject(&subject, None, now)
            .await
            .expect("list after flush")
            .len(),
        1
    );
    flush().await;
    assert_eq!(store.delete(&a, now).await.expect("delete"), Some(s));
}

#[tokio::test]
async fn scripts_survive_a_flushed_script_cache_standalone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = PrivateRedis::start(dir.path());
    flush_scripts_then_use(private_config(&redis), false).await;
}

#[tokio::test]
async fn scripts_survive_a_flushed_script_cache_cluster() {
    flush_scripts_then_use(common::cluster_config(), true).await;
}
