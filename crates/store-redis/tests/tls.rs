//! TLS against a real `redis-server` serving TLS only, with a CA and a
//! server certificate made for the test: verified by default, trusted
//! through `tls_ca_file`, and accepted unverified only when asked; and
//! mutual TLS, with a client certificate, for a Redis that asks for one.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_core::{OnQuotaExhaustion, Timestamp};
use tessera_store::testkit::{KillOnDrop, make_certificates, policy, session, session_ref};
use tessera_store::{Clock as _, SessionStore, SystemClock};
use tessera_store_redis::{RedisConfig, RedisStore};

/// A `redis-server` serving TLS only on `port`, with the certificates
/// `make_certificates` left in `dir`, persisting nothing; with
/// `client_certificates`, it requires one signed by the CA (its default).
fn tls_server(dir: &Path, port: u16, client_certificates: bool) -> Command {
    let mut server = Command::new(common::service_env("TESSERA_TEST_REDIS_SERVER_BIN"));
    server
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args([
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients"])
        .arg(if client_certificates { "yes" } else { "no" })
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    server
}

struct TlsRedis {
    port: u16,
    _child: KillOnDrop,
}

impl TlsRedis {
    fn start(dir: &Path, client_certificates: bool) -> Self {
        let port = common::free_port();
        let child = tls_server(dir, port, client_certificates)
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen for TLS (is it built with TLS support?)"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            _child: KillOnDrop(child),
        }
    }
}

fn config(port: u16) -> RedisConfig {
    let mut config = RedisConfig::from_url(format!("rediss://127.0.0.1:{port}"));
    config.key_prefix = common::unique_prefix();
    config.connect_timeout = std::time::Duration::from_secs(1);
    config
}

async fn round_trip(store: &RedisStore) {
    let now = Timestamp::from_secs(SystemClock.now().as_secs());
    let id = session_ref("wes");
    let s = session("wes", "web", now, 60, 60, 60);
    store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), now)
        .await
        .expect("create over TLS");
    assert_eq!(store.get(&id, now).await.expect("get over TLS"), Some(s));
}

#[tokio::test]
async fn tls_is_verified_by_default_and_trusts_the_configured_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_certificates(dir.path());
    let redis = TlsRedis::start(dir.path(), false);

    let started = Instant::now();
    let err = RedisStore::open(&config(redis.port))
        .await
        .expect_err("a certificate from an unknown CA is refused");
    assert!(
        matches!(err, tessera_store_redis::RedisError::Refused { .. }),
        "a refused certificate is not an outage: {err:?}"
    );
    assert!(format!("{err:?}").contains("Certificate"), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused at once, not retried until a timeout"
    );

    let mut trusted = config(redis.port);
    trusted.tls_ca_file = Some(dir.path().join("ca.crt"));
    round_trip(
        &RedisStore::open(&trusted)
            .await
            .expect("connects with the CA"),
    )
    .await;

    let mut insecure = config(redis.port);
    insecure.tls_insecure_skip_verify = true;
    round_trip(
        &RedisStore::open(&insecure)
            .await
            .expect("connects unverified"),
    )
    .await;
}

/// `redis-cli` over TLS, trusting the test CA in `dir` and presenting its
/// client certificate.
fn tls_cli(dir: &Path) -> Command {
    let mut cli = Command::new(common::service_env("TESSERA_TEST_REDIS_CLI_BIN"));
    cli.args(["--tls", "--cacert"])
        .arg(dir.join("ca.crt"))
        .arg("--cert")
        .arg(dir.join("client.crt"))
        .arg("--key")
        .arg(dir.join("client.key"))
        .stdin(Stdio::null())
        .current_dir(dir);
    cli
}

#[tokio::test]
async fn a_redis_that_requires_client_certificates_gets_the_configured_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_certificates(dir.path());
    let redis = TlsRedis::start(dir.path(), true);
    let mut trusted = config(redis.port);
    trusted.tls_ca_file = Some(dir.path().join("ca.crt"));

    let err = RedisStore::open(&trusted)
        .await
        .expect_err("without a client certificate the handshake fails");
    assert!(
        matches!(err, tessera_store_redis::RedisError::Refused { .. }),
        "a refused handshake is not an outage: {err:?}"
    );

    let mut mutual = trusted.clone();
    mutual.tls_cert_file = Some(dir.path().join("client.crt"));
    mutual.tls_key_file = Some(dir.path().join("client.key"));
    round_trip(
        &RedisStore::open(&mutual)
            .await
            .expect("connects with the client certificate"),
    )
    .await;

    // A key that is not the certificate's, or half of the pair, is a
    // setup error naming the setting, before any connection.
    let mut mismatched = mutual.clone();
    mismatched.tls_key_file = Some(dir.path().join("server.key"));
    let err = RedisStore::open(&mismatched)
        .await
        .expect_err("mismatched key");
    assert!(
        matches!(
            err,
            tessera_store_redis::RedisError::Tls {
                setting: "tls_key_file",
                ..
            }
        ),
        "{err:?}"
    );
    let mut half = mutual.clone();
    half.tls_key_file = None;
    let err = RedisStore::open(&half)
        .await
        .expect_err("a certificate without its key");
    assert!(
        matches!(
            err,
            tessera_store_redis::RedisError::Invalid {
                setting: "tls_key_file",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err:?} {err}").contains("PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_served_over_tls_only_is_verified_and_works() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_certificates(dir.path());
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let port = common::free_port();
        let child = tls_server(dir.path(), port, true)
            .args(["--tls-cluster", "yes"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .spawn()
            .expect("redis-server starts");
        nodes.push((KillOnDrop(child), port));
    }
    for (_, port) in &nodes {
        common::wait_for(&format!("node {port} listens for TLS"), || {
            std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok()
        });
    }
    let create = tls_cli(dir.path())
        .arg("--cluster")
        .arg("create")
        .args(nodes.iter().map(|(_, port)| format!("127.0.0.1:{port}")))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli runs");
    assert!(
        create.status.success(),
        "cluster create over TLS: {}{}",
        String::from_utf8_lossy(&create.stdout),
        String::from_utf8_lossy(&create.stderr)
    );
    for (_, port) in &nodes {
        common::wait_for(&format!("node {port} sees the cluster ok"), || {
            tls_cli(dir.path())
                .args(["-p", &port.to_string(), "CLUSTER", "INFO"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
        });
    }

    let cluster = |ca: bool| {
        let mut config = RedisConfig::from_cluster_nodes(
            nodes
                .iter()
                .map(|(_, port)| format!("rediss://127.0.0.1:{port}")),
        );
        config.key_prefix = common::unique_prefix();
        config.connect_timeout = std::time::Duration::from_secs(1);
        config.tls_ca_file = ca.then(|| dir.path().join("ca.crt"));
        // The nodes ask every client for a certificate (mutual TLS).
        config.tls_cert_file = Some(dir.path().join("client.crt"));
        config.tls_key_file = Some(dir.path().join("client.key"));
        config
    };
    let err = RedisStore::open(&cluster(false))
        .await
        .expect_err("a Cluster node's certificate from an unknown CA is refused");
    assert!(format!("{err:?}").contains("Certificate"), "{err:?}");

    // Trusted: sessions of many subjects, so every primary serves some.
    let store = RedisStore::open(&cluster(true))
        .await
        .expect("connects to the Cluster with the CA");
    let now = Timestamp::from_secs(SystemClock.now().as_secs());
    let quota = policy(5, OnQuotaExhaustion::DenyLogin);
    let mut created = Vec::new();
    for i in 0..30 {
        let who = format!("tls-user-{i}");
        let id = session_ref(&who);
        let s = session(&who, "web", now, 60, 60, 60);
        store.create(&id, &s, &quota, now).await.expect("create");
        created.push((id, s));
    }
    for (id, s) in &created {
        assert_eq!(store.get(id, now).await.expect("get").as_ref(), Some(s));
    }
    let mut slots_by_node = std::collections::HashSet::new();
    for (id, _) in &created {
        let key = store.session_key(id);
        for (_, port) in &nodes {
            let out = tls_cli(dir.path())
                .args(["-p", &port.to_string(), "EXISTS", &key])
                .output()
                .expect("redis-cli runs");
            if String::from_utf8_lossy(&out.stdout).trim() == "1" {
                slots_by_node.insert(*port);
            }
        }
    }
    assert_eq!(slots_by_node.len(), 3, "every primary holds some sessions");
    assert_eq!(store.count(now).await.expect("count"), 30);
}

/// A Sentinel serving TLS only, asking its clients for a certificate and
/// reaching the primary over TLS itself, its own certificate serving as
/// its client certificate; killed on drop.
struct TlsSentinel {
    port: u16,
    _process: KillOnDrop,
}

impl TlsSentinel {
    fn start(dir: &Path, primary_port: u16) -> Self {
        let port = common::free_port();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port 0\ntls-port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 tls-cert-file {dir}/server.crt\ntls-key-file {dir}/server.key\n\
                 tls-ca-cert-file {dir}/ca.crt\ntls-auth-clients yes\ntls-replication yes\n\
                 sentinel monitor tessera-main 127.0.0.1 {primary_port} 1\n",
                dir = dir.display(),
            ),
        )
        .expect("write sentinel.conf");
        let process = KillOnDrop(
            Command::new(common::service_env("TESSERA_TEST_REDIS_SERVER_BIN"))
                .arg(&conf)
                .arg("--sentinel")
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server --sentinel starts"),
        );
        common::wait_for("Sentinel listens for TLS", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Self {
            port,
            _process: process,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_and_its_primary_requiring_client_certificates_get_the_configured_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_certificates(dir.path());
    let primary = TlsRedis::start(dir.path(), true);
    let sentinel = TlsSentinel::start(dir.path(), primary.port);
    let through_sentinel = RedisConfig {
        sentinel: Some(tessera_store_redis::SentinelConfig {
            service_name: "tessera-main".into(),
            nodes: vec![format!("127.0.0.1:{}", sentinel.port)],
            username: None,
            password: None,
        }),
        options: tessera_store_redis::ConnectionOptions {
            ssl: true,
            ..tessera_store_redis::ConnectionOptions::default()
        },
        tls_ca_file: Some(dir.path().join("ca.crt")),
        key_prefix: common::unique_prefix(),
        connect_timeout: Duration::from_secs(1),
        ..RedisConfig::default()
    };

    let err = RedisStore::open(&through_sentinel)
        .await
        .expect_err("without a client certificate Sentinel refuses the handshake");
    assert!(
        matches!(err, tessera_store_redis::RedisError::Refused { .. }),
        "a refused handshake is not an outage: {err:?}"
    );

    let mut mutual = through_sentinel;
    mutual.tls_cert_file = Some(dir.path().join("client.crt"));
    mutual.tls_key_file = Some(dir.path().join("client.key"));
    round_trip(
        &RedisStore::open(&mutual)
            .await
            .expect("finds the primary through Sentinel and connects to both with the certificate"),
    )
    .await;
}
