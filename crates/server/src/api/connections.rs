//! The connection cap and the shutdown's last resort: how many connections
//! are served at once, what a connection beyond that gets, and how the
//! connections still open at the shutdown limit are closed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::ErrorCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::metrics;

/// How many refused connections are answered at once; beyond that a
/// refused connection is closed without an answer, so that a flood of
/// connections costs no more than this many small tasks.
const REFUSALS_AT_ONCE: usize = 64;

/// How long answering a refused connection may take, all told.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// How much of what a refused client sent is read and discarded after the
/// answer, so that closing does not reset the connection under it.
const REFUSAL_DISCARD_BYTES: usize = 64 * 1024;

/// The description of the answer to a connection beyond the cap.
const REFUSAL_DESCRIPTION: &str =
    "the server is serving as many connections as it allows; try again shortly";

/// The connection slots of one server.
#[derive(Debug)]
pub(crate) struct Slots {
    free: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    answer: Arc<[u8]>,
}

/// One connection's slot; dropping it frees the slot.
pub(crate) type Slot = OwnedSemaphorePermit;

impl Slots {
    /// `max` slots (at least one).
    pub(crate) fn new(max: usize) -> Self {
        // The API's error shape.
        let body = serde_json::json!({
            "error": ErrorCode::TooManyConnections,
            "error_description": REFUSAL_DESCRIPTION,
        })
        .to_string();
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nretry-after: 1\r\ncache-control: no-store\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        Self {
            free: Arc::new(Semaphore::new(max.max(1))),
            refusing: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            answer: answer.into_bytes().into(),
        }
    }

    /// A free slot, if there is one.
    pub(crate) fn take(&self) -> Option<Slot> {
        Arc::clone(&self.free).try_acquire_owned().ok()
    }

    /// Answers a connection that found no free slot with `503
    /// too_many_connections` and closes it, without reading its request:
    /// the answer is written, the sending side shut, and what the client
    /// sent meanwhile read and discarded (at most 64 KiB, 1 s in all).
    pub(crate) fn refuse(&self, mut stream: TcpStream) {
        metrics::connection_refused();
        let Ok(permit) = Arc::clone(&self.refusing).try_acquire_owned() else {
            tracing::debug!("refusing connections faster than they can be answered; closing");
            return;
        };
        tracing::debug!("at the connection limit; refusing a connection");
        let answer = Arc::clone(&self.answer);
        tokio::spawn(async move {
            let _permit = permit;
            let exchange = async {
                stream.write_all(&answer).await?;
                stream.shutdown().await?;
                let mut buf = [0u8; 4096];
                let mut left = REFUSAL_DISCARD_BYTES;
                loop {
                    let n = stream.read(&mut buf).await?;
                    if n == 0 || n >= left {
                        return Ok::<_, std::io::Error>(());
                    }
                    left -= n;
                }
            };
            // The client may be gone or stalled; the answer is best effort.
            let _ = tokio::time::timeout(REFUSAL_TIME, exchange).await;
        });
    }
}

/// Closes every connection still open when the shutdown limit is reached.
#[derive(Debug)]
pub(crate) struct Cut(watch::Sender<bool>);

impl Default for Cut {
    fn default() -> Self {
        Self(watch::Sender::new(false))
    }
}

impl Cut {
    /// Completes when [`Cut::now`] is called or the `Cut` is dropped.
    pub(crate) fn watch(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.0.subscribe();
        async move {
            // An error means the sender is gone: cut as well.
            let _ = receiver.wait_for(|cut| *cut).await;
        }
    }

    /// Cuts every watched connection.
    pub(crate) fn now(&self) {
        self.0.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_one_complete_json_response() {
        let slots = Slots::new(1);
        let text = std::str::from_utf8(&slots.answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "too_many_connections");
    }

    #[test]
    fn slots_run_out_and_come_back() {
        let slots = Slots::new(2);
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop(a);
        assert!(slots.take().is_some());
    }
}
