//! The API over TLS (`server.tls_cert_file`, `server.tls_key_file`), with
//! the real binary, a private CA made with openssl, and a real HTTPS client.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod cli_support;

use tessera_store::testkit::make_certificates;

use cli_support::BASE;

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
