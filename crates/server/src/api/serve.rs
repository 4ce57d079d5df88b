//! Serving the router on a listener: the HTTP/1 connection loop, its
//! read buffer, the request-head timeout, the connection cap, and a
//! graceful shutdown with a time limit.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Extension;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use super::ServerTls;
use super::connections::{Cut, Slots};
use super::metrics;

/// How often histogram samples are folded into the exported buckets
/// between scrapes, so that memory stays bounded on a busy server.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// How long shutdown waits for handlers that outlived their request (timed
/// out, or whose client hung up) to finish their store operation.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// How long the loop pauses after an accept error that is not about one
/// connection (out of file descriptors, say), instead of spinning on it.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How connections are served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a connection may take to send a complete request head
    /// (request line and headers), counted from when the server starts
    /// waiting for it: from the connection's opening, or from the previous
    /// response on a kept-alive connection. A connection that takes longer
    /// is closed without an answer, so a client that trickles its headers
    /// (slowloris) or opens connections and sends nothing holds them for
    /// this long at most. The time after the head, including reading the
    /// body, is bounded by [`ApiLimits::request_timeout`](super::ApiLimits).
    pub header_read_timeout: Duration,
    /// The API's header limit ([`ApiLimits::max_header_bytes`](super::ApiLimits)).
    /// Each connection's read buffer is sized from it (see
    /// [`read_buffer_bytes`]), so that a client cannot make the server hold
    /// more for one unfinished request head than a head the API would
    /// accept.
    pub max_header_bytes: usize,
    /// How many connections are served at once. A connection accepted
    /// beyond this is answered `503` with a JSON error and `Retry-After`,
    /// and closed, without its request being read.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for open connections (requests
    /// in flight, bodies still arriving) before it closes them. Store
    /// operations already started still complete afterwards.
    pub shutdown_timeout: Duration,
    /// How long a write to a connection may stay blocked because its
    /// client does not read (its receive window and the server's send
    /// buffer both full). The connection is closed then. Without it, a
    /// client that sends requests and never reads the answers would hold
    /// its connection, and the response it blocks, forever: the head
    /// timeout runs only while a head is awaited.
    pub write_timeout: Duration,
    /// TLS on the listener: with it, every connection starts with a TLS
    /// handshake, which counts against `header_read_timeout`: the first
    /// head must be complete within it of the accept; without
    /// it, plain HTTP (for loopback, or behind a TLS-terminating proxy).
    /// With TLS, a connection beyond `max_connections` is closed without
    /// an answer: a plain-text `503` would be garbage inside a handshake,
    /// and a handshake per refusal would cost what the limit saves.
    pub tls: Option<ServerTls>,
}

impl Default for ServeOptions {
    /// 30 seconds for the request head, 16 KiB of headers, 512 connections,
    /// 5 seconds to shut down, 30 seconds for a blocked write.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_connections: 512,
            shutdown_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// The TLS handshake of one connection and the HTTP settings it leaves.
struct TlsHandshake {
    tls: ServerTls,
    http: http1::Builder,
    /// The head timeout, which the handshake counts against.
    limit: Duration,
}

impl TlsHandshake {
    /// Runs the handshake within the head timeout, and returns the stream
    /// and the HTTP settings whose head timeout is what the handshake left:
    /// the first head must be complete within the limit of the accept, as
    /// without TLS (hyper restarts its timer for each head, so the
    /// connection's later heads get that too). `None` when the handshake
    /// failed or took too long: the client's own failure, logged at debug.
    async fn run<S>(
        mut self,
        stream: S,
    ) -> Option<(tokio_rustls::server::TlsStream<S>, http1::Builder)>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let accepted = tokio::time::Instant::now();
        match tokio::time::timeout(self.limit, self.tls.acceptor().accept(stream)).await {
            Ok(Ok(stream)) => {
                let left = self.limit.saturating_sub(accepted.elapsed());
                self.http
                    .header_read_timeout(left.max(Duration::from_millis(1)));
                Some((stream, self.http))
            }
            // A plain-HTTP client, a client that distrusts the certificate,
            // or one too slow.
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("TLS handshake took longer than the header read timeout");
                None
            }
        }
    }
}

/// Runs one connection until it ends or is cut at the shutdown limit. A
/// client that hangs up, sends garbage or runs out of time ends its own
/// connection; nothing to report above debug.
async fn finish(
    connection: impl Future<Output = Result<(), hyper::Error>>,
    cut: impl Future<Output = ()>,
) {
    tokio::select! {
        result = connection => if let Err(e) = result {
            tracing::debug!(error = %e, "connection closed with an error");
        },
        () = cut => {}
    }
}

/// The read buffer a connection may grow to for a header limit of
/// `max_header_bytes`: room for a request target and headers each at the
/// limit (the API answers those itself, with `414` or `431` and a JSON
/// body) plus the request line and the separators of 100 header fields.
/// A head beyond it is refused by hyper with a bare `431`. Never below
/// hyper's minimum of 8 KiB.
pub fn read_buffer_bytes(max_header_bytes: usize) -> usize {
    const SEPARATORS: usize = 4 * 1024;
    max_header_bytes
        .saturating_mul(2)
        .saturating_add(SEPARATORS)
        .max(8 * 1024)
}

/// Serves `router` on `listener` until SIGTERM or SIGINT (Ctrl-C), then
/// shuts down gracefully: stops accepting connections, lets requests in
/// flight finish, closes idle keep-alive connections, closes whatever
/// connection is still open after [`ServeOptions::shutdown_timeout`],
/// waits (up to 30 s) for the store operations still running (of requests
/// that timed out, were abandoned by their client or were cut), and
/// returns.
pub async fn serve(listener: TcpListener, router: axum::Router) -> io::Result<()> {
    serve_with_shutdown(listener, router, shutdown_signal()).await
}

/// [`serve`], shutting down gracefully when `signal` completes instead of
/// on a process signal (for embedding and tests).
pub async fn serve_with_shutdown<F>(
    listener: TcpListener,
    router: axum::Router,
    signal: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with_options(listener, router, signal, ServeOptions::default()).await
}

/// [`serve_with_shutdown`] with connection settings other than the
/// defaults.
pub async fn serve_with_options<F>(
    listener: TcpListener,
    router: axum::Router,
    signal: F,
    options: ServeOptions,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let upkeep = tokio::spawn(async {
        let handle = metrics::handle();
        let mut tick = tokio::time::interval(METRICS_UPKEEP);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
    // Every handler runs as a task of this tracker (see the edge
    // middleware), so shutdown can wait for those no connection waits for
    // any more: timed out, or abandoned by a client that hung up.
    let handlers = TaskTracker::new();
    let service = TowerToHyperService::new(router.layer(Extension(handlers.clone())));
    // hyper enforces the head timeout only when it is given a timer, which
    // `axum::serve` does not do: hence this loop instead of that one.
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(read_buffer_bytes(options.max_header_bytes));
    let connections = GracefulShutdown::new();
    let slots = Slots::new(options.max_connections);
    let cut = Cut::default();
    let mut signal = std::pin::pin!(signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        // Responses are small and written whole; waiting to coalesce them
        // (Nagle) only adds latency.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let Some(slot) = slots.take() else {
            if options.tls.is_some() {
                metrics::connection_refused();
                drop(stream);
            } else {
                slots.refuse(stream);
            }
            continue;
        };
        let cut = cut.watch();
        let stream = write_bounded(stream, options.write_timeout);
        let Some(tls) = &options.tls else {
            let connection =
                connections.watch(http.serve_connection(TokioIo::new(stream), service.clone()));
            tokio::spawn(async move {
                let _slot = slot;
                finish(connection, cut).await;
            });
            continue;
        };
        let handshake = TlsHandshake {
            tls: tls.clone(),
            http: http.clone(),
            limit: options.header_read_timeout,
        };
        let (service, watcher) = (service.clone(), connections.watcher());
        tokio::spawn(async move {
            let _slot = slot;
            let Some((stream, http)) = handshake.run(stream).await else {
                return;
            };
            let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
            finish(connection, cut).await;
        });
    }
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    drop(listener);
    if tokio::time::timeout(options.shutdown_timeout, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            limit_ms = options.shutdown_timeout.as_millis(),
            "connections still open at the shutdown limit; closing them"
        );
    }
    cut.now();
    handlers.close();
    if tokio::time::timeout(DRAIN_LIMIT, handlers.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            unfinished = handlers.len(),
            "store operations still running at shutdown"
        );
    }
    upkeep.abort();
    tracing::info!("server stopped");
    Ok(())
}

/// `stream`, whose writes fail with `TimedOut` once one has waited
/// `limit` for the client to read (reset by each write that goes through).
fn write_bounded(
    stream: tokio::net::TcpStream,
    limit: Duration,
) -> std::pin::Pin<Box<tokio_io_timeout::TimeoutStream<tokio::net::TcpStream>>> {
    let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
    stream.set_write_timeout(Some(limit));
    Box::pin(stream)
}

/// Handles a failed `accept`: an error about one connection (reset or
/// aborted before it was accepted) is skipped; any other (out of file
/// descriptors, out of memory) is logged and waited out briefly.
async fn accept_failed(e: &io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// Completes on the first SIGTERM or SIGINT (Ctrl-C elsewhere than Unix).
///
/// If a handler cannot be installed, that is logged and the other signal
/// still works; if none can, the future never completes (the process can
/// still be killed).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
