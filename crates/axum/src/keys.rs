//! The application's root key: from the environment in production, and in
//! a debug build from a development key file made on first use.

use std::io::Write as _;
use std::path::Path;

use tessera_store::SystemRandom;
use tessera_store::crypto::{ROOT_KEY_BYTES, RootKey, SecureRandom as _};
use zeroize::Zeroizing;

use crate::Error;

/// The root key from the environment variable `name`: 64 hex digits, what
/// `openssl rand -hex 32` prints. Keep it in your secret store; every
/// server of the application needs the same one.
///
/// When `name` is unset in a **debug build** (`cargo run`, `cargo test`),
/// the key comes from `dev_file` instead: read if it exists, else made
/// from the system's random source and written there (mode 0600), with a
/// warning on standard error naming the file. Sessions then survive
/// restarts during development. A **release build** never does this: an
/// unset variable is [`Error::Setup`] saying how to make a key, so a
/// production build cannot run on a development key by accident.
///
/// ```no_run
/// # fn main() -> Result<(), tessera_axum::Error> {
/// let root = tessera_axum::root_key_from_env_or_dev("TESSERA_ROOT_KEY", "dev-root-key")?;
/// # let _ = root; Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::Setup`] when the variable is set but not a key, when it is unset
/// in a release build, or when the development key file cannot be read or
/// written.
pub fn root_key_from_env_or_dev(name: &str, dev_file: impl AsRef<Path>) -> Result<RootKey, Error> {
    root_key(name, dev_file.as_ref())
}

/// The keys [`Sessions::builder`](tessera_store::Sessions::builder) takes,
/// from the one root key [`root_key_from_env_or_dev`] finds (no older
/// passwords): what an application with a single key needs.
///
/// # Errors
///
/// As [`root_key_from_env_or_dev`].
pub fn keys_from_env_or_dev(
    name: &str,
    dev_file: impl AsRef<Path>,
) -> Result<tessera_store::crypto::MasterKeys, Error> {
    let root = root_key(name, dev_file.as_ref())?;
    Ok(tessera_store::crypto::MasterKeys::from_root_keys(
        &root,
        &[],
    ))
}

fn root_key(name: &str, dev_file: &Path) -> Result<RootKey, Error> {
    match std::env::var(name) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            RootKey::from_hex(&text).map_err(|e| {
                Error::Setup(format!(
                    "{name} is not a root key ({e}): give 64 hex digits, as `openssl rand -hex \
                     32` prints"
                ))
            })
        }
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Setup(format!(
            "{name} is not a root key: give 64 hex digits, as `openssl rand -hex 32` prints"
        ))),
        Err(std::env::VarError::NotPresent) if cfg!(debug_assertions) => dev_key(name, dev_file),
        Err(std::env::VarError::NotPresent) => Err(Error::Setup(format!(
            "{name} is not set: make a root key with `openssl rand -hex 32`, keep it in your \
             secret store and give it to every server in {name} (a release build does not use \
             a development key file)"
        ))),
    }
}

/// The development key of `file`, made on first use.
fn dev_key(name: &str, file: &Path) -> Result<RootKey, Error> {
    let setup = |what: &str, e: std::io::Error| {
        Error::Setup(format!(
            "{what} the development key file {}: {e}",
            file.display()
        ))
    };
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            return RootKey::from_hex(&text).map_err(|e| {
                Error::Setup(format!(
                    "the development key file {} does not hold a root key ({e}); delete it to \
                     make a new one",
                    file.display()
                ))
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(setup("cannot read", e)),
    }
    let mut bytes = Zeroizing::new([0u8; ROOT_KEY_BYTES]);
    SystemRandom::new()
        .fill(&mut bytes[..])
        .map_err(|e| Error::Setup(format!("no random source for a development key: {e}")))?;
    let hex = Zeroizing::new(tessera_store::crypto::to_hex(&bytes[..]));
    // Written whole under a name of this process, then linked into place
    // (which fails if the file exists): two processes starting at once
    // never read a half-written key, and the later one takes the key the
    // first one made.
    let partial = file.with_extension(format!("partial-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&partial).and_then(|mut out| {
        out.write_all(hex.as_bytes())?;
        out.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&partial, file));
    let _ = std::fs::remove_file(&partial);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return dev_key(name, file),
        Err(e) => return Err(setup("cannot create", e)),
    }
    #[expect(
        clippy::print_stderr,
        reason = "a development key must be impossible to miss, logging set up or not"
    )]
    {
        eprintln!(
            "tessera-axum: WARNING: {name} is not set; this debug build made a DEVELOPMENT root \
             key in {} (mode 0600). Anyone who reads that file can forge sessions. A release \
             build refuses to start without {name}.",
            file.display()
        );
    }
    RootKey::from_hex(&hex)
        .map_err(|e| Error::Setup(format!("the development key is not usable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(debug_assertions)]
    fn a_development_key_is_made_once_in_a_private_file_and_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dev-root-key");
        let name = "TESSERA_AXUM_TEST_KEY_THAT_IS_NEVER_SET";
        let first = root_key_from_env_or_dev(name, &file).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.len(), 64);
        let again = root_key_from_env_or_dev(name, &file).unwrap();
        // The same key: the same MasterKeys sign the same way.
        let sign = |root: &RootKey| {
            tessera_store::crypto::MasterKeys::from_root_keys(root, &[]).generation_ids()
        };
        assert_eq!(sign(&first), sign(&again));
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn a_release_build_makes_no_development_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dev-root-key");
        let error = root_key_from_env_or_dev("TESSERA_AXUM_TEST_KEY_THAT_IS_NEVER_SET", &file)
            .unwrap_err()
            .to_string();
        assert!(error.contains("openssl rand -hex 32"), "{error}");
        assert!(!file.exists());
    }

    #[test]
    #[cfg(debug_assertions)]
    fn a_damaged_key_file_is_named_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dev-root-key");
        std::fs::write(&file, "not a key").unwrap();
        let error = root_key_from_env_or_dev("TESSERA_AXUM_TEST_KEY_THAT_IS_NEVER_SET", &file)
            .unwrap_err()
            .to_string();
        assert!(error.contains("delete it to make a new one"), "{error}");
        assert!(!error.contains("not a key"), "{error}");
    }
}
