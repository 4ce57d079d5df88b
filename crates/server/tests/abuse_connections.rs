//! Connection-level limits of the `tessera` binary: what one unfinished
//! request head may cost, the connection cap, a body still arriving after
//! its request timed out, a refused body the client sends whole before it
//! reads, and a shutdown with a slow client still connected.
//!
//! Each test runs the real binary on the embedded default and talks to it
//! over raw TCP, so that what it measures is the production server. Waits
//! are generous upper bounds, never assertions on how fast something is.

#![allow(
    clippy::print_stderr,
    reason = "measured memory is printed for whoever reads a failure"
)]

mod cli_support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cli_support::{BASE, Server, request, rss_kib};

/// `tessera serve` on the embedded default in `dir`, with `-D` overrides.
fn serve(dir: &Path, overrides: &[&str]) -> Server {
    let mut command = cli_support::tessera();
    command
        .env("TESSERA_DATA_DIR", dir.join("data"))
        .env("HOME", dir)
        .arg("serve")
        .args(overrides.iter().map(|o| format!("-D{o}")));
    cli_support::serve(command)
}

/// Reads until the server closes the connection (a reset counts) or
/// `limit` passes; returns what arrived and whether the connection closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let until = Instant::now() + limit;
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (String::from_utf8_lossy(&received).into_owned(), false);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), true)
}

/// The status and the body of a response.
fn status_and_body(response: &str) -> (Option<u16>, &str) {
    let status = response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok());
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body)
}

/// A `POST /sessions` head declaring a JSON body of `length` bytes.
fn post_head(server: &Server, length: usize) -> String {
    format!(
        "POST {BASE}/sessions HTTP/1.1\r\nHost: tessera\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        server.token.as_deref().expect("the embedded token")
    )
}

/// Sends a request head and then trickles its body one byte every 100 ms
/// from a thread, until the server stops taking it or `stop` is set.
fn slow_body(server: &Server, stop: &Arc<AtomicBool>) -> (TcpStream, JoinHandle<()>) {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .write_all(post_head(server, 60_000).as_bytes())
        .unwrap();
    stream.write_all(b"{\"sub\":\"slow\",\"data\":\"").unwrap();
    let mut writer = stream.try_clone().unwrap();
    let stop = Arc::clone(stop);
    let trickle = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) && writer.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    (stream, trickle)
}

#[test]
fn unfinished_heads_cost_a_bounded_buffer_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let pid = server.pid();
    let (status, _) = request(&server.addr, "GET", "/healthz", &[], "");
    assert_eq!(status, 200);
    let before = rss_kib(pid);

    // 300 connections, each sending 300 KiB of one header and never the
    // end of the head. With hyper's default 408 KiB read buffer this grew
    // the server by some 57 MiB.
    let mut filler = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Padding: ".to_vec();
    filler.resize(filler.len() + 300 * 1024, b'p');
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&server.addr).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The server may refuse the head part-way and close: that is fine.
        let _ = stream.write_all(&filler);
        held.push(stream);
    }
    let during = rss_kib(pid);
    eprintln!("VmRSS: {before} KiB before, {during} KiB with 300 unfinished 300 KiB heads");
    // Generous: 300 × the whole 300 KiB would be about 88 MiB.
    assert!(
        during < before + 32 * 1024,
        "grew from {before} KiB to {during} KiB"
    );
    // Those heads are refused, not served.
    for stream in &mut held[..10] {
        let (answer, _) = read_until_closed(stream, Duration::from_secs(30));
        let (status, _) = status_and_body(&answer);
        assert!(matches!(status, None | Some(431)), "{answer}");
    }
    let (status, _) = request(&server.addr, "GET", "/healthz", &[], "");
    assert_eq!(status, 200);
}

#[test]
fn connections_beyond_the_cap_get_a_readable_503_and_a_freed_slot_serves_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["server.max_connections=20"]);
    // 20 connections with an unfinished head hold every slot (for the 30 s
    // head timeout).
    let mut held: Vec<_> = (0..20)
        .map(|_| {
            let mut stream = TcpStream::connect(&server.addr).unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
                .unwrap();
            stream
        })
        .collect();
    // The next one is answered, in the API's error shape, and closed.
    let mut extra = TcpStream::connect(&server.addr).unwrap();
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (answer, closed) = read_until_closed(&mut extra, Duration::from_secs(30));
    assert!(closed, "the refused connection stayed open");
    let (status, body) = status_and_body(&answer);
    assert_eq!(status, Some(503), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["error"], "too_many_connections");

    // One held connection finishes its request: its slot serves again.
    let mut freed = held.pop().unwrap();
    freed.write_all(b"Connection: close\r\n\r\n").unwrap();
    let (answer, _) = read_until_closed(&mut freed, Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = request(&server.addr, "GET", "/healthz", &[], "");
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < until, "the freed slot was never reused");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(held);
}

#[test]
fn a_body_still_arriving_after_its_timeout_answer_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["server.request_timeout_ms=1000"]);
    let stop = Arc::new(AtomicBool::new(false));
    let (mut stream, trickle) = slow_body(&server, &stop);
    // The body would take 6000 s; the server answers at its 1 s limit
    // and then closes the connection instead of reading on.
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    trickle.join().unwrap();
    let (status, body) = status_and_body(&answer);
    assert_eq!(status, Some(503), "{answer}");
    assert!(body.contains("\"timeout\""), "{answer}");
    assert!(closed, "the connection stayed open after the 503");
}

#[test]
fn a_client_that_sends_its_whole_oversized_body_first_reads_the_413() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    // As Python's urllib or Java's HttpURLConnection do: the whole 8 MiB
    // request is written before anything is read.
    let size = 8 * 1024 * 1024;
    let mut body = b"{\"sub\":\"big\",\"data\":\"".to_vec();
    body.resize(size - 2, b'x');
    body.extend_from_slice(b"\"}");
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(post_head(&server, size).as_bytes())
        .unwrap();
    stream
        .write_all(&body)
        .expect("the server takes the whole body");
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(60));
    let (status, body) = status_and_body(&answer);
    assert_eq!(status, Some(413), "{answer:.300}");
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["error"], "body_too_large");
    assert!(closed);
    let (status, _) = request(&server.addr, "GET", "/healthz", &[], "");
    assert_eq!(status, 200);
}

#[test]
fn sigterm_with_a_slow_client_connected_exits_at_the_shutdown_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(
        dir.path(),
        &[
            "server.request_timeout_ms=600000",
            "server.shutdown_timeout_ms=1000",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (_stream, trickle) = slow_body(&server, &stop);
    // Make sure the request is in progress before the signal.
    std::thread::sleep(Duration::from_millis(500));
    // The client would go on for 6000 s; the request timeout for 600 s.
    let exited = server.terminate(Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    trickle.join().unwrap();
    assert!(exited, "still running 60 s after SIGTERM");
}

/// Sends pipelined requests for the 42 KB OpenAPI document on `stream`
/// and never reads an answer, until a write fails because the server
/// closed the connection or `limit` passes; returns how long the server
/// kept it, `None` if it still had it at `limit`.
fn pipeline_without_reading(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let request = format!("GET {BASE}/openapi.json HTTP/1.1\r\nHost: t\r\n\r\n").repeat(16);
    // The client's own writes block once the server stops reading (it
    // waits for its writes): a short timeout lets this loop try again.
    stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while started.elapsed() < limit {
        match stream.write(request.as_bytes()) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// 20 clients that send requests and never read the answers: each
/// server write blocks once the client's receive window and the server's
/// send buffer are full, and `server.write_timeout_ms` (2 s here) closes
/// the connection. Without a write timeout they held their connections
/// (and the blocked responses) until they left. The server serves others
/// throughout.
#[test]
fn clients_that_stop_reading_lose_their_connections_at_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["server.write_timeout_ms=2000"]);
    let addr = server.addr.clone();
    let clients: Vec<JoinHandle<Option<Duration>>> = (0..20)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(&addr).unwrap();
                pipeline_without_reading(&mut stream, Duration::from_secs(90))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        request(&server.addr, "GET", "/healthz", &[], "").0,
        200,
        "the server stopped serving others"
    );
    let held: Vec<Option<Duration>> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    eprintln!("connections held by clients that do not read: {held:?}");
    assert!(
        held.iter().all(Option::is_some),
        "a client that does not read kept its connection for 90 s: {held:?}"
    );
}
