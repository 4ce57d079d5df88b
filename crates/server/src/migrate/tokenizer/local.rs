//! The tokenizer's local folder: one `<sha1(lower(username))>.json` file
//! per user. Every `*.json` file is read; other files are not the
//! tokenizer's and are left out.

use std::io;
use std::path::Path;

use zeroize::Zeroizing;

use super::RawRecord;
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
            text,
        });
    }
    Ok(records)
}
