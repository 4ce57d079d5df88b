//! Shared test helpers: the test services' addresses, isolated stores, a
//! raw client, and private `redis-server` processes for fault tests.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::{Builder, Expiration};
use ring::rand::SecureRandom as _;
use tessera_store::testkit::Fixture;
pub use tessera_store::testkit::service_env;
use tessera_store_redis::{RedisConfig, RedisStore};

/// A key prefix no other test uses: `t-<16 random hex>:`.
pub fn unique_prefix() -> String {
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("random bytes");
    format!("t-{:016x}:", u64::from_be_bytes(bytes))
}

/// The standalone test server, under a fresh prefix.
pub fn standalone_config() -> RedisConfig {
    let mut config = RedisConfig::from_url(service_env("TESSERA_TEST_REDIS_URL"));
    config.key_prefix = unique_prefix();
    config
}

/// The test Cluster, under a fresh prefix.
pub fn cluster_config() -> RedisConfig {
    let urls = service_env("TESSERA_TEST_REDIS_CLUSTER_URLS");
    let mut config = RedisConfig::from_cluster_nodes(urls.split(',').map(str::trim));
    config.key_prefix = unique_prefix();
    config
}

/// A client of its own on the same server(s), to look at or damage what
/// the store wrote.
pub async fn raw_client(config: &RedisConfig) -> Client {
    let client = Builder::from_config(config.fred_config().expect("valid config"))
        .build()
        .expect("client");
    client.init().await.expect("raw client connects");
    client
}

/// A session value of the format after this build's (format 3): its
/// header, then content this build knows nothing of.
pub const NEXT_FORMAT_VALUE: &[u8] = b"TS\x03written by a newer Tessera";

/// A conformance fixture on `config`.
#[cfg(feature = "testkit")]
pub async fn fixture(config: RedisConfig) -> Fixture {
    let store = RedisStore::open(&config).await.expect("store connects");
    let raw = raw_client(&config).await;
    // Every accessor sets a key's value as a writer would, keeping its TTL.
    let set = |raw: Client, key: String, bytes: Vec<u8>| async move {
        let () = raw
            .set(key, bytes, Some(Expiration::KEEPTTL), None, false)
            .await
            .expect("write a value");
    };
    let (damage, ahead, writes) = (raw.clone(), raw.clone(), raw.clone());
    let (k1, k2, k3, k4) = (store.clone(), store.clone(), store.clone(), store.clone());
    Fixture {
        store: Arc::new(store),
        corrupt: Box::new(move |id| {
            Box::pin(set(
                damage.clone(),
                k1.session_key(&id),
                b"TS\x02\x83\xa2lu".to_vec(),
            ))
        }),
        newer: Box::new(move |id| {
            Box::pin(set(
                ahead.clone(),
                k2.session_key(&id),
                NEXT_FORMAT_VALUE.to_vec(),
            ))
        }),
        raw: tessera_store::testkit::RawAccess {
            read: Box::new(move |id| {
                let (raw, key) = (raw.clone(), k3.session_key(&id));
                Box::pin(async move {
                    let value: Option<Vec<u8>> = raw.get(key).await.expect("read a value");
                    value
                })
            }),
            write: Box::new(move |id, bytes| {
                let (raw, key) = (writes.clone(), k4.session_key(&id));
                Box::pin(async move {
                    set(raw, key, bytes).await;
                    true
                })
            }),
            encode: tessera_store_redis::testkit::encode_value,
            encode_nested: tessera_store_redis::testkit::encode_value_nested,
        },
    }
}

/// A free loopback port (free when asked; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `redis-server` of the test's own, persisting every write (AOF,
/// fsync always) in `dir` so a restart keeps the data. Killed on drop.
pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start(dir: &Path) -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: dir.to_owned(),
            child: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port and folder, and waits
    /// until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let bin = service_env("TESSERA_TEST_REDIS_SERVER_BIN");
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL: no goodbye to the clients) and waits for
    /// it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: connections stay open and are even accepted, nothing is
    /// answered, as from a server stuck on a long command or a host that
    /// froze.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// SIGCONT after [`Self::pause`].
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid}");
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 5];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG"
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `ready` every 50 ms for up to 30 s.
pub fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends one inline command to the server on `port` and returns the raw
/// reply (whatever arrives within 300 ms of the first bytes).
pub fn inline(port: u16, command: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
    if stream
        .write_all(format!("{command}\r\n").as_bytes())
        .is_err()
    {
        return String::new();
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&reply).into_owned()
}

/// Reads `id` every 100 ms while a failover is under way, until it reads
/// back as `expected` (at most 60 s). Meanwhile every answer must be
/// `Unavailable`: "no such session" would log a user out, and any other
/// error is not an outage. At least one answer must have been an outage,
/// or the primary's death went unnoticed and the test proved nothing.
pub async fn read_through_failover(
    store: &RedisStore,
    id: &tessera_crypto::SessionRef,
    expected: &tessera_core::Session,
    now: tessera_core::Timestamp,
) {
    use tessera_store::{SessionStore as _, StoreError};
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut outage_answers = 0;
    loop {
        match store.get(id, now).await {
            Ok(Some(found)) => {
                assert_eq!(&found, expected);
                break;
            }
            Ok(None) => panic!("the session was reported gone during the failover"),
            Err(e @ StoreError::Unavailable { .. }) => {
                outage_answers += 1;
                assert!(Instant::now() < deadline, "no recovery after 60 s: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("during the failover: {other:?}"),
        }
    }
    assert!(outage_answers > 0, "the primary's death went unnoticed");
}
