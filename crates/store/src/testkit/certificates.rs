//! A private certificate authority for TLS tests, made with the `openssl`
//! command: what the Redis store's TLS tests and the server's HTTPS tests
//! both need.

use std::path::Path;
use std::process::{Command, Stdio};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the TLS tests need the `openssl` command");
    assert!(status.success(), "openssl {args:?} failed");
}

#[expect(
    clippy::disallowed_methods,
    reason = "test support: openssl reads its extensions from a file"
)]
/// A key and a certificate request for `cn`, then the certificate signed
/// by the CA with the extensions `ext`, two days long.
fn signed(dir: &Path, name: &str, cn: &str, ext: &str) {
    let (key, csr, crt, cnf) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.cnf"),
    );
    let subject = format!("/CN={cn}");
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", &key, "-out",
            &csr,
        ],
    );
    std::fs::write(dir.join(&cnf), ext).expect("write the extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &cnf,
            "-out",
            &crt,
        ],
    );
}

/// Writes into `dir`: a CA (`ca.crt`, `ca.key`); signed by it, a server
/// certificate for 127.0.0.1 (`server.crt`, `server.key`) and a client
/// certificate (`client.crt`, `client.key`); and an unrelated key
/// (`other.key`).
///
/// # Panics
///
/// When `openssl` is missing or fails.
pub fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=tessera test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    signed(
        dir,
        "server",
        "127.0.0.1",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    );
    signed(
        dir,
        "client",
        "tessera",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    openssl(dir, &["genpkey", "-algorithm", "RSA", "-out", "other.key"]);
}
