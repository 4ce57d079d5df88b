//! What only the local folder store promises: file modes, folder safety,
//! damaged and future-format files, touch coalescing, the sweeper, and the
//! quota across two real processes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{OnQuotaExhaustion, Subject, Timestamp};
use tessera_store::testkit::MockClock;
use tessera_store::testkit::{policy, pre_login_ref, pre_login_session, session, session_ref};
use tessera_store::{Clock, SessionStore, StoreError, SystemClock, Touch};
use tessera_store_local::{LocalConfig, LocalError, LocalStore};

fn now() -> Timestamp {
    Timestamp::from_secs(SystemClock.now().as_secs())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn all_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            all_files(&path, out);
        }
        out.push(path);
    }
}

#[tokio::test]
async fn folders_are_0700_and_files_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("a/b/store");
    let store = LocalStore::open(&LocalConfig::new(&root)).await.unwrap();
    let t = now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    store
        .create(
            &session_ref("alice"),
            &session("alice", "web", t, 60, 60, 60),
            &p,
            t,
        )
        .await
        .unwrap();
    assert_eq!(mode(&root), 0o700);
    let mut files = Vec::new();
    all_files(&root, &mut files);
    assert!(files.len() > 5, "{files:?}");
    for f in files {
        let expected = if f.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&f), expected, "{}", f.display());
    }
}

/// The error `LocalStore::open` gives for `root`.
async fn open_error(root: &Path) -> String {
    let err = LocalStore::open(&LocalConfig::new(root))
        .await
        .expect_err("the folder was accepted");
    assert!(matches!(err, LocalError::UnsafeFolder { .. }), "{err:?}");
    err.to_string()
}

#[tokio::test]
async fn refuses_a_folder_someone_else_owns_or_may_write() {
    let tmp = tempfile::tempdir().unwrap();
    let make = |name: &str, mode: u32| {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    };
    let text = open_error(&make("sticky", 0o1777)).await;
    assert!(text.contains("world-writable (mode 1777)"), "{text}");
    let text = open_error(&make("group", 0o775)).await;
    assert!(text.contains("group-writable (mode 0775)"), "{text}");
    assert!(text.contains("chmod 700"), "{text}");

    let other = if rustix_euid() == 0 {
        // As root, a private-looking folder that belongs to `nobody`.
        let dir = make("nobody", 0o755);
        std::os::unix::fs::chown(&dir, Some(65_534), Some(65_534)).unwrap();
        dir
    } else {
        // Otherwise /tmp itself, owned by root.
        std::env::temp_dir()
    };
    let text = open_error(&other).await;
    assert!(text.contains("not by the current user"), "{text}");
}

#[tokio::test]
async fn refuses_a_subfolder_swapped_for_an_open_one() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    drop(LocalStore::open(&LocalConfig::new(&root)).await.unwrap());
    for sub in ["sessions", "subjects", "locks", "legacy"] {
        let dir = root.join(sub);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let text = open_error(&root).await;
        assert!(
            text.contains(&format!("{sub}: it is world-writable")),
            "{text}"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    LocalStore::open(&LocalConfig::new(&root)).await.unwrap();
}

fn rustix_euid() -> u32 {
    // The tests do not depend on rustix; /proc tells the effective uid.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// A folder swapped in at the store's path after start-up is never read:
/// the store works through the folder it opened. A session file replaced
/// by a symbolic link, or opened to others, is refused.
#[tokio::test]
async fn a_folder_swapped_after_start_up_and_planted_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let store = LocalStore::open(&LocalConfig::new(&root)).await.unwrap();
    let now = now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let id = session_ref("alice");
    let s = session("alice", "web", now, 60, 60, 60);
    store.create(&id, &s, &p, now).await.unwrap();

    // Someone who owns the parent swaps the folder for a copy with a
    // planted record under the same name.
    let mut files = Vec::new();
    all_files(&root, &mut files);
    let file = files
        .iter()
        .find(|f| f.file_name().is_some_and(|n| n == id.to_string().as_str()))
        .expect("the session file")
        .strip_prefix(&root)
        .unwrap()
        .to_path_buf();
    std::fs::rename(&root, tmp.path().join("moved")).unwrap();
    let copy = Command::new("cp")
        .arg("-a")
        .arg(tmp.path().join("moved"))
        .arg(&root)
        .status()
        .unwrap();
    assert!(copy.success());
    let mut planted = s.clone();
    planted.subject = Subject::new("mallory").unwrap();
    std::fs::write(
        root.join(&file),
        tessera_store::backend::record::encode(&planted),
    )
    .unwrap();
    let read = store.get(&id, now).await.unwrap().expect("still there");
    assert_eq!(
        read.subject.as_str(),
        "alice",
        "the planted folder is never read"
    );
    assert_eq!(
        store.path(),
        root.as_path(),
        "messages name the configured path"
    );

    // In the folder the store holds: a symlink, then an open mode.
    let held = tmp.path().join("moved").join(&file);
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::copy(&held, &elsewhere).unwrap();
    std::fs::remove_file(&held).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &held).unwrap();
    let err = store.get(&id, now).await.expect_err("a symlink is refused");
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("symbolic link")),
        "{err:?}"
    );
    std::fs::remove_file(&held).unwrap();
    std::fs::copy(&elsewhere, &held).unwrap();
    std::fs::set_permissions(&held, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = store
        .get(&id, now)
        .await
        .expect_err("an open mode is refused");
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("0644")),
        "{err:?}"
    );
    std::fs::set_permissions(&held, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(store.get(&id, now).await.unwrap().is_some());
}

#[tokio::test]
async fn damaged_and_future_files_are_typed_errors_and_lose_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let store = LocalStore::open(&LocalConfig::new(&root)).await.unwrap();
    let t = now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let (garbage, future, fine) = (session_ref("a"), session_ref("a"), session_ref("a"));
    for id in [garbage, future, fine] {
        store
            .create(&id, &session("a", "web", t, 60, 60, 60), &p, t)
            .await
            .unwrap();
    }
    let path_of = |id: tessera_crypto::SessionRef| {
        let key = id.storage_key().to_hex();
        root.join("sessions").join(&key[..2]).join(id.to_string())
    };
    std::fs::write(path_of(garbage), "}{ edited by hand").unwrap();
    std::fs::write(path_of(future), r#"{"format":9,"whatever":"new"}"#).unwrap();

    let err = store.get(&garbage, t).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let err = store.get(&future, t).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnsupportedFormat {
                found: 9,
                supported: 1
            }
        ),
        "{err:?}"
    );
    assert!(
        store.get(&fine, t).await.unwrap().is_some(),
        "the healthy session survives"
    );
    // Ending the damaged session removes its file; the healthy one stays.
    assert_eq!(store.delete(&garbage, t).await.unwrap(), None);
    assert!(!path_of(garbage).exists());
    assert!(store.get(&fine, t).await.unwrap().is_some());

    // A store folder from a newer layout is refused at open.
    std::fs::write(root.join("tessera-local.json"), r#"{"format":2}"#).unwrap();
    let err = LocalStore::open(&LocalConfig::new(&root))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LocalError::NewerFormat { found: 2, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_file_where_a_folder_should_be_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let store = LocalStore::open(&LocalConfig::new(&root)).await.unwrap();
    let t = now();
    let p = policy(5, OnQuotaExhaustion::DenyLogin);
    let ok = session_ref("b");
    store
        .create(&ok, &session("b", "web", t, 60, 60, 60), &p, t)
        .await
        .unwrap();
    // Block the shard folder of a new session with a plain file.
    let blocked = session_ref("b");
    let shard = root
        .join("sessions")
        .join(&blocked.storage_key().to_hex()[..2]);
    if shard.exists() {
        std::fs::remove_dir_all(&shard).unwrap();
    }
    std::fs::write(&shard, "not a folder").unwrap();
    let err = store
        .create(&blocked, &session("b", "web", t, 60, 60, 60), &p, t)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(err.to_string().contains("a session file"), "{err}");
    if ok.storage_key().to_hex()[..2] != blocked.storage_key().to_hex()[..2] {
        assert!(
            store.get(&ok, t).await.unwrap().is_some(),
            "nothing else is lost"
        );
    }
}

#[tokio::test]
async fn touches_are_coalesced_and_a_lost_touch_only_shortens() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let mut options = LocalConfig::new(&root);
    options.touch_window = Duration::from_secs(60);
    let store = LocalStore::open(&options).await.unwrap();
    let clock = MockClock::new(now());
    let id = session_ref("c");
    let s = session("c", "web", clock.now(), -1, -1, 10);
    store
        .create(
            &id,
            &s,
            &policy(5, OnQuotaExhaustion::DenyLogin),
            clock.now(),
        )
        .await
        .unwrap();

    clock.advance_millis(30_000);
    let seen = store
        .get_and_touch(&id, clock.now(), Touch::Yes)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.last_used, clock.now(), "the caller sees the touch");
    // A second process (or this one after a crash) reads the file: the touch
    // inside the window was not persisted...
    let reopened = LocalStore::open(&options).await.unwrap();
    let on_disk = reopened.get(&id, clock.now()).await.unwrap().unwrap();
    assert_eq!(on_disk.last_used, s.last_used);
    // ...and losing it can only make the session end sooner, never later.
    assert!(on_disk.expiry() <= seen.expiry());

    clock.advance_millis(31_000);
    store
        .get_and_touch(&id, clock.now(), Touch::Yes)
        .await
        .unwrap()
        .unwrap();
    let on_disk = reopened.get(&id, clock.now()).await.unwrap().unwrap();
    assert_eq!(
        on_disk.last_used,
        clock.now(),
        "a touch older than the window is persisted"
    );
}

const WORKER_DIR: &str = "TESSERA_LOCAL_WORKER_DIR";
const WORKER_RULE: &str = "TESSERA_LOCAL_WORKER_RULE";

/// Not a test on its own: the body a child process runs for
/// `two_processes_sharing_a_folder_keep_the_quota` (it does nothing unless
/// that test starts it with the worker environment).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(
    clippy::print_stdout,
    reason = "the parent process reads the result line"
)]
async fn worker_process_logs_in_repeatedly() {
    let (Ok(dir), Ok(rule)) = (std::env::var(WORKER_DIR), std::env::var(WORKER_RULE)) else {
        return;
    };
    let rule = if rule == "deny" {
        OnQuotaExhaustion::DenyLogin
    } else {
        OnQuotaExhaustion::CloseOldSession
    };
    let store = Arc::new(LocalStore::open(&LocalConfig::new(dir)).await.unwrap());
    let t = Timestamp::from_secs(SystemClock.now().as_secs());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let s = session("shared", "web", t, 60, 60, 60);
                store
                    .create(&session_ref("shared"), &s, &policy(5, rule), t)
                    .await
            })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => admitted += 1,
            Err(StoreError::QuotaExhausted { .. }) => {}
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    println!("ADMITTED={admitted}");
}

#[tokio::test]
async fn two_processes_sharing_a_folder_keep_the_quota() {
    for rule in ["deny", "close"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        LocalStore::open(&LocalConfig::new(&dir)).await.unwrap();
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&exe)
                    .args([
                        "--exact",
                        "worker_process_logs_in_repeatedly",
                        "--nocapture",
                    ])
                    .env(WORKER_DIR, &dir)
                    .env(WORKER_RULE, rule)
                    .output()
            })
            .collect();
        let mut admitted = 0;
        for child in children {
            let out = child.unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "worker failed: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let n: usize = stdout
                .lines()
                .find_map(|l| l.strip_prefix("ADMITTED="))
                .unwrap_or_else(|| panic!("no result line in {stdout}"))
                .parse()
                .unwrap();
            admitted += n;
        }
        let store = LocalStore::open(&LocalConfig::new(&dir)).await.unwrap();
        let live = store
            .list_by_subject(&Subject::new("shared").unwrap(), None, now())
            .await
            .unwrap();
        assert_eq!(
            live.len(),
            5,
            "rule {rule}: {} live sessions, quota 5",
            live.len()
        );
        if rule == "deny" {
            assert_eq!(
                admitted, 5,
                "exactly the quota was admitted across both processes"
            );
        } else {
            assert_eq!(
                admitted, 32,
                "every login was admitted, old sessions closed"
            );
        }
    }
}

#[tokio::test]
#[expect(
    clippy::print_stderr,
    reason = "the size is reported for docs/backends"
)]
async fn a_pre_login_session_is_one_file_and_no_index() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let store = LocalStore::open(&LocalConfig::new(&root)).await.unwrap();
    let t = now();
    let mut data = serde_json::Map::new();
    data.insert("cart".into(), serde_json::json!("x".repeat(200)));
    let pre = pre_login_session(t, data);
    let id = pre_login_ref();
    store.create_anonymous(&id, &pre, t).await.unwrap();
    let mut next = pre.clone();
    next.data.insert("step".into(), serde_json::json!(2));
    store.update(&id, &next, t).await.unwrap();
    let mut files = Vec::new();
    all_files(&root.join("sessions"), &mut files);
    all_files(&root.join("subjects"), &mut files);
    let files: Vec<_> = files.into_iter().filter(|f| f.is_file()).collect();
    assert_eq!(files.len(), 1, "one session file, no index: {files:?}");
    assert!(files[0].starts_with(root.join("sessions")));
    let bytes = std::fs::metadata(&files[0]).unwrap().len();
    eprintln!("a pre-login session with 200 bytes of data: one file of {bytes} bytes");
    assert_eq!(mode(&files[0]), 0o600);
}
