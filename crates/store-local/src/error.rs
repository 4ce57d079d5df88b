//! What opening the local store can fail with. Store operations return
//! [`StoreError`](tessera_store::StoreError).

use std::io;
use std::path::PathBuf;

/// Why [`LocalStore::open`](crate::LocalStore::open) refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The folder (or one of its subfolders) could be tampered with by
    /// another user, or is not a directory.
    #[error(
        "refusing to keep sessions in {}: {reason}; use a directory that only the user \
         running Tessera owns and can write (chown it, then chmod 700)",
        path.display()
    )]
    UnsafeFolder {
        /// The folder at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The folder was written by a newer version of the store, whose layout
    /// this version cannot read.
    #[error(
        "the local store in {} has format {found}; this version reads formats up to \
         {supported}: upgrade Tessera or point it at another folder",
        path.display()
    )]
    NewerFormat {
        /// The store folder.
        path: PathBuf,
        /// The format found in its marker.
        found: u64,
        /// The newest format this version reads.
        supported: u64,
    },

    /// The store's format marker does not decode.
    #[error("the local store's format marker {} does not decode", path.display())]
    BadMarker {
        /// The marker file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },

    /// Creating or reading the folder failed.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}
