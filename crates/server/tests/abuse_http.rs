//! The HTTP abuse suite: hostile requests against a running server, each
//! bounded by a documented limit (`docs/api.md`, "Limits") and answered
//! with the right error, while other clients are still served.
//!
//! Most tests run the API in-process on a real loopback port; the memory
//! and default-timeout tests run the `tessera` binary itself, so that what
//! they measure is the production server.

#![allow(
    clippy::print_stderr,
    reason = "measured costs and memory are printed for whoever reads a failure"
)]

mod api_support;

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_support::{Options, START, TOKEN, TestServer, expect_error, keys, login};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_crypto::testkit::SeededRandom;
use tessera_crypto::{TokenHash, TokenVerifier};
use tessera_server::api::{self, ApiLimits, ApiState, BASE_PATH, ServeOptions};
use tessera_server::config::{self, ConfigSources, MAX_LABELLED_TOKENS};
use tessera_store::testkit::KillOnDrop;
use tessera_store::testkit::MockClock;
use tessera_store::{MemoryStore, Sessions, SessionsConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// ---- Raw HTTP ----

/// What came back on a raw connection.
#[derive(Debug)]
struct Answer {
    /// The status, if a response head arrived at all.
    status: Option<u16>,
    /// Everything after the head.
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }
}

/// Reads what the server sends until it closes the connection (a reset
/// counts as closing: a server that refuses a body may close with unread
/// bytes, which resets the connection) or 10 seconds pass.
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|s| s.parse().ok());
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Answer { status, body }
}

/// Sends `parts` one after the other on a fresh connection, stopping
/// quietly at the first write the server no longer accepts, then reads the
/// answer.
async fn exchange(addr: SocketAddr, parts: &[&[u8]]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for part in parts {
        if stream.write_all(part).await.is_err() {
            break;
        }
    }
    read_answer(&mut stream).await
}

/// A request head with `Connection: close`, the primary token and `extra`
/// header lines (each ending in CRLF).
fn head(method: &str, path: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} {BASE_PATH}{path} HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\
         Authorization: Bearer {TOKEN}\r\n{extra}\r\n"
    )
    .into_bytes()
}

fn addr_of(server: &TestServer) -> SocketAddr {
    server
        .base
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap()
}

// ---- An in-process server with chosen tokens and serve options ----

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    async fn start(tokens: TokenVerifier, limits: ApiLimits, options: ServeOptions) -> Self {
        let sessions = Sessions::new(
            Arc::new(MemoryStore::new()),
            SessionsConfig::default(),
            keys(),
            Arc::new(MockClock::new(START)),
            Arc::new(SeededRandom::new(b"abuse")),
        );
        let router = api::router(ApiState {
            sessions: Arc::new(sessions),
            tokens: Arc::new(tokens.into()),
            limits,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve_with_options(
            listener,
            router,
            async {
                let _ = rx.await;
            },
            options,
        ));
        Self {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

fn primary_only() -> TokenVerifier {
    TokenVerifier::new([("primary".to_owned(), TokenHash::of(TOKEN))])
}

// ---- Bodies ----

#[tokio::test]
async fn a_declared_body_over_the_limit_is_413_before_it_is_sent() {
    let server = TestServer::start().await;
    // 100 MiB announced, not one byte of it sent: the answer must not wait
    // for the body.
    let head = head(
        "POST",
        "/sessions",
        "Content-Type: application/json\r\nContent-Length: 104857600\r\n",
    );
    let started = Instant::now();
    let answer = exchange(addr_of(&server), &[&head]).await;
    assert_eq!(answer.status, Some(413), "{answer:?}");
    assert_eq!(answer.json()["error"], "body_too_large");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_cut_off_with_413() {
    let server = TestServer::start().await;
    let head = head(
        "POST",
        "/sessions",
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
    );
    // A JSON prefix, then 8 KiB chunks: 1 MiB in all, far over 64 KiB.
    let opening = b"{\"sub\":\"a\",\"data\":{\"blob\":\"";
    let mut first = format!("{:x}\r\n", opening.len()).into_bytes();
    first.extend_from_slice(opening);
    first.extend_from_slice(b"\r\n");
    let mut chunk = format!("{:x}\r\n", 8192).into_bytes();
    chunk.extend_from_slice(&[b'x'; 8192]);
    chunk.extend_from_slice(b"\r\n");
    let mut parts: Vec<&[u8]> = vec![&head, &first];
    parts.extend(std::iter::repeat_n(chunk.as_slice(), 128));
    let answer = exchange(addr_of(&server), &parts).await;
    assert_eq!(answer.status, Some(413), "{answer:?}");
    assert_eq!(answer.json()["error"], "body_too_large");
    server.stop().await;
}

#[tokio::test]
async fn bodies_just_under_and_just_over_the_limit() {
    let server = TestServer::start().await;
    let limit = ApiLimits::default().max_body_bytes;
    // A body of exactly `size` bytes holding one big string in `data`.
    let body_of = |size: usize| {
        let skeleton = json!({"sub": "big", "data": {"blob": ""}}).to_string();
        let blob = "x".repeat(size - skeleton.len());
        let body = json!({"sub": "big", "data": {"blob": blob}}).to_string();
        assert_eq!(body.len(), size);
        body
    };
    let at_limit = body_of(limit);
    let response = server
        .api(Method::POST, "/sessions")
        .header("content-type", "application/json")
        .body(at_limit.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let sid = response.json::<Value>().await.unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored: Value = server.get_by_sid(&sid, "").await.json().await.unwrap();
    let sent: Value = serde_json::from_str(&at_limit).unwrap();
    assert_eq!(stored["data"], sent["data"], "stored intact");

    let over = body_of(limit + 1);
    let response = server
        .api(Method::POST, "/sessions")
        .header("content-type", "application/json")
        .body(over)
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;

    // Many small members rather than one big one, just under the limit:
    // each `"k00000":0,` takes about 11 bytes.
    let wide = |n: usize| {
        let data: serde_json::Map<String, Value> =
            (0..n).map(|i| (format!("k{i:05}"), json!(0))).collect();
        data
    };
    let mut n = limit / 11;
    let data = loop {
        let data = wide(n);
        if json!({"sub": "wide", "data": &data}).to_string().len() <= limit {
            break data;
        }
        n -= 100;
    };
    let response = server
        .api(Method::POST, "/sessions")
        .json(&json!({"sub": "wide", "data": &data}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{} members",
        data.len()
    );
    // The same object through PUT.
    let response = server
        .api(Method::PUT, "/sessions")
        .header("SID", &sid)
        .json(&json!({"data": &data}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn deep_json_nesting_is_400_without_overflowing_the_stack() {
    // Room for 100,000 levels; the JSON decoder stops at 128.
    let limits = ApiLimits {
        max_body_bytes: 1024 * 1024,
        ..ApiLimits::default()
    };
    let server = TestServer::with(Options {
        limits,
        ..Options::default()
    })
    .await;
    let (sid, _, _) = server.create(login("nest")).await;
    let send = |method: Method, path: &'static str, body: String| {
        server
            .api(method, path)
            .header("SID", &sid)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let objects = "{\"a\":".repeat(100_000);
    let arrays = format!("{{\"x\":{}{}}}", "[".repeat(50_000), "]".repeat(50_000));
    // Deep inside the free JSON fields: the decoder's depth limit answers.
    for deep in [&objects, &arrays] {
        let response = send(
            Method::POST,
            "/sessions",
            format!("{{\"sub\":\"a\",\"data\":{deep}}}"),
        )
        .await
        .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
        let response = send(Method::PUT, "/sessions", format!("{{\"claims\":{deep}}}"))
            .await
            .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    }
    // Deep where no nesting is expected (a top-level array, a subject):
    // refused as the wrong type before any depth is reached.
    let top = "[".repeat(100_000);
    let in_sub = format!("{{\"sub\":{top}");
    for body in [&top, &in_sub] {
        for (method, path) in [
            (Method::POST, "/sessions"),
            (Method::PUT, "/sessions"),
            (Method::PUT, "/sessions/subject-auth-life"),
        ] {
            let response = send(method, path, body.clone()).await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let error: Value = response.json().await.unwrap();
            assert!(
                error["error"] == "invalid_json" || error["error"] == "invalid_request",
                "{error}"
            );
        }
    }
    // Nesting within the decoder's limit is fine.
    let shallow = json!({"sub": "a", "data": {"x": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}});
    let response = server
        .api(Method::POST, "/sessions")
        .json(&shallow)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_is_refused() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(login("utf8")).await;
    let addr = addr_of(&server);
    let bodies: [&[u8]; 3] = [
        b"{\"sub\":\"\xff\xfe\"}",
        b"{\"sub\":\"a\",\"data\":{\"\xc3\x28\":1}}",
        b"{\"sub\":\"a\xed\xa0\x80\"}",
    ];
    for body in bodies {
        let head = head(
            "POST",
            "/sessions",
            &format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ),
        );
        let answer = exchange(addr, &[&head, body]).await;
        assert_eq!(answer.status, Some(400), "{answer:?}");
        assert_eq!(answer.json()["error"], "invalid_json");
    }
    // Not UTF-8 in a SID header: the same 400 as any malformed SID.
    let request = format!(
        "GET {BASE_PATH}/sessions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Authorization: Bearer {TOKEN}\r\nSID: "
    );
    let answer = exchange(addr, &[request.as_bytes(), b"\xff\xfe\xfd\r\n\r\n"]).await;
    assert_eq!(answer.status, Some(400), "{answer:?}");
    assert_eq!(answer.json()["error"], "invalid_sid");
    // ... and in the bearer token: the same 401 as any wrong token.
    let request = format!(
        "GET {BASE_PATH}/sessions?subject=a HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer "
    );
    let answer = exchange(addr, &[request.as_bytes(), b"\xff\xfe\r\n\r\n"]).await;
    assert_eq!(answer.status, Some(401), "{answer:?}");
    assert_eq!(answer.json()["error"], "invalid_token");
    // The session is untouched by all of it.
    assert_eq!(server.get_by_sid(&sid, "").await.status(), StatusCode::OK);
    server.stop().await;
}

// ---- Headers ----

#[tokio::test]
async fn oversized_headers_are_431_at_every_size() {
    let server = TestServer::start().await;
    let addr = addr_of(&server);
    // Over the API's 16 KiB: the API's JSON answer.
    let response = server
        .api(Method::GET, "/sessions?subject=a")
        .header("x-padding", "p".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    )
    .await;
    // Over the read buffer (36 KiB for the default header limit): refused
    // by hyper while reading, no body.
    let huge = head(
        "GET",
        "/sessions?subject=a",
        &format!("X-Padding: {}\r\n", "p".repeat(500 * 1024)),
    );
    let answer = exchange(addr, &[&huge]).await;
    assert_eq!(answer.status, Some(431), "{answer:?}");
    // More than 100 header fields, each small.
    let many = (0..150).fold(String::new(), |mut h, i| {
        let _ = write!(h, "X-H{i}: v\r\n");
        h
    });
    let answer = exchange(addr, &[&head("GET", "/sessions?subject=a", &many)]).await;
    assert_eq!(answer.status, Some(431), "{answer:?}");
    // A huge request target.
    let target = format!("/sessions?subject={}", "s".repeat(100 * 1024));
    let answer = exchange(addr, &[&head("GET", &target, "")]).await;
    assert!(matches!(answer.status, Some(414 | 431)), "{answer:?}");
    // Still serving.
    assert_eq!(
        server
            .raw(Method::GET, "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

// ---- Subjects ----

#[tokio::test]
async fn a_10k_character_subject_is_400_naming_sub() {
    let server = TestServer::start().await;
    let long = "s".repeat(10_000);
    let check = |description: String| {
        assert!(description.contains("sub"), "{description}");
        assert!(!description.contains(&long[..64]), "echoed: {description}");
    };
    let response = server
        .api(Method::POST, "/sessions")
        .json(&json!({ "sub": long }))
        .send()
        .await
        .unwrap();
    check(expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await);
    let response = server
        .api(Method::PUT, "/sessions/subject-auth-life")
        .json(&json!({ "sub": long }))
        .send()
        .await
        .unwrap();
    check(expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await);
    for method in [Method::GET, Method::DELETE] {
        let response = server
            .api(method, &format!("/sessions?subject={long}"))
            .send()
            .await
            .unwrap();
        check(expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await);
    }
    // The longest subject the model accepts still works.
    let longest = "s".repeat(tessera_core::Subject::MAX_LEN);
    let response = server
        .api(Method::POST, "/sessions")
        .json(&json!({ "sub": longest }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    server.stop().await;
}

// ---- Many tokens ----

fn labelled_token(i: usize) -> String {
    format!("labelled-token-{i:05}-for-the-abuse-suite-0123456789")
}

#[tokio::test]
async fn five_thousand_labelled_tokens_all_verify_and_nothing_else_does() {
    let count = 5000;
    let entries = std::iter::once(("primary".to_owned(), TokenHash::of(TOKEN)))
        .chain((0..count).map(|i| (format!("client-{i:05}"), TokenHash::of(&labelled_token(i)))));
    let verifier = TokenVerifier::new(entries);
    for i in [0, 1, count / 2, count - 1] {
        let label = format!("client-{i:05}");
        assert_eq!(verifier.verify(&labelled_token(i)), Some(label.as_str()));
    }
    assert_eq!(verifier.verify(&labelled_token(count)), None);
    // What one verification costs with this many hashes (informative; the
    // configuration caps the count at MAX_LABELLED_TOKENS).
    let started = Instant::now();
    for _ in 0..100 {
        assert_eq!(verifier.verify("not a token"), None);
    }
    eprintln!(
        "one verification against {} hashes: {:?}",
        verifier.len(),
        started.elapsed() / 100
    );

    let server = Running::start(verifier, ApiLimits::default(), ServeOptions::default()).await;
    let client = reqwest::Client::new();
    let url = server.url(&format!("{BASE_PATH}/sessions?subject=alice"));
    for i in [0, count / 3, count - 1] {
        let response = client
            .get(&url)
            .bearer_auth(labelled_token(i))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "token {i}");
    }
    for wrong in [
        labelled_token(count),
        labelled_token(0)[..20].to_owned(),
        format!("{}x", labelled_token(7)),
    ] {
        let response = client.get(&url).bearer_auth(wrong).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    server.stop().await;
}

#[test]
fn the_configuration_caps_the_labelled_tokens() {
    let defines = |n: usize| -> Vec<String> {
        let mut defines = vec![
            "tokenizer.type=local".to_owned(),
            "tokenizer.path=/nonexistent/sessions".to_owned(),
        ];
        defines.extend((0..n).map(|i| {
            format!(
                "sessionStore.apiAccessTokenSHA256.client{i:05}={}",
                TokenHash::of(&labelled_token(i))
            )
        }));
        defines
    };
    let sources = |n| ConfigSources {
        env: vec![(
            "TOKENIZER_SAFE_PASSWORD".to_owned(),
            "abuse-suite-Zq8!mW3#rT6@".to_owned(),
        )],
        defines: defines(n),
        ..ConfigSources::default()
    };
    let config = config::load(&sources(MAX_LABELLED_TOKENS)).expect("at the cap");
    assert_eq!(config.session_store.tokens.len(), MAX_LABELLED_TOKENS);

    let errors = config::load(&sources(MAX_LABELLED_TOKENS + 1)).unwrap_err();
    assert_eq!(errors.errors().len(), 1, "{errors}");
    let error = &errors.errors()[0];
    assert!(
        error
            .key()
            .starts_with("sessionStore.apiAccessTokenSHA256."),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&MAX_LABELLED_TOKENS.to_string()),
        "{message}"
    );
    assert!(
        message.contains(&(MAX_LABELLED_TOKENS + 1).to_string()),
        "{message}"
    );
}

// ---- Slow clients ----

/// The head timeout the slow-client tests run with.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// A little less than the head timeout: no connection may be closed sooner.
const HEAD_TIMEOUT_EARLIEST: Duration = Duration::from_millis(1800);

/// Trickles an endless header one byte per 100 ms; returns how long the
/// server took to close the connection (`None`: still open after `limit`)
/// and what it sent.
async fn slowloris(addr: SocketAddr, limit: Duration) -> (Option<Duration>, Answer) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let mut received = Vec::new();
    while started.elapsed() < limit {
        if stream.write_all(b"a").await.is_err() {
            return (
                Some(started.elapsed()),
                Answer {
                    status: None,
                    body: String::new(),
                },
            );
        }
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => {
                let text = String::from_utf8_lossy(&received).into_owned();
                let status = text.get(9..12).and_then(|s| s.parse().ok());
                return (Some(started.elapsed()), Answer { status, body: text });
            }
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
    (
        None,
        Answer {
            status: None,
            body: String::new(),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_dropped_and_others_are_served_meanwhile() {
    let server = Running::start(
        primary_only(),
        ApiLimits::default(),
        ServeOptions {
            header_read_timeout: HEAD_TIMEOUT,
            ..ServeOptions::default()
        },
    )
    .await;
    let addr = server.addr;
    let bound = HEAD_TIMEOUT + Duration::from_secs(2);
    let attackers: Vec<_> = (0..64)
        .map(|_| tokio::spawn(slowloris(addr, bound + Duration::from_secs(3))))
        .collect();
    // While they trickle, an ordinary client is served promptly.
    let client = reqwest::Client::new();
    let mut answered = 0;
    let until = Instant::now() + HEAD_TIMEOUT;
    while Instant::now() < until {
        let started = Instant::now();
        let response = client
            .post(server.url(&format!("{BASE_PATH}/sessions")))
            .bearer_auth(TOKEN)
            .json(&login("patient"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "slow answer: {:?}",
            started.elapsed()
        );
        answered += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered >= 10, "only {answered} requests answered");
    for attacker in attackers {
        let (closed, answer) = attacker.await.unwrap();
        let closed = closed.expect("the server closed the slow connection");
        assert!(
            closed >= HEAD_TIMEOUT_EARLIEST && closed <= bound,
            "closed after {closed:?}"
        );
        // Closed without an answer, or with 408 — never a served request.
        assert!(matches!(answer.status, None | Some(408)), "{answer:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn idle_and_kept_alive_connections_are_closed_after_the_head_timeout() {
    let server = Running::start(
        primary_only(),
        ApiLimits::default(),
        ServeOptions {
            header_read_timeout: HEAD_TIMEOUT,
            ..ServeOptions::default()
        },
    )
    .await;
    let bound = HEAD_TIMEOUT + Duration::from_secs(2);
    // Connects and sends nothing.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(bound, idle.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "still open: {read:?}");
    assert!(started.elapsed() >= HEAD_TIMEOUT_EARLIEST);

    // One request, then silence on the kept-alive connection.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let mut rest = Vec::new();
    let read = tokio::time::timeout(bound, kept.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the kept-alive connection stayed open");
    server.stop().await;
}

#[tokio::test]
async fn a_slow_body_is_503_timeout_within_the_request_timeout() {
    let limits = ApiLimits {
        request_timeout: Duration::from_secs(1),
        ..ApiLimits::default()
    };
    let server = Running::start(primary_only(), limits, ServeOptions::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = head(
        "POST",
        "/sessions",
        "Content-Type: application/json\r\nContent-Length: 1000\r\n",
    );
    stream.write_all(&head).await.unwrap();
    let started = Instant::now();
    // One byte every 100 ms: the body would take 100 s.
    let answer = loop {
        let _ = stream.write_all(b" ").await;
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Err(_) => assert!(started.elapsed() < Duration::from_secs(10), "no answer"),
            Ok(Ok(n)) if n > 0 => break String::from_utf8_lossy(&buf[..n]).into_owned(),
            Ok(other) => panic!("closed without an answer: {other:?}"),
        }
    };
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
    // The body alone would take 100 s; slack for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(10));
    server.stop().await;
}

// ---- The real binary: default head timeout and memory ----

const BINARY_TOKEN: &str = "abuseSuiteBinaryToken0123456789abcdefghijk";

/// `tessera serve` on a local store in a temporary folder, killed on drop.
struct Binary {
    child: KillOnDrop,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Binary {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .env_clear()
            .env("TOKENIZER_TYPE", "local")
            .env("TOKENIZER_SAFE_PASSWORD", "abuse-suite-Zq8!mW3#rT6@")
            .env("TOKENIZER_PATH", dir.path().join("sessions"))
            .env("TESSERA_DATA_DIR", dir.path())
            .env(
                "TESSERA_SESSIONSTORE__APIACCESSTOKENSHA256",
                TokenHash::of(BINARY_TOKEN).to_string(),
            )
            .args(["serve", "-Dserver.listen=127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut addr = None;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("tessera: listening on http://") {
                addr = rest.split_whitespace().next().map(str::to_owned);
                break;
            }
        }
        let addr = addr.expect("the server started").parse().unwrap();
        Self {
            child: KillOnDrop(child),
            addr,
            _dir: dir,
        }
    }

    /// The resident set size, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_drops_a_slowloris_within_its_default_head_timeout() {
    let binary = tokio::task::spawn_blocking(Binary::start).await.unwrap();
    let default = ServeOptions::default().header_read_timeout;
    let (closed, answer) = slowloris(binary.addr, default + Duration::from_secs(10)).await;
    let closed = closed.expect("the binary closed the slow connection");
    assert!(
        closed + Duration::from_secs(1) >= default && closed <= default + Duration::from_secs(3),
        "closed after {closed:?}"
    );
    assert!(matches!(answer.status, None | Some(408)), "{answer:?}");
}

/// One hostile request of each kind the memory test repeats.
async fn hostile_burst(addr: SocketAddr) {
    let big_declared = head_for_binary(
        "POST",
        "/sessions",
        "Content-Type: application/json\r\nContent-Length: 1048576\r\n",
    );
    let filler = vec![b'x'; 64 * 1024];
    let chunked = head_for_binary(
        "POST",
        "/sessions",
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
    );
    let mut chunk = format!("{:x}\r\n", 16384).into_bytes();
    chunk.extend_from_slice(&[b'x'; 16384]);
    chunk.extend_from_slice(b"\r\n");
    let mut chunked_parts: Vec<&[u8]> = vec![&chunked];
    chunked_parts.extend(std::iter::repeat_n(chunk.as_slice(), 64));
    let huge_header = head_for_binary(
        "GET",
        "/sessions?subject=a",
        &format!("X-Padding: {}\r\n", "p".repeat(300 * 1024)),
    );
    let nested = "[".repeat(60_000);
    let nested_head = head_for_binary(
        "POST",
        "/sessions",
        &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            nested.len()
        ),
    );
    let answers = [
        exchange(addr, &[&big_declared, &filler]).await,
        exchange(addr, &chunked_parts).await,
        exchange(addr, &[&huge_header]).await,
        exchange(addr, &[&nested_head, nested.as_bytes()]).await,
    ];
    let statuses: Vec<_> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [Some(413), Some(413), Some(431), Some(400)],
        "{answers:?}"
    );
}

fn head_for_binary(method: &str, path: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} {BASE_PATH}{path} HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\
         Authorization: Bearer {BINARY_TOKEN}\r\n{extra}\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_a_burst_of_oversized_requests() {
    let binary = tokio::task::spawn_blocking(Binary::start).await.unwrap();
    let addr = binary.addr;
    // Warm up: allocator arenas, the first sessions, the metrics registry.
    for _ in 0..2 {
        hostile_burst(addr).await;
    }
    let before = binary.rss_kib();
    let round = |n: usize| async move {
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(hostile_burst(addr))).collect();
        for task in tasks {
            task.await.unwrap();
        }
    };
    // 2 × 200 bursts of 4 requests, 16 bursts at a time: about 100 MiB
    // offered per round.
    for _ in 0..(200 / 16) {
        round(16).await;
    }
    let after_first = binary.rss_kib();
    for _ in 0..(200 / 16) {
        round(16).await;
    }
    let after_second = binary.rss_kib();
    eprintln!(
        "VmRSS: {before} KiB before, {after_first} KiB after one round, {after_second} KiB after two"
    );
    // Generous bounds: the point is that hostile bodies are not buffered
    // whole and nothing accumulates from one round to the next.
    assert!(
        after_first < before + 64 * 1024,
        "grew from {before} KiB to {after_first} KiB"
    );
    assert!(
        after_second < after_first + 16 * 1024,
        "kept growing: {after_first} KiB to {after_second} KiB"
    );
    // Still answering.
    let answer = exchange(
        addr,
        &[b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"],
    )
    .await;
    assert_eq!(answer.status, Some(200));
}
