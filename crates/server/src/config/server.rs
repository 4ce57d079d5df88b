//! The `server:` block: where to listen, request limits, the data
//! directory and logging.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tessera_crypto::TokenHash;

use super::sources::ConfigSources;
use super::validate::Validator;

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default request body limit: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// The default limit on the request headers (names plus values): 16 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// The default time a request may take: 10 s (the API's own default).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The default number of connections served at once: 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The default time a graceful shutdown waits for open connections: 5 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// The default time a response may wait for its client to take it: 30 s.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The environment variable that names the data directory.
pub const DATA_DIR_ENV: &str = "TESSERA_DATA_DIR";

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (`text`, the default).
    Text,
    /// One JSON object per line (`json`).
    Json,
}

impl LogFormat {
    /// The configuration value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

/// The checked `server:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// `listen`: the address and port to serve on.
    pub listen: SocketAddr,
    /// `max_body_bytes`.
    pub max_body_bytes: usize,
    /// `max_header_bytes`.
    pub max_header_bytes: usize,
    /// `request_timeout_ms`.
    pub request_timeout: Duration,
    /// `max_connections`: connections served at once; one beyond is
    /// answered `503 too_many_connections` and closed.
    pub max_connections: usize,
    /// `shutdown_timeout_ms`: how long a graceful shutdown waits for open
    /// connections before closing them.
    pub shutdown_timeout: Duration,
    /// `write_timeout_ms`: how long a write to a connection may wait for
    /// the client to read; a client that stops reading loses its
    /// connection after this long.
    pub write_timeout: Duration,
    /// The data directory: `data_dir`, else `$TESSERA_DATA_DIR`, else
    /// `$XDG_DATA_HOME/tessera`, else `$HOME/.local/share/tessera`; `None`
    /// when none of these is set.
    pub data_dir: Option<PathBuf>,
    /// `log_format`.
    pub log_format: LogFormat,
    /// `log_level`: a tracing filter such as `info` or
    /// `info,tessera_server=debug`.
    pub log_level: String,
    /// `tls_cert_file` and `tls_key_file`: with both, the API is served
    /// over TLS with this PEM certificate chain (leaf first) and key; with
    /// neither, plain HTTP. One without the other is refused.
    pub tls: Option<TlsFiles>,
    /// `metrics_token_sha256`: with it, `/metrics` asks for a bearer token
    /// of this hash (a scraper's own, not an API token); without it,
    /// `/metrics` is open.
    pub metrics_token: Option<TokenHash>,
}

/// The certificate and key files of `server.tls_cert_file` and
/// `server.tls_key_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The PEM private key of the leaf certificate.
    pub key_file: PathBuf,
}

pub(crate) fn check(v: &mut Validator<'_>, sources: &ConfigSources) -> ServerSettings {
    let listen = match v.text("server.listen") {
        None => DEFAULT_LISTEN
            .parse()
            .expect("the default listen address parses"),
        Some((text, _)) => text.parse().unwrap_or_else(|_| {
            v.refuse(
                "server.listen",
                "expected an IP address and port, like 127.0.0.1:8080 or [::1]:8080",
            );
            DEFAULT_LISTEN
                .parse()
                .expect("the default listen address parses")
        }),
    };
    let bytes = |v: &mut Validator<'_>, key: &str, range, default: usize| {
        v.integer_in(key, range, "bytes")
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(default)
    };
    let max_body_bytes = bytes(
        v,
        "server.max_body_bytes",
        1..=64 * 1024 * 1024,
        DEFAULT_MAX_BODY_BYTES,
    );
    let max_header_bytes = bytes(
        v,
        "server.max_header_bytes",
        1024..=1024 * 1024,
        DEFAULT_MAX_HEADER_BYTES,
    );
    let request_timeout = v
        .integer_in("server.request_timeout_ms", 1..=3_600_000, "milliseconds")
        .map_or(DEFAULT_REQUEST_TIMEOUT, |ms| {
            Duration::from_millis(ms.unsigned_abs())
        });
    let max_connections = v
        .integer_in("server.max_connections", 1..=1_000_000, "connections")
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
    let shutdown_timeout = v
        .integer_in("server.shutdown_timeout_ms", 0..=3_600_000, "milliseconds")
        .map_or(DEFAULT_SHUTDOWN_TIMEOUT, |ms| {
            Duration::from_millis(ms.unsigned_abs())
        });
    let write_timeout = v
        .integer_in("server.write_timeout_ms", 1_000..=3_600_000, "milliseconds")
        .map_or(DEFAULT_WRITE_TIMEOUT, |ms| {
            Duration::from_millis(ms.unsigned_abs())
        });
    let log_format = match v.text("server.log_format") {
        None | Some(("text", _)) => LogFormat::Text,
        Some(("json", _)) => LogFormat::Json,
        Some((other, _)) => {
            let message = format!("`{other}` is not one of text, json");
            v.refuse("server.log_format", message);
            LogFormat::Text
        }
    };
    let log_level = match v.text("server.log_level") {
        None => "info".to_owned(),
        Some((text, _)) => {
            if !is_log_filter(text) {
                v.refuse(
                    "server.log_level",
                    "expected a log filter such as info, debug or info,tessera_server=debug \
                     (printable ASCII)",
                );
            }
            text.to_owned()
        }
    };
    ServerSettings {
        listen,
        tls: tls_files(v),
        max_body_bytes,
        max_header_bytes,
        request_timeout,
        max_connections,
        shutdown_timeout,
        write_timeout,
        data_dir: v
            .path("server.data_dir")
            .or_else(|| default_data_dir(sources)),
        log_format,
        log_level,
        metrics_token: metrics_token(v),
    }
}

/// `server.tls_cert_file` and `server.tls_key_file`: both or neither.
fn tls_files(v: &mut Validator<'_>) -> Option<TlsFiles> {
    match (
        v.path("server.tls_cert_file"),
        v.path("server.tls_key_file"),
    ) {
        (Some(cert_file), Some(key_file)) => Some(TlsFiles {
            cert_file,
            key_file,
        }),
        (None, None) => None,
        (Some(_), None) => {
            v.refuse(
                "server.tls_key_file",
                "server.tls_cert_file is set: set the key file of that certificate too",
            );
            None
        }
        (None, Some(_)) => {
            v.refuse(
                "server.tls_cert_file",
                "server.tls_key_file is set: set the certificate file it belongs to too",
            );
            None
        }
    }
}

fn metrics_token(v: &mut Validator<'_>) -> Option<TokenHash> {
    let (text, _) = v.text("server.metrics_token_sha256")?;
    match text.parse::<TokenHash>() {
        Ok(hash) => match hash.weakness() {
            None => Some(hash),
            Some(why) => {
                v.refuse(
                    "server.metrics_token_sha256",
                    super::session_store::weak_token_message(why),
                );
                None
            }
        },
        Err(e) => {
            v.refuse(
                "server.metrics_token_sha256",
                format!(
                    "{e}: expected the SHA-256 of the scraper's token as 64 hex characters \
                     (`tessera token new` prints a token and its hash)"
                ),
            );
            None
        }
    }
}

/// `$TESSERA_DATA_DIR`, else `$XDG_DATA_HOME/tessera` (when absolute, as
/// the XDG specification requires), else `$HOME/.local/share/tessera`.
/// Whether `text` is a log filter `tracing-subscriber` accepts. Only
/// printable ASCII is offered to its parser, which panics on some other
/// text (a multi-byte character where it expects a level); a filter names
/// levels and Rust module paths, which are ASCII.
fn is_log_filter(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && tracing_subscriber::EnvFilter::builder().parse(text).is_ok()
}

fn default_data_dir(sources: &ConfigSources) -> Option<PathBuf> {
    if let Some(dir) = sources.env_var(DATA_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = sources.env_var("XDG_DATA_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("tessera"));
    }
    sources
        .env_var("HOME")
        .map(|home| PathBuf::from(home).join(".local/share/tessera"))
}
