//! Reading and discarding the rest of a refused request body.
//!
//! A body over the limit is answered `413` at once, but many clients
//! (Python's urllib, Java's `HttpURLConnection`) write their whole body
//! before they read anything. Closing the connection on unread bytes makes
//! the kernel reset it, and such a client then reports a failed write
//! ("broken pipe") instead of the answer. So the rest of the body is read
//! and thrown away after the answer, within bounds no client can stretch:
//! [`MAX_BYTES`] in all, [`MAX_TIME`] in all, and [`MAX_PAUSE`] without
//! anything arriving. Past any of them the connection is closed.

use std::time::Duration;

use axum::body::BodyDataStream;
use axum::http::{HeaderMap, header};
use futures::StreamExt as _;
use tokio::time::Instant;

/// The most of a refused body that is read and discarded: 16 MiB. A body
/// declared larger is not read at all.
pub(crate) const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The longest the discarding goes on: 10 s.
pub(crate) const MAX_TIME: Duration = Duration::from_secs(10);

/// The longest pause in the body the discarding waits out: 500 ms. A
/// client that has stopped sending is waiting for the answer, which it
/// already has.
pub(crate) const MAX_PAUSE: Duration = Duration::from_millis(500);

/// Whether the rest of a body refused before any of it was read is worth
/// discarding: not when the client waits for `100 Continue` before it
/// sends (it will not send), nor when it declared more than [`MAX_BYTES`].
pub(crate) fn worth_it(headers: &HeaderMap, declared: Option<u64>) -> bool {
    let waits_for_continue = headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    !waits_for_continue && declared.is_none_or(|n| n <= MAX_BYTES)
}

/// Reads and drops what is left of `body` in a task of its own, within
/// the bounds above; the connection stays open (and its answer is
/// written) while it runs, and closes when it ends.
pub(crate) fn rest(mut body: BodyDataStream, already: u64) {
    tokio::spawn(async move {
        let deadline = Instant::now() + MAX_TIME;
        let mut seen = already;
        loop {
            let wait = deadline.min(Instant::now() + MAX_PAUSE);
            match tokio::time::timeout_at(wait, body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    seen = seen.saturating_add(chunk.len() as u64);
                    if seen > MAX_BYTES {
                        break;
                    }
                }
                // The end of the body, a broken connection, or a bound.
                Ok(None | Some(Err(_))) | Err(_) => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn which_bodies_are_discarded() {
        let mut headers = HeaderMap::new();
        assert!(worth_it(&headers, None));
        assert!(worth_it(&headers, Some(MAX_BYTES)));
        assert!(!worth_it(&headers, Some(MAX_BYTES + 1)));
        headers.insert(header::EXPECT, HeaderValue::from_static("100-Continue"));
        assert!(!worth_it(&headers, Some(10)));
    }
}
