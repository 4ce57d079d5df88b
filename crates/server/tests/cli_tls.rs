//! The API over TLS (`server.tls_cert_file`, `server.tls_key_file`), with
//! the real binary, a private CA made with openssl, and a real HTTPS client.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod cli_support;

use tessera_store::testkit::make_certificates;

use cli_support::{BASE, rss_kib};

/// `tessera` on the embedded default in `root`, with the TLS settings.
fn tessera(root: &Path, key_file: &str) -> Command {
    let mut command = cli_support::tessera();
    command
        .env("TESSERA_DATA_DIR", root.join("data"))
        .env("HOME", root)
        .arg(format!(
            "-Dserver.tls_cert_file={}",
            root.join("server.crt").display()
        ))
        .arg(format!(
            "-Dserver.tls_key_file={}",
            root.join(key_file).display()
        ));
    command
}

fn client(ca: Option<&Path>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).expect("read the CA");
        builder = builder
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"));
    }
    builder.build().expect("an HTTPS client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_over_tls_with_the_configured_certificate_and_only_so() {
    let root = tempfile::tempdir().unwrap();
    make_certificates(root.path());
    let mut command = tessera(root.path(), "server.key");
    command.arg("serve");
    let server = cli_support::serve(command);
    let token = server.token.clone().expect("the embedded token");
    assert!(
        server.banner.contains(&format!(
            "curl -i -X POST https://{}{BASE}/sessions",
            server.addr
        )),
        "{}",
        server.banner
    );

    // A client that trusts the CA: a login and a lookup, over TLS.
    let trusting = client(Some(&root.path().join("ca.crt")));
    let url = format!("https://{}{BASE}/sessions", server.addr);
    let created = trusting
        .post(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"sub": "alice"}))
        .send()
        .await
        .expect("HTTPS request");
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    let sid = body["sid"].as_str().expect("a SID").to_owned();
    let found = trusting
        .get(&url)
        .bearer_auth(&token)
        .header("sid", &sid)
        .send()
        .await
        .expect("HTTPS request");
    assert_eq!(found.status(), 200, "{:?}", found.text().await);

    // A client that does not trust the CA refuses the certificate.
    let distrusting = client(None);
    let refused = distrusting
        .get(format!("https://{}/healthz", server.addr))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // Plain HTTP on the TLS port gets no HTTP answer, so no token or SID
    // could have been read in clear.
    let mut plain = TcpStream::connect(&server.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn a_certificate_without_its_key_is_refused_naming_the_missing_key() {
    let root = tempfile::tempdir().unwrap();
    let out = cli_support::tessera()
        .env("HOME", root.path())
        .env("TESSERA_DATA_DIR", root.path().join("data"))
        .args([
            "config",
            "check",
            "-Dserver.tls_cert_file=/etc/tessera/api.crt",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("server.tls_key_file") && stderr.contains("set the key file"),
        "{stderr}"
    );
}

#[test]
fn a_key_that_does_not_fit_the_certificate_stops_the_start_naming_the_key() {
    let root = tempfile::tempdir().unwrap();
    make_certificates(root.path());
    let out = tessera(root.path(), "other.key")
        .arg("serve")
        .arg("-Dserver.listen=127.0.0.1:0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("server.tls_key_file") && stderr.contains("does not fit"),
        "{stderr}"
    );
}

/// A TLS client that trusts the test CA in `root`.
fn tls_connector(root: &Path) -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(root.join("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    #[allow(deprecated, reason = "the server's own provider: ring")]
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// The head timeout (30 s, fixed) runs from the accept, the TLS handshake
/// included: a client that takes 20 s to start its handshake and 15 s more
/// to send its request is closed without an answer, where without the fix
/// the timer started over after the handshake and it was served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_handshake_counts_against_the_head_timeout() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let root = tempfile::tempdir().unwrap();
    make_certificates(root.path());
    let mut command = tessera(root.path(), "server.key");
    command.arg("serve");
    let server = cli_support::serve(command);
    let connector = tls_connector(root.path());
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();

    // A prompt client is served.
    let tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let mut prompt = connector.connect(name.clone(), tcp).await.unwrap();
    prompt
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = prompt.read_to_end(&mut answer).await;
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");

    // A slow one is not: 35 s after its accept, over the 30 s.
    let tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let mut slow = connector.connect(name, tcp).await.unwrap();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let _ = slow
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection stayed open");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "served after 35 s: {}",
        String::from_utf8_lossy(&answer)
    );
}

/// What a connection costs before its handshake ends: 300 connections that
/// each send the start of a ClientHello announcing a full 16 KiB record and
/// stop. The figure per connection is printed, and docs/api.md states it.
#[test]
#[expect(
    clippy::print_stderr,
    reason = "the measured memory is printed for whoever reads the run"
)]
fn unfinished_handshakes_cost_a_bounded_amount_each() {
    let root = tempfile::tempdir().unwrap();
    make_certificates(root.path());
    let mut command = tessera(root.path(), "server.key");
    command.arg("serve");
    let server = cli_support::serve(command);
    let before = rss_kib(server.pid());
    // A handshake record header (type 22, TLS 1.0 on the record layer,
    // length 16384) and the start of a ClientHello (type 1, length
    // 16380), then 8 KiB of its body.
    let mut partial = vec![22, 3, 1, 0x40, 0x00, 1, 0x00, 0x3f, 0xfc];
    partial.resize(partial.len() + 8 * 1024, 0x41);
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&server.addr).unwrap();
        stream.write_all(&partial).unwrap();
        held.push(stream);
    }
    // Let the server read what was sent.
    std::thread::sleep(Duration::from_secs(2));
    let during = rss_kib(server.pid());
    let each = during.saturating_sub(before) / 300;
    eprintln!(
        "VmRSS: {before} KiB before, {during} KiB with 300 unfinished handshakes: {each} KiB each"
    );
    assert!(each <= 96, "{each} KiB per unfinished handshake");
    drop(held);
}

/// `server.write_timeout_ms` holds over TLS too: a client that finishes its
/// handshake, pipelines requests and never reads the answers loses its
/// connection once a write has waited that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_that_stops_reading_loses_its_connection_at_the_write_timeout() {
    use tokio::io::AsyncWriteExt as _;
    let root = tempfile::tempdir().unwrap();
    make_certificates(root.path());
    let mut command = tessera(root.path(), "server.key");
    command.arg("-Dserver.write_timeout_ms=2000").arg("serve");
    let server = cli_support::serve(command);
    let connector = tls_connector(root.path());
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let mut stream = connector.connect(name, tcp).await.unwrap();
    let request = format!("GET {BASE}/openapi.json HTTP/1.1\r\nHost: t\r\n\r\n").repeat(16);
    let started = std::time::Instant::now();
    let mut closed = None;
    while started.elapsed() < Duration::from_secs(90) {
        match tokio::time::timeout(
            Duration::from_millis(200),
            stream.write_all(request.as_bytes()),
        )
        .await
        {
            // Written, or blocked because nobody reads: go on.
            Ok(Ok(())) | Err(_) => {}
            Ok(Err(_)) => {
                closed = Some(started.elapsed());
                break;
            }
        }
    }
    assert!(
        closed.is_some(),
        "a TLS client that does not read kept its connection for 90 s"
    );
}
