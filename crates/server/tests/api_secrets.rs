//! No secret leaves the server except where the API hands it out on
//! purpose (the SID in the create answer, credentials on explicit request):
//! with every log line captured at TRACE, a whole life cycle and every kind
//! of error leave no SID, token, safe password or credential in the logs,
//! in an error body or on the metrics page.

mod api_support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use api_support::faults::{Failing, Failure};
use api_support::{Options, SAFE_PASSWORD, SECONDARY_TOKEN, TOKEN, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Every log line written in this test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

fn capture() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_span_events(FmtSpan::FULL)
                .with_ansi(false)
                .with_writer(captured.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            captured
        })
        .clone()
}

const CREDENTIAL: &str = "upstream-db-password-7f3a9c";
const CLAIM: &str = "claim-value-5d1e";

/// Everything a leak could end up in: error bodies and pages.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn body(&mut self, response: reqwest::Response) -> StatusCode {
        let status = response.status();
        let text = response.text().await.unwrap();
        if !status.is_success() {
            self.0.push(text);
        }
        status
    }
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one life cycle with every error on the way"
)]
async fn no_secret_reaches_logs_error_bodies_or_metrics() {
    let logs = capture();
    let server = TestServer::start().await;
    let mut seen = Seen::default();
    let mut sids = Vec::new();

    let created: Value = server
        .api(Method::POST, "/sessions")
        .json(&json!({
            "sub": "leak-test",
            "claims": {"c": CLAIM},
            "data": {"d": CLAIM},
            "credentials": {"password": CREDENTIAL},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = created["sid"].as_str().unwrap().to_owned();
    sids.push(sid.clone());
    let id = created["id"].as_str().unwrap().to_owned();

    // The explicit request for credentials gets them; nothing else does.
    let got: Value = server
        .get_by_sid(&sid, "?credentials=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["credentials"]["password"], CREDENTIAL);
    let plain = server.get_by_sid(&sid, "").await.text().await.unwrap();
    assert!(!plain.contains(CREDENTIAL));

    let update = server
        .api(Method::PUT, "/sessions")
        .header("SID", &sid)
        .header("If-Match", "\"1\"")
        .json(&json!({"data": {"d": CLAIM}}))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.body(update).await, StatusCode::OK);
    let stale = server
        .api(Method::PUT, "/sessions")
        .header("SID", &sid)
        .header("If-Match", "\"1\"")
        .json(&json!({"data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.body(stale).await, StatusCode::PRECONDITION_FAILED);
    let listed = server
        .api(Method::GET, "/sessions?subject=leak-test")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&sid) && !listed.contains(CREDENTIAL));

    // Errors carrying secrets in every place a client could put them.
    let mut forged = sid.clone();
    forged.replace_range(sid.len() - 1.., if sid.ends_with('A') { "Q" } else { "A" });
    sids.push(forged.clone());
    let attempts = vec![
        server.api(Method::GET, "/sessions").header("SID", &forged),
        server
            .api(Method::GET, &format!("/sessions?sid={sid}"))
            .header("SID", &sid),
        server
            .api(Method::PUT, "/sessions")
            .header("SID", &sid)
            .json(&json!({"data": sid, "sub": CREDENTIAL})),
        server
            .api(Method::PUT, "/sessions")
            .header("SID", &sid)
            .json(&json!({"data": CREDENTIAL})),
        server
            .api(Method::POST, "/sessions")
            .json(&json!({"sub": "leak-test", "credentials": CREDENTIAL, SAFE_PASSWORD: 1})),
        server
            .api(Method::POST, "/sessions")
            .header("content-type", "application/json")
            .body(format!("{{\"sub\": \"{CREDENTIAL}")),
        server
            .api(Method::POST, "/sessions")
            .json(&json!({"sub": "x", "max_life": CREDENTIAL})),
        server
            .client
            .get(server.api_url("/sessions"))
            .header("SID", &sid)
            .bearer_auth(&TOKEN[..TOKEN.len() - 1]),
        server
            .client
            .get(server.api_url("/sessions"))
            .header("SID", &sid)
            .header("authorization", format!("Basic {SECONDARY_TOKEN}")),
        server.api(Method::DELETE, &format!("/sessions?id={sid}")),
    ];
    for request in attempts {
        let status = seen.body(request.send().await.unwrap()).await;
        assert!(status.is_client_error(), "{status}");
    }

    let ended = server
        .api(Method::DELETE, "/sessions")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(seen.body(ended).await, StatusCode::OK);
    let gone = server.get_by_sid(&sid, "").await;
    assert_eq!(seen.body(gone).await, StatusCode::NOT_FOUND);
    let gone = server
        .api(Method::DELETE, &format!("/sessions?id={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.body(gone).await, StatusCode::NOT_FOUND);

    // A backend outage logs its cause, still without secrets.
    let down = TestServer::with(Options {
        store: Arc::new(Failing(Failure::Unavailable)),
        ..Options::default()
    })
    .await;
    let outage = down
        .api(Method::POST, "/sessions")
        .json(&json!({"sub": "leak-test", "credentials": CREDENTIAL}))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.body(outage).await, StatusCode::SERVICE_UNAVAILABLE);
    let outage = down.get_by_sid(&sid, "?credentials=true").await;
    assert_eq!(seen.body(outage).await, StatusCode::SERVICE_UNAVAILABLE);

    let metrics = server.raw(Method::GET, "/metrics").send().await.unwrap();
    seen.0.push(metrics.text().await.unwrap());
    down.stop().await;
    server.stop().await;

    let logs = logs.text();
    assert!(
        logs.contains("route=/session-store/rest/v2/sessions"),
        "{logs}"
    );
    assert!(
        logs.contains("status=201") && logs.contains("status=401"),
        "{logs}"
    );
    assert!(
        logs.contains("token=primary"),
        "the label, not the token: {logs}"
    );
    assert!(logs.contains("session backend unavailable"), "{logs}");

    let mut secrets: Vec<&str> = vec![
        TOKEN,
        SECONDARY_TOKEN,
        &TOKEN[..TOKEN.len() - 1],
        SAFE_PASSWORD,
        CREDENTIAL,
    ];
    secrets.extend(sids.iter().map(String::as_str));
    // The key part of the SID alone opens nothing (a legacy SID maps to a
    // storage key of its own), but it is half a SID: it must not leak either.
    secrets.push(&sid[..22]);
    for secret in &secrets {
        assert!(!logs.contains(secret), "a secret reached the logs:\n{logs}");
        for text in &seen.0 {
            assert!(
                !text.contains(secret),
                "a secret reached a response: {text}"
            );
        }
    }
    // Claims and data are not secrets of the same kind, but they are
    // personal data: they are not logged either.
    assert!(!logs.contains(CLAIM), "claims or data reached the logs");
}
