//! Finding the primary through Redis Sentinel: a primary and one Sentinel
//! of the test's own, and the store configured with the Sentinel only.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_core::{OnQuotaExhaustion, Timestamp};
use tessera_store::testkit::{policy, session, session_ref};
use tessera_store::{Clock as _, SessionStore, SystemClock};
use tessera_store_redis::{RedisConfig, RedisStore, SentinelConfig};

struct Sentinel {
    child: Child,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_store_finds_the_primary_through_sentinel() {
    let dir = tempfile::tempdir().expect("temp dir");
    let primary = common::PrivateRedis::start(dir.path());
    let port = common::free_port();
    // Sentinel rewrites its configuration file, so it gets one of its own.
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\nsentinel monitor tessera-main 127.0.0.1 {} 1\n",
            primary.port
        ),
    )
    .expect("write sentinel.conf");
    let child = Command::new(common::service_env("TESSERA_TEST_REDIS_SERVER_BIN"))
        .arg(&conf)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server --sentinel starts");
    let _sentinel = Sentinel { child };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "Sentinel did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }

    let config = RedisConfig {
        sentinel: Some(SentinelConfig {
            service_name: "tessera-main".into(),
            nodes: vec![format!("127.0.0.1:{port}")],
            username: None,
            password: None,
        }),
        key_prefix: common::unique_prefix(),
        ..RedisConfig::default()
    };
    let store = RedisStore::connect(&config)
        .await
        .expect("connects through Sentinel");
    let now = Timestamp::from_secs(SystemClock.now().as_secs());
    let id = session_ref("xena");
    let s = session("xena", "web", now, 60, 60, 60);
    store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), now)
        .await
        .expect("create");
    assert_eq!(store.get(&id, now).await.expect("get"), Some(s));

    // The session is on the primary Sentinel named.
    let raw = common::raw_client(&RedisConfig::from_url(primary.url())).await;
    let exists: i64 = fred::interfaces::KeysInterface::exists(&raw, store.session_key(&id))
        .await
        .expect("exists");
    assert_eq!(exists, 1);
}
