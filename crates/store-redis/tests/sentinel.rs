//! Finding the primary through Redis Sentinel: a primary (and, for the
//! failover, a replica) and one Sentinel of the test's own, and the store
//! configured with the Sentinel only.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use tessera_core::{OnQuotaExhaustion, Timestamp};
use tessera_store::testkit::{policy, session, session_ref};
use tessera_store::{Clock as _, SessionStore, SystemClock};
use tessera_store_redis::{RedisConfig, RedisStore, SentinelConfig};

use common::{inline, wait_for};
use tessera_store::testkit::KillOnDrop;

/// Starts a Sentinel on a free port watching `primary_port` as
/// `tessera-main` (quorum 1; a primary is down after `down_after_ms`), and
/// waits until it listens.
fn start_sentinel(dir: &Path, primary_port: u16, down_after_ms: u64) -> (KillOnDrop, u16) {
    let port = common::free_port();
    // Sentinel rewrites its configuration file, so it gets one of its own.
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\n\
             sentinel monitor tessera-main 127.0.0.1 {primary_port} 1\n\
             sentinel down-after-milliseconds tessera-main {down_after_ms}\n\
             sentinel failover-timeout tessera-main 10000\n",
            dir = dir.display(),
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
    let sentinel = KillOnDrop(child);
    wait_for(&format!("Sentinel on {port} listens"), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (sentinel, port)
}

fn sentinel_config(sentinel_port: u16) -> RedisConfig {
    RedisConfig {
        sentinel: Some(SentinelConfig {
            service_name: "tessera-main".into(),
            nodes: vec![format!("127.0.0.1:{sentinel_port}")],
            username: None,
            password: None,
        }),
        key_prefix: common::unique_prefix(),
        command_timeout: std::time::Duration::from_secs(1),
        connect_timeout: std::time::Duration::from_secs(1),
        ..RedisConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_the_store_follows_sentinel_to_the_new_primary() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("primary")).unwrap();
    std::fs::create_dir(dir.path().join("replica")).unwrap();
    let mut primary = common::PrivateRedis::start(&dir.path().join("primary"));
    let replica_port = common::free_port();
    let replica = KillOnDrop(
        Command::new(common::service_env("TESSERA_TEST_REDIS_SERVER_BIN"))
            .args(["--port", &replica_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--replicaof", "127.0.0.1", &primary.port.to_string()])
            .args(["--appendonly", "yes", "--save", ""])
            .arg("--dir")
            .arg(dir.path().join("replica"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the replica starts"),
    );
    wait_for("the replica is in sync", || {
        inline(replica_port, "INFO replication").contains("master_link_status:up")
    });
    let (_sentinel, sentinel_port) = start_sentinel(dir.path(), primary.port, 1_000);
    wait_for("Sentinel knows the replica", || {
        inline(sentinel_port, "SENTINEL REPLICAS tessera-main").contains(&replica_port.to_string())
    });

    let store = RedisStore::open(&sentinel_config(sentinel_port))
        .await
        .expect("connects through Sentinel");
    let now = Timestamp::from_secs(SystemClock.now().as_secs());
    let quota = policy(5, OnQuotaExhaustion::DenyLogin);
    let before = session_ref("yuri");
    let s = session("yuri", "web", now, 60, 60, 60);
    store
        .create(&before, &s, &quota, now)
        .await
        .expect("create");
    let key = store.session_key(&before);
    wait_for("the session reached the replica", || {
        inline(replica_port, &format!("EXISTS {key}")).starts_with(":1")
    });

    tokio::task::block_in_place(|| primary.kill());
    // Until Sentinel has promoted the replica and the store has followed,
    // a read is an outage, never "no such session": the session exists.
    common::read_through_failover(&store, &before, &s, now).await;

    // Writes land on the promoted replica.
    let after = session_ref("yuri");
    store
        .create(
            &after,
            &session("yuri", "web", now, 60, 60, 60),
            &quota,
            now,
        )
        .await
        .expect("create after the failover");
    let key = store.session_key(&after);
    assert!(
        inline(replica_port, &format!("EXISTS {key}")).starts_with(":1"),
        "the new session is not on the promoted replica"
    );
    assert_eq!(
        store
            .list_by_subject(&tessera_core::Subject::new("yuri").unwrap(), None, now)
            .await
            .expect("list")
            .len(),
        2
    );
    drop(replica);
}

#[tokio::test]
async fn the_store_finds_the_primary_through_sentinel() {
    let dir = tempfile::tempdir().expect("temp dir");
    let primary = common::PrivateRedis::start(dir.path());
    let (_sentinel, port) = start_sentinel(dir.path(), primary.port, 5_000);
    let config = sentinel_config(port);
    let store = RedisStore::open(&config)
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
