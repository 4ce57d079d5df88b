//! The local folder store passes the conformance suite, on real files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_store::testkit::{Fixture, next_format_record};
use tessera_store_local::{LocalConfig, LocalStore};

/// Finds the file holding a session by its reference (the file name).
fn session_file(root: &Path, name: &str) -> PathBuf {
    for shard in std::fs::read_dir(root.join("sessions")).expect("sessions dir") {
        let candidate = shard.expect("entry").path().join(name);
        if candidate.exists() {
            return candidate;
        }
    }
    panic!("no session file named {name}");
}

async fn fixture() -> Fixture {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let root = dir.path().join("store");
    let store = LocalStore::open(&LocalConfig::new(dir.path().join("store")))
        .await
        .expect("open");
    Fixture {
        store: Arc::new(store),
        corrupt: Box::new(move |id| {
            // The closures own the temporary folder, so it lives as long as
            // the fixture and is removed afterwards.
            let path = session_file(&dir.path().join("store"), &id.to_string());
            Box::pin(async move {
                std::fs::write(path, b"{\"format\":1,\"sub\":\"half a rec").expect("write garbage");
            })
        }),
        newer: Box::new(move |id| {
            let path = session_file(&root, &id.to_string());
            Box::pin(async move {
                std::fs::write(path, next_format_record()).expect("write a newer record");
            })
        }),
    }
}

tessera_store::conformance_tests!(fixture);
