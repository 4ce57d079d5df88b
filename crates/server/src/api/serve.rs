//! Serving the router on a listener, with graceful shutdown.

use std::future::Future;
use std::time::Duration;

use axum::Extension;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use super::drain::InFlight;
use super::metrics;

/// How often histogram samples are folded into the exported buckets
/// between scrapes, so that memory stays bounded on a busy server.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// How long shutdown waits for handlers that outlived their request (timed
/// out, or whose client hung up) to finish their store operation.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until SIGTERM or SIGINT (Ctrl-C), then
/// shuts down gracefully: stops accepting connections, lets requests in
/// flight finish, closes idle keep-alive connections, waits (up to 30 s)
/// for the store operations of requests that timed out or were abandoned
/// by their client, and returns.
pub async fn serve(listener: TcpListener, router: axum::Router) -> std::io::Result<()> {
    serve_with_shutdown(listener, router, shutdown_signal()).await
}

/// [`serve`], shutting down gracefully when `signal` completes instead of
/// on a process signal (for embedding and tests).
pub async fn serve_with_shutdown<F>(
    listener: TcpListener,
    router: axum::Router,
    signal: F,
) -> std::io::Result<()>
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
    // Responses are small and written whole; waiting to coalesce them
    // (Nagle) only adds latency.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let in_flight = InFlight::default();
    let router = router.layer(Extension(in_flight.clone()));
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            signal.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
        })
        .await;
    let unfinished = in_flight.drained(DRAIN_LIMIT).await;
    if unfinished > 0 {
        tracing::warn!(unfinished, "store operations still running at shutdown");
    }
    upkeep.abort();
    tracing::info!("server stopped");
    result
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
