//! The tokenizer's local folder: one `<sha1(lower(username))>.json` file
//! per user. Every `*.json` file is read; other files are not the
//! tokenizer's and are left out.

use std::io;
use std::path::Path;

use zeroize::Zeroizing;

use super::{Location, RawRecord, Removed, SourceRecord};
use crate::ServerError;

pub(super) async fn read_all(folder: &Path) -> Result<Vec<RawRecord>, ServerError> {
    let failed = |what: &str, source: io::Error| ServerError::TokenizerStore {
        backend: "local",
        what: format!("cannot {what} {}", folder.display()),
        source: Some(Box::new(source)),
    };
    let mut entries = tokio::fs::read_dir(folder)
        .await
        .map_err(|e| failed("list the folder", e))?;
    let mut files = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| failed("list the folder", e))?
    {
        let path = entry.path();
        let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
        if is_file && path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();

    let mut records = Vec::with_capacity(files.len());
    for path in files {
        let text = match tokio::fs::read(&path).await {
            Ok(bytes) => String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
                // The bytes may hold a token: wipe them.
                drop(Zeroizing::new(e.into_bytes()));
                "not UTF-8 text"
            }),
            Err(_) => Err("the file cannot be read"),
        };
        records.push(RawRecord {
            tessera: path.file_name().is_some_and(|n| n == "tessera-local.json"),
            origin: format!("file {}", path.display()),
            location: Location::File(path.clone()),
            text,
        });
    }
    Ok(records)
}

/// Removes each file that still holds the text read. The file is first
/// renamed aside (atomic), then compared: a file the tool wrote again
/// meanwhile is put back (never over a newer one), so a writer still
/// running loses nothing.
pub(super) async fn remove(
    records: &[SourceRecord],
    removed: &mut Removed,
) -> Result<(), ServerError> {
    for record in records {
        let Location::File(path) = &record.location else {
            continue;
        };
        let failed = |source: io::Error| ServerError::TokenizerStore {
            backend: "local",
            what: format!("cannot remove {}", path.display()),
            source: Some(Box::new(source)),
        };
        let aside = path.with_extension(format!("removing-{}", std::process::id()));
        match tokio::fs::rename(path, &aside).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                removed.gone += 1;
                continue;
            }
            Err(e) => return Err(failed(e)),
        }
        let now = tokio::fs::read(&aside).await.map(Zeroizing::new);
        if matches!(&now, Ok(now) if now.as_slice() == record.text.as_bytes()) {
            tokio::fs::remove_file(&aside).await.map_err(failed)?;
            removed.removed += 1;
            continue;
        }
        // Changed since it was read: back where it was, unless the tool has
        // written a newer one there since, which then stands.
        match tokio::fs::hard_link(&aside, path).await {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(ServerError::TokenizerStore {
                    backend: "local",
                    what: format!(
                        "{} changed since it was read and cannot be put back: it is kept as {}",
                        path.display(),
                        aside.display()
                    ),
                    source: Some(Box::new(e)),
                });
            }
            _ => {
                let _ = tokio::fs::remove_file(&aside).await;
            }
        }
        removed.changed += 1;
        now.map_err(failed)?;
    }
    Ok(())
}
