//! A Redis Cluster losing a primary: six nodes of the test's own (three
//! primaries, each with a replica), the primary holding a subject's slot
//! SIGKILLed, its replica promoted by the Cluster itself.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use tessera_core::{OnQuotaExhaustion, Subject, Timestamp};
use tessera_store::testkit::{policy, session, session_ref};
use tessera_store::{Clock as _, SessionStore, SystemClock};
use tessera_store_redis::{RedisConfig, RedisStore};

use common::{inline, wait_for};
use tessera_store::testkit::KillOnDrop;

const NODES: usize = 6;

/// Starts a cluster-enabled node on a free port.
fn start_node(dir: &Path) -> (KillOnDrop, u16) {
    let port = common::free_port();
    let dir = dir.join(port.to_string());
    std::fs::create_dir(&dir).expect("node dir");
    let child = Command::new(common::service_env("TESSERA_TEST_REDIS_SERVER_BIN"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
        .args(["--appendonly", "no", "--save", ""])
        .arg("--cluster-config-file")
        .arg(dir.join("nodes.conf"))
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let node = KillOnDrop(child);
    wait_for(&format!("node {port} answers"), || {
        inline(port, "PING").starts_with("+PONG")
    });
    (node, port)
}

/// The line of `CLUSTER NODES` (asked of `port`) of the primary serving
/// `slot`, and of its replica: `(primary port, replica port)`.
fn slot_owner_and_replica(port: u16, slot: u16) -> Option<(u16, u16)> {
    let nodes = inline(port, "CLUSTER NODES");
    let lines: Vec<Vec<&str>> = nodes
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 8)
        .collect();
    let node_port = |addr: &str| -> Option<u16> { addr.split(['@', ':']).nth(1)?.parse().ok() };
    let primary = lines.iter().find(|f| {
        f[2].contains("master")
            && !f[2].contains("fail")
            && f[8..].iter().any(|range| {
                let mut ends = range.split('-').map(str::parse::<u16>);
                match (ends.next(), ends.next()) {
                    (Some(Ok(a)), Some(Ok(b))) => (a..=b).contains(&slot),
                    (Some(Ok(a)), None) => a == slot,
                    _ => false,
                }
            })
    })?;
    let replica = lines
        .iter()
        .find(|f| f[2].contains("slave") && f[3] == primary[0])?;
    Some((node_port(primary[1])?, node_port(replica[1])?))
}

/// Whether `key` exists on the replica on `port` (read through `READONLY`).
fn replica_has(port: u16, key: &str) -> bool {
    inline(port, &format!("READONLY\r\nEXISTS {key}")).contains(":1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_primary_dies_the_store_follows_the_cluster_to_its_replica() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut nodes: Vec<(Option<KillOnDrop>, u16)> = (0..NODES)
        .map(|_| {
            let (p, port) = start_node(dir.path());
            (Some(p), port)
        })
        .collect();
    let create = Command::new(common::service_env("TESSERA_TEST_REDIS_CLI_BIN"))
        .arg("--cluster")
        .arg("create")
        .args(nodes.iter().map(|(_, port)| format!("127.0.0.1:{port}")))
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    assert!(
        create.status.success(),
        "cluster create: {}",
        String::from_utf8_lossy(&create.stdout)
    );
    for &(_, port) in &nodes {
        wait_for(&format!("node {port} sees the cluster ok"), || {
            inline(port, "CLUSTER INFO").contains("cluster_state:ok")
        });
    }

    let mut config = RedisConfig::from_cluster_nodes(
        nodes
            .iter()
            .map(|(_, port)| format!("redis://127.0.0.1:{port}")),
    );
    config.key_prefix = common::unique_prefix();
    config.command_timeout = std::time::Duration::from_secs(1);
    config.connect_timeout = std::time::Duration::from_secs(1);
    let store = RedisStore::open(&config)
        .await
        .expect("connects to the cluster");
    let now = Timestamp::from_secs(SystemClock.now().as_secs());
    let quota = policy(5, OnQuotaExhaustion::DenyLogin);
    let before = session_ref("zoe");
    let s = session("zoe", "web", now, 60, 60, 60);
    store
        .create(&before, &s, &quota, now)
        .await
        .expect("create");
    let key = store.session_key(&before);

    let any = nodes[0].1;
    let slot: u16 = inline(any, &format!("CLUSTER KEYSLOT {key}"))
        .trim_start_matches(':')
        .trim()
        .parse()
        .expect("a slot number");
    let mut owner = None;
    wait_for("the slot's primary has a replica", || {
        owner = slot_owner_and_replica(any, slot);
        owner.is_some()
    });
    let (primary_port, replica_port) = owner.expect("found");
    wait_for("the session reached the replica", || {
        replica_has(replica_port, &key)
    });

    let victim = nodes
        .iter_mut()
        .find(|(_, port)| *port == primary_port)
        .expect("the primary is ours");
    drop(victim.0.take());

    // Until the replica is promoted and the store has followed, a read is
    // an outage, never "no such session".
    common::read_through_failover(&store, &before, &s, now).await;

    // The same subject's slot now lives on the promoted replica: a create
    // (one script on that slot) lands there, and the quota still sees both.
    let after = session_ref("zoe");
    store
        .create(&after, &session("zoe", "web", now, 60, 60, 60), &quota, now)
        .await
        .expect("create after the failover");
    let key = store.session_key(&after);
    assert!(
        inline(replica_port, &format!("EXISTS {key}")).contains(":1"),
        "the new session is not on the promoted replica"
    );
    let listed = store
        .list_by_subject(&Subject::new("zoe").unwrap(), None, now)
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
}
