//! The data directory of the embedded default: the generated
//! `safe_password` and the hash of the generated API token.
//!
//! The directory is created with mode 0700 and both files with 0600; each
//! file is written once, completely, before it appears under its name
//! (temporary file, `fsync`, hard link), so two servers starting at the same
//! time agree on one password and one token. The server keeps only the API
//! token's SHA-256 hash. The token itself is shown once on a terminal; when
//! standard output is not one (a service manager, a container), it is
//! written instead to [`NEW_TOKEN_FILE`] (0600) for the operator to collect,
//! never to a log. The server never reads that file.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};

use tessera_crypto::{ApiToken, SafePassword, SecureRandom, TokenHash};
use zeroize::Zeroizing;

use crate::ServerError;

/// The file holding the generated `safe_password`.
pub(crate) const SAFE_PASSWORD_FILE: &str = "safe_password";
/// The file holding the SHA-256 hash of the generated API token.
pub(crate) const TOKEN_HASH_FILE: &str = "api_token.sha256";
/// The file a token generated on a first start is written to when it is
/// not shown ([`TokenDelivery::File`]), for the operator to collect and
/// delete.
pub(crate) const NEW_TOKEN_FILE: &str = "new_api_token";

/// How a token generated on the first start reaches the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenDelivery {
    /// Returned, to be shown once on the terminal.
    Show,
    /// Written to [`NEW_TOKEN_FILE`] (mode 0600) in the data directory, so
    /// that it lands in no log.
    File,
}

/// The embedded API token: just generated (shown once, now, or written to
/// a file) or generated on an earlier start (only its hash is known).
#[derive(Debug)]
pub(crate) enum EmbeddedToken {
    /// Generated on this start; print it once.
    New(ApiToken),
    /// Generated on this start and written to the file at `path`.
    InFile {
        /// The token's hash.
        hash: TokenHash,
        /// Where the token is.
        path: PathBuf,
    },
    /// Generated on an earlier start.
    Existing(TokenHash),
}

impl EmbeddedToken {
    /// The hash to check presented tokens against.
    pub(crate) fn hash(&self) -> TokenHash {
        match self {
            Self::New(token) => token.hash(),
            Self::InFile { hash, .. } | Self::Existing(hash) => *hash,
        }
    }
}

/// The data directory.
#[derive(Debug, Clone)]
pub(crate) struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// Opens the data directory, creating it (and missing parents) with mode
    /// 0700. An existing directory that others may write to is refused; one
    /// that others may read is restricted to 0700.
    pub(crate) fn open(path: &Path) -> Result<Self, ServerError> {
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
    pub(crate) fn existing(path: &Path) -> Result<Self, ServerError> {
        let metadata = fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ServerError::NotInitialised {
                path: path.to_path_buf(),
            },
            _ => data_dir_error(path, "cannot read it", Some(e)),
        })?;
        if !metadata.is_dir() {
            return Err(data_dir_error(path, "is not a directory", None));
        }
        let euid = rustix::process::geteuid().as_raw();
        if metadata.uid() != euid {
            return Err(data_dir_error(
                path,
                &format!(
                    "it is owned by uid {}, not by the current user (uid {euid}); use a \
                     directory only you own and can write (chown it, then chmod 700)",
                    metadata.uid()
                ),
                None,
            ));
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
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The stored `safe_password`, if a first start has generated one.
    pub(crate) fn read_safe_password(&self) -> Result<Option<SafePassword>, ServerError> {
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
    pub(crate) fn safe_password(
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
    pub(crate) fn read_token_hash(&self) -> Result<Option<TokenHash>, ServerError> {
        let Some(text) = self.read_secret_file(TOKEN_HASH_FILE)? else {
            return Ok(None);
        };
        text.trim()
            .parse::<TokenHash>()
            .map(Some)
            .map_err(|e| data_dir_error(&self.path.join(TOKEN_HASH_FILE), &e.to_string(), None))
    }

    /// The embedded API token: the stored hash, or on the first start a new
    /// token whose hash is stored (mode 0600) and which is delivered as
    /// `delivery` says.
    pub(crate) fn api_token(
        &self,
        rng: &dyn SecureRandom,
        delivery: TokenDelivery,
    ) -> Result<EmbeddedToken, ServerError> {
        if let Some(hash) = self.read_token_hash()? {
            return Ok(EmbeddedToken::Existing(hash));
        }
        let token = ApiToken::generate(rng)?;
        let hash = token.hash();
        let line = format!("{}\n", hash.to_hex());
        if self.create_secret_file(TOKEN_HASH_FILE, line.as_bytes())? {
            if delivery == TokenDelivery::Show {
                return Ok(EmbeddedToken::New(token));
            }
            let text = Zeroizing::new(format!("{}\n", token.expose_secret()));
            return match self.replace_secret_file(NEW_TOKEN_FILE, text.as_bytes()) {
                Ok(path) => Ok(EmbeddedToken::InFile { hash, path }),
                Err(e) => {
                    // Nobody could learn this token: forget it, so that the
                    // next start generates another.
                    let _ = fs::remove_file(self.path.join(TOKEN_HASH_FILE));
                    Err(e)
                }
            };
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
        let temp = self.temp_path(name);
        let linked = write_private(&temp, contents).and_then(|()| fs::hard_link(&temp, &target));
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                self.sync_names();
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(data_dir_error(&target, "cannot write it", Some(e))),
        }
    }

    /// Writes `name` with `contents` and mode 0600, replacing any earlier
    /// file of that name whole. Returns its path.
    fn replace_secret_file(&self, name: &str, contents: &[u8]) -> Result<PathBuf, ServerError> {
        let target = self.path.join(name);
        let temp = self.temp_path(name);
        let renamed = write_private(&temp, contents).and_then(|()| fs::rename(&temp, &target));
        if let Err(e) = renamed {
            let _ = fs::remove_file(&temp);
            return Err(data_dir_error(&target, "cannot write it", Some(e)));
        }
        self.sync_names();
        Ok(target)
    }

    /// A temporary name for writing `name`, private to this process.
    fn temp_path(&self, name: &str) -> PathBuf {
        self.path
            .join(format!(".{name}.{}.tmp", std::process::id()))
    }

    /// Makes new names in the directory durable (best effort).
    fn sync_names(&self) {
        if let Ok(dir) = fs::File::open(&self.path) {
            let _ = dir.sync_all();
        }
    }
}

/// Writes a new file of mode 0600 at `path`, completely and durably.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    // A leftover from a crash of an earlier process with this pid.
    let _ = fs::remove_file(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
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
    use tessera_crypto::testkit::SeededRandom;

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

        let EmbeddedToken::New(token) = one
            .api_token(&SeededRandom::new(b"one"), TokenDelivery::Show)
            .unwrap()
        else {
            panic!("the first call generates the token");
        };
        let again = two
            .api_token(&SeededRandom::new(b"two"), TokenDelivery::File)
            .unwrap();
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
    fn a_token_delivered_by_file_is_private_and_matches_the_stored_hash() {
        let root = tempfile::tempdir().unwrap();
        let dir = DataDir::open(root.path()).unwrap();
        // A stale file from an earlier generation is replaced.
        fs::write(root.path().join(NEW_TOKEN_FILE), "stale\n").unwrap();
        let EmbeddedToken::InFile { hash, path } = dir
            .api_token(&SeededRandom::new(b"file"), TokenDelivery::File)
            .unwrap()
        else {
            panic!("the first call generates the token");
        };
        assert_eq!(path, root.path().join(NEW_TOKEN_FILE));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let token = fs::read_to_string(&path).unwrap();
        assert_eq!(TokenHash::of(token.trim_end()), hash);
        assert_eq!(dir.read_token_hash().unwrap(), Some(hash));
        // The next start finds the hash and writes nothing.
        let again = dir
            .api_token(&SeededRandom::new(b"again"), TokenDelivery::File)
            .unwrap();
        assert!(matches!(again, EmbeddedToken::Existing(h) if h == hash));
        assert_eq!(fs::read_to_string(&path).unwrap(), token);
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
        if rustix::process::geteuid().is_root() {
            // A private directory of another user is refused too.
            std::os::unix::fs::chown(root.path(), Some(65_534), None).unwrap();
            let err = DataDir::existing(root.path()).unwrap_err().to_string();
            assert!(err.contains("not by the current user"), "{err}");
            std::os::unix::fs::chown(root.path(), Some(0), None).unwrap();
        }

        let missing = root.path().join("nope");
        assert!(matches!(
            DataDir::existing(&missing),
            Err(ServerError::NotInitialised { .. })
        ));
    }
}
