//! Crashes and a full disk, for real: a writer process killed with SIGKILL
//! at 50 points, and a store on a tiny tmpfs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{OnQuotaExhaustion, Subject, Timestamp};
use tessera_crypto::SessionRef;
use tessera_store::backend::record;
use tessera_store::testkit::{policy, session, session_ref};
use tessera_store::{Clock, SessionStore, StoreError, SystemClock, Touch};
use tessera_store_local::{LocalConfig, LocalStore};

const QUOTA: i64 = 4;
const SUBJECTS: usize = 6;
const WORKER_DIR: &str = "TESSERA_CRASH_WORKER_DIR";

fn now() -> Timestamp {
    Timestamp::from_secs(SystemClock.now().as_secs())
}

/// Not a test on its own: the writer that `acknowledged_sessions_survive_sigkill`
/// starts and kills. Does nothing without the worker environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::print_stdout,
    reason = "the parent reads acknowledgements from stdout"
)]
async fn crash_worker_writes_until_killed() {
    let Ok(dir) = std::env::var(WORKER_DIR) else {
        return;
    };
    let store = LocalStore::open(&LocalConfig::new(dir)).await.unwrap();
    let p = policy(QUOTA, OnQuotaExhaustion::DenyLogin);
    // Sessions left by earlier rounds can be deleted too, so the subjects
    // never all sit at their quota.
    let mut mine: Vec<SessionRef> = Vec::new();
    for s in 0..SUBJECTS {
        let subject = Subject::new(format!("crash-{s}")).unwrap();
        for stored in store.list_by_subject(&subject, None, now()).await.unwrap() {
            mine.push(stored.id);
        }
    }
    println!("READY");
    for i in 0usize.. {
        let who = format!("crash-{}", i % SUBJECTS);
        let t = now();
        match i % 4 {
            // Mostly creates; a delete and a touch now and then.
            0..=1 => {
                let id = session_ref(&who);
                match store
                    .create(&id, &session(&who, "web", t, 600, 600, 600), &p, t)
                    .await
                {
                    Ok(_) => {
                        println!("ACK {id}");
                        mine.push(id);
                    }
                    Err(StoreError::QuotaExhausted { .. }) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
            2 if !mine.is_empty() => {
                let id = mine.remove(i % mine.len());
                // Announced before it starts: it may or may not complete.
                println!("DELETING {id}");
                store.delete(&id, t).await.unwrap();
            }
            _ => {
                if let Some(id) = mine.last() {
                    store
                        .get_and_touch(id, t.plus_millis(120_000), Touch::Yes)
                        .await
                        .unwrap();
                }
            }
        }
    }
}

/// Every file under `sessions/` decodes: no torn records.
fn all_records_decode(root: &Path) -> usize {
    let mut n = 0;
    for shard in std::fs::read_dir(root.join("sessions")).unwrap() {
        for file in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.file_name().unwrap().to_str().unwrap().starts_with('.') {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            record::decode(&bytes).unwrap_or_else(|e| panic!("torn file {}: {e}", path.display()));
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_sessions_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    LocalStore::open(&LocalConfig::new(&dir)).await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut deleting: BTreeSet<String> = BTreeSet::new();
    // A fixed pseudo-random sequence of kill points between 5 and 80 ms.
    let mut seed: u64 = 0x5eed_cafe;
    for round in 0..50 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = Duration::from_millis(5 + (seed >> 33) % 76);
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_worker_writes_until_killed", "--nocapture"])
            .env(WORKER_DIR, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Count the delay from the moment the writer is in its loop, so every
        // kill lands among writes whatever the machine's load.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // The test harness prints its own header first.
        loop {
            let line = lines.next().expect("the writer starts").unwrap();
            if line.ends_with("READY") {
                break;
            }
        }
        let reader = std::thread::spawn(move || lines.collect::<Result<Vec<String>, _>>());
        tokio::time::sleep(delay).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for line in reader.join().unwrap().unwrap() {
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.insert(id.to_owned());
            } else if let Some(id) = line.strip_prefix("DELETING ") {
                deleting.insert(id.to_owned());
            }
        }

        // A fresh store opens the folder after the crash.
        let store = LocalStore::open(&LocalConfig::new(&dir)).await.unwrap();
        let t = now();
        for id in acked.difference(&deleting) {
            let id: SessionRef = id.parse().unwrap();
            assert!(
                store.get(&id, t).await.unwrap().is_some(),
                "round {round}: acknowledged session {id} lost"
            );
        }
        let files = all_records_decode(&dir);
        // The index agrees with the files: every session file is listed
        // under its subject, and the quota holds.
        let mut listed = 0;
        let mut per_subject = BTreeMap::new();
        for s in 0..SUBJECTS {
            let subject = Subject::new(format!("crash-{s}")).unwrap();
            let live = store.list_by_subject(&subject, None, t).await.unwrap();
            assert!(
                live.len() <= usize::try_from(QUOTA).unwrap(),
                "round {round}: quota broken"
            );
            listed += live.len();
            per_subject.insert(s, live.len());
        }
        assert_eq!(
            listed, files,
            "round {round}: a session file is missing from its index"
        );
        // Purge repairs whatever the crash left (index entries without files).
        store.purge(t).await.unwrap();
        assert_eq!(
            store.purge(t).await.unwrap(),
            tessera_store::PurgeReport::default()
        );
    }
    assert!(
        acked.len() > 50,
        "the writer acknowledged only {} sessions",
        acked.len()
    );
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    uid.split_whitespace().nth(2) == Some("0")
}

/// Unmounts on drop, also when an assertion fails.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_fails_writes_clearly_and_keeps_what_is_stored() {
    if !is_root() {
        // Mounting a small tmpfs needs root; CI runs as root.
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("tiny");
    std::fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=192k,mode=0700", "tessera-test"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(ok.success(), "mounting a tmpfs as root failed");
    let _mount = Mount(mnt.clone());

    let store = Arc::new(
        LocalStore::open(&LocalConfig::new(mnt.join("store")))
            .await
            .unwrap(),
    );
    let p = policy(25, OnQuotaExhaustion::DenyLogin);
    let t = now();
    let mut stored = Vec::new();
    let err = loop {
        let who = format!("full-{}", stored.len() % 50);
        let id = session_ref(&who);
        let mut s = session(&who, "web", t, 600, 600, 600);
        s.data
            .insert("pad".into(), serde_json::Value::from("x".repeat(300)));
        match store.create(&id, &s, &p, t).await {
            Ok(_) => stored.push(id),
            Err(e) => break e,
        }
        assert!(stored.len() < 100_000, "the tmpfs never filled up");
    };
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("disk full"), "{err}");
    for id in &stored {
        assert!(
            store.get(id, t).await.unwrap().is_some(),
            "a stored session became unreadable"
        );
    }
    // Reads keep working, and once space is freed writes do too.
    let freed = stored.pop().unwrap();
    store.delete(&freed, t).await.unwrap();
    for id in stored.iter().take(20) {
        store.delete(id, t).await.unwrap();
    }
    let id = session_ref("after");
    store
        .create(&id, &session("after", "web", t, 600, 600, 600), &p, t)
        .await
        .expect("writes work again after space is freed");
}
