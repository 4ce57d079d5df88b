//! Turning client errors into [`StoreError`]s.
//!
//! The line that matters: anything that means "Redis did not answer" —
//! connection refused or lost, timeouts, a Cluster without a majority, a
//! server still loading its data — is [`StoreError::Unavailable`], so the
//! caller answers "try again" and never "logged out". Everything else (bad
//! credentials, a key of the wrong type, a script error) is
//! [`StoreError::Backend`]. The driver's error is always kept as the source.

use fred::error::{Error, ErrorKind};
use tessera_store::StoreError;

/// Server replies that mean "not now" rather than "never".
const TRANSIENT_REPLIES: &[&str] = &[
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "READONLY",
    "NOREPLICAS",
];

/// Maps a client error met while doing `what`.
pub(crate) fn store_error(what: &'static str, error: Error) -> StoreError {
    if is_unavailable(&error) {
        StoreError::unavailable(what, error)
    } else {
        StoreError::backend(what, error)
    }
}

/// Maps an error of a plain command on a session key: a key holding a
/// hash is a session of format 1 ([`crate::value::older_layout`]).
pub(crate) fn read_error(what: &'static str, error: Error) -> StoreError {
    if is_wrong_type(&error) {
        crate::value::older_layout()
    } else {
        store_error(what, error)
    }
}

/// Whether Redis refused a command for the type of the key's value.
pub(crate) fn is_wrong_type(error: &Error) -> bool {
    server_reply_code(error.details()) == Some("WRONGTYPE")
}

/// Whether the error means Redis could not be reached or could not answer
/// now.
pub(crate) fn is_unavailable(error: &Error) -> bool {
    match error.kind() {
        // A refused certificate arrives as an I/O error; retrying does not
        // make it trusted.
        ErrorKind::IO => !error.details().contains("Certificate"),
        ErrorKind::Timeout
        | ErrorKind::Canceled
        | ErrorKind::Backpressure
        | ErrorKind::Cluster
        | ErrorKind::Routing
        | ErrorKind::Sentinel => true,
        ErrorKind::Unknown => {
            let details = error.details();
            match server_reply_code(details) {
                Some(code) => TRANSIENT_REPLIES.contains(&code),
                // The client's own failures ("Failed to route command.",
                // "Too many failed write attempts.", "Missing response.")
                // are all about connections it does not have.
                None => true,
            }
        }
        _ => false,
    }
}

/// The error code of a server's error reply (`ERR`, `WRONGTYPE`,
/// `LOADING`...): its first word, in capitals. `None` for the client's own
/// messages.
fn server_reply_code(details: &str) -> Option<&str> {
    let code = details.split_whitespace().next()?;
    (code.len() > 1 && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')).then_some(code)
}

/// A reply that does not have the shape the script returns: a script and
/// a server that disagree, never a user's fault.
pub(crate) fn unexpected_reply(what: &'static str) -> StoreError {
    StoreError::backend(
        what,
        Error::new(
            ErrorKind::Protocol,
            "unexpected reply shape from a Tessera script",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_unavailable_and_the_rest_is_backend() {
        for e in [
            Error::new(ErrorKind::IO, "Connection refused"),
            Error::new(ErrorKind::Timeout, "Request timed out."),
            Error::new(ErrorKind::Canceled, "Connection closed unexpectedly."),
            Error::new(ErrorKind::Cluster, "CLUSTERDOWN The cluster is down"),
            Error::new(ErrorKind::Unknown, "LOADING Redis is loading the dataset"),
            Error::new(ErrorKind::Unknown, "BUSY Redis is busy running a script"),
            Error::new(ErrorKind::Unknown, "Failed to route command."),
            Error::new(ErrorKind::Unknown, "Too many failed write attempts."),
        ] {
            assert!(store_error("x", e).is_unavailable());
        }
        for e in [
            Error::new(ErrorKind::Auth, "WRONGPASS"),
            Error::new(ErrorKind::InvalidArgument, "WRONGTYPE Operation"),
            Error::new(ErrorKind::Unknown, "ERR Error running script"),
            Error::new(ErrorKind::Unknown, "OOM command not allowed"),
            Error::new(ErrorKind::Unknown, "NOPERM this user has no permissions"),
            Error::new(
                ErrorKind::IO,
                "Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }",
            ),
        ] {
            let mapped = store_error("x", e);
            assert!(matches!(mapped, StoreError::Backend { .. }), "{mapped:?}");
        }
    }

    #[test]
    fn the_source_is_kept() {
        let mapped = store_error("reading a session", Error::new(ErrorKind::IO, "refused"));
        let source = std::error::Error::source(&mapped).expect("source");
        assert!(source.to_string().contains("refused"));
    }
}
