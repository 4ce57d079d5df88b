//! The local folder store passes the conformance suite, on real files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_store::backend::record;
use tessera_store::testkit::{Fixture, RawAccess, nested_record, next_format_record};
use tessera_store_local::{LocalConfig, LocalStore};

/// Finds the file holding a session by its reference (the file name).
fn session_file(root: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(root.join("sessions"))
        .expect("sessions dir")
        .map(|shard| shard.expect("entry").path().join(name))
        .find(|candidate| candidate.exists())
}

async fn fixture() -> Fixture {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let root = dir.path().join("store");
    let store = LocalStore::open(&LocalConfig::new(root.clone()))
        .await
        .expect("open");
    let (ahead, reads, writes) = (root.clone(), root.clone(), root.clone());
    Fixture {
        store: Arc::new(store),
        corrupt: Box::new(move |id| {
            // The closures own the temporary folder, so it lives as long as
            // the fixture and is removed afterwards.
            let path = session_file(&dir.path().join("store"), &id.to_string()).expect("stored");
            Box::pin(async move {
                std::fs::write(path, b"{\"format\":1,\"sub\":\"half a rec").expect("write garbage");
            })
        }),
        newer: Box::new(move |id| {
            let path = session_file(&ahead, &id.to_string()).expect("stored");
            Box::pin(async move {
                std::fs::write(path, next_format_record()).expect("write a newer record");
            })
        }),
        raw: RawAccess {
            read: Box::new(move |id| {
                let found = session_file(&reads, &id.to_string())
                    .map(|path| std::fs::read(path).expect("read a record"));
                Box::pin(async move { found })
            }),
            write: Box::new(move |id, bytes| {
                // The writer replaces the file, as a local account owning the
                // folder can.
                let path = session_file(&writes, &id.to_string()).expect("stored");
                let temp = path.with_extension("planted");
                std::fs::write(&temp, bytes).expect("write a record");
                std::fs::set_permissions(
                    &temp,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )
                .expect("owner-only, like the store's own files");
                std::fs::rename(&temp, &path).expect("plant it");
                Box::pin(async { true })
            }),
            encode: record::encode,
            encode_nested: nested_record,
        },
    }
}

tessera_store::conformance_tests!(fixture);
