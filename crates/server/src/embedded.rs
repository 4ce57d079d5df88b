//! The data directory of the embedded default: the generated
//! `safe_password` and the hash of the generated API token.
//!
//! The directory is created with mode 0700 and both files with 0600; each
//! file is written once, completely, before it appears under its name
//! (temporary file, `fsync`, hard link), so two servers starting at the same
//! time agree on one password and one token. The API token itself is never
//! stored: only its SHA-256 hash, and the token is shown once.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use tessera_crypto::{ApiToken, SafePassword, SecureRandom, TokenHash};

use crate::ServerError;

/// The file holding the generated `safe_password`.
pub const SAFE_PASSWORD_FILE: &str = "safe_password";
/// The file holding the SHA-256 hash of the generated API token.
pub const TOKEN_HASH_FILE: &str = "api_token.sha256";

/// The embedded API token: just generated (shown once, now) or generated on
/// an earlier start (only its hash is known).
#[derive(Debug)]
pub enum EmbeddedToken {
    /// Generated on this start; print it once.
    New(ApiToken),
    /// Generated on an earlier start.
    Existing(TokenHash),
}

impl EmbeddedToken {
    /// The hash to check presented tokens against.
    pub fn hash(&self) -> TokenHash {
        match self {
            Self::New(token) => token.hash(),
            Self::Existing(hash) => *hash,
        }
    }
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// Opens the data directory, creating it (and missing parents) with mode
    /// 0700. An existing directory that others may write to is refused; one
    /// that others may read is restricted to 0700.
    pub fn open(path: &Path) -> Result<Self, ServerError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| data_dir_error(path, "cannot create it", Some(e)))?;
        let dir = Self::existing(path)?;
        Ok(dir)
    }

    /// Opens a data directory that must already exist, with the same checks
    /// as [`DataDir::open`].
    pub fn existing(path: &Path) -> Result<Self, ServerError> {
        let metadata = fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ServerError::NotInitialised {
                path: path.to_path_buf(),
            },
            _ => data_dir_error(path, "cannot read it", Some(e)),
        })?;
        if !metadata.is_dir() {
            return Err(data_dir_error(path, "is not a directory", None));
        }
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(data_dir_error(
                path,
                "other users may write to it; use a directory only you can write (chmod 700)",
                None,
            ));
        }
        if mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o700))
                .map_err(|e| data_dir_error(path, "cannot restrict it to mode 0700", Some(e)))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored `safe_password`, if a first start has generated one.
    pub fn read_safe_password(&self) -> Result<Option<SafePassword>, ServerError> {
        let Some(text) = self.read_secret_file(SAFE_PASSWORD_FILE)? else {
            return Ok(None);
        };
        SafePassword::new(text.trim_end_matches(['\n', '\r']))
            .map(Some)
            .map_err(|e| {
                data_dir_error(
                    &self.path.join(SAFE_PASSWORD_FILE),
                    &format!("the stored password is refused: {e}"),
                    None,
                )
            })
    }

    /// The stored `safe_password`, generated and stored (mode 0600) if this
    /// is the first start. The flag says whether it was generated now.
    pub fn safe_password(
        &self,
        rng: &dyn SecureRandom,
    ) -> Result<(SafePassword, bool), ServerError> {
        if let Some(password) = self.read_safe_password()? {
            return Ok((password, false));
        }
        let password = SafePassword::generate(rng)?;
        let mut text = password.expose_secret().to_owned();
        text.push('\n');
        let created = self.create_secret_file(SAFE_PASSWORD_FILE, text.as_bytes());
        // Best effort: the copy is short-lived either way.
        text.clear();
        if created? {
            return Ok((password, true));
        }
        // Another process generated one first: use that one.
        self.read_safe_password()?
            .map(|p| (p, false))
            .ok_or_else(|| data_dir_error(&self.path.join(SAFE_PASSWORD_FILE), "vanished", None))
    }

    /// The stored API token hash, if a first start has generated one.
    pub fn read_token_hash(&self) -> Result<Option<TokenHash>, ServerError> {
        let Some(text) = self.read_secret_file(TOKEN_HASH_FILE)? else {
            return Ok(None);
        };
        text.trim()
            .parse::<TokenHash>()
            .map(Some)
            .map_err(|e| data_dir_error(&self.path.join(TOKEN_HASH_FILE), &e.to_string(), None))
    }

    /// The embedded API token: the stored hash, or on the first start a new
    /// token whose hash is stored (mode 0600).
    pub fn api_token(&self, rng: &dyn SecureRandom) -> Result<EmbeddedToken, ServerError> {
        if let Some(hash) = self.read_token_hash()? {
            return Ok(EmbeddedToken::Existing(hash));
        }
        let token = ApiToken::generate(rng)?;
        let line = format!("{}\n", token.hash().to_hex());
        if self.create_secret_file(TOKEN_HASH_FILE, line.as_bytes())? {
            return Ok(EmbeddedToken::New(token));
        }
        self.read_token_hash()?
            .map(EmbeddedToken::Existing)
            .ok_or_else(|| data_dir_error(&self.path.join(TOKEN_HASH_FILE), "vanished", None))
    }

    /// Reads a file that must be private to this user.
    fn read_secret_file(&self, name: &str) -> Result<Option<String>, ServerError> {
        let path = self.path.join(name);
        let metadata = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(data_dir_error(&path, "cannot read it", Some(e))),
        };
        if metadata.permissions().mode() & 0o077 != 0 {
            return Err(data_dir_error(
                &path,
                "other users may read or write it; restrict it with chmod 600",
                None,
            ));
        }
        fs::read_to_string(&path)
            .map(Some)
            .map_err(|e| data_dir_error(&path, "cannot read it", Some(e)))
    }

    /// Creates `name` with `contents` and mode 0600 unless it exists.
    /// Returns whether this call created it.
    fn create_secret_file(&self, name: &str, contents: &[u8]) -> Result<bool, ServerError> {
        let target = self.path.join(name);
        let temp = self
            .path
            .join(format!(".{name}.{}.tmp", std::process::id()));
        let write = || -> io::Result<()> {
            // A leftover from a crash of an earlier process with this pid.
            let _ = fs::remove_file(&temp);
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(contents)?;
            file.sync_all()
        };
        let written = write();
        let linked = written.and_then(|()| fs::hard_link(&temp, &target));
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                // Make the new name durable.
                if let Ok(dir) = fs::File::open(&self.path) {
                    let _ = dir.sync_all();
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(data_dir_error(&target, "cannot write it", Some(e))),
        }
    }
}

fn data_dir_error(path: &Path, what: &str, source: Option<io::Error>) -> ServerError {
    ServerError::DataDir {
        path: path.to_path_buf(),
        what: what.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use tessera_crypto::SeededRandom;

    use super::*;

    #[test]
    fn the_first_generation_wins_and_later_reads_agree() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("a/b/data");
        let one = DataDir::open(&path).unwrap();
        let two = DataDir::open(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );

        let (first, created) = one.safe_password(&SeededRandom::new(b"one")).unwrap();
        assert!(created);
        let (second, created) = two.safe_password(&SeededRandom::new(b"two")).unwrap();
        assert!(!created);
        assert_eq!(first.expose_secret(), second.expose_secret());

        let EmbeddedToken::New(token) = one.api_token(&SeededRandom::new(b"one")).unwrap() else {
            panic!("the first call generates the token");
        };
        let again = two.api_token(&SeededRandom::new(b"two")).unwrap();
        assert!(matches!(again, EmbeddedToken::Existing(_)));
        assert_eq!(again.hash(), token.hash());
        let stored = fs::read_to_string(path.join(TOKEN_HASH_FILE)).unwrap();
        assert!(!stored.contains(token.expose_secret()));
        for file in [SAFE_PASSWORD_FILE, TOKEN_HASH_FILE] {
            let mode = fs::metadata(path.join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&path).unwrap().count(), 2);
    }

    #[test]
    fn readable_secrets_and_writable_directories_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = DataDir::open(root.path()).unwrap();
        dir.safe_password(&SeededRandom::new(b"x")).unwrap();
        let file = root.path().join(SAFE_PASSWORD_FILE);
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let err = dir.read_safe_password().unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");

        // A directory others may read is tightened; one they may write is
        // refused.
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        DataDir::existing(root.path()).unwrap();
        assert_eq!(
            fs::metadata(root.path()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(DataDir::existing(root.path()).is_err());
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o700)).unwrap();

        let missing = root.path().join("nope");
        assert!(matches!(
            DataDir::existing(&missing),
            Err(ServerError::NotInitialised { .. })
        ));
    }
}
