//! `tessera serve`.

use std::io::{IsTerminal as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use crate::ServerError;
use crate::api::BASE_PATH;
use crate::config::{Config, ConfigSources, LogFormat};
use crate::embedded::{TOKEN_HASH_FILE, TokenDelivery};
use crate::reload::{self, SetLogLevel};
use crate::wiring::{self, Welcome};

pub(crate) fn run(config: &Config, sources: &ConfigSources) -> anyhow::Result<ExitCode> {
    // SIGHUP is held first: one sent while the server starts (opening a
    // store can take seconds) is kept and reloads once the server is up,
    // instead of ending the process.
    let runtime = super::runtime()?;
    let hangups = {
        let _entered = runtime.enter();
        reload::listen_for_sighup().map_err(ServerError::Serve)?
    };
    let set_log_level = init_logging(config);
    for source in sources.fixed_token_sources() {
        tracing::warn!(
            source = %source,
            "{source} sets a token hash, which a reload cannot change or revoke: the process \
             keeps the environment and arguments it started with. Keep token hashes in a \
             configuration file"
        );
    }
    for block in &config.ignored_blocks {
        tracing::info!(
            block = %block.name,
            file = %block.file.display(),
            "configuration block not read: it is not Tessera's"
        );
    }
    runtime.block_on(async {
        // A token shown on a terminal is seen once by whoever started the
        // server; printed anywhere else it would land in a log (journald, a
        // container's output), so it goes to a private file instead.
        let delivery = if std::io::stdout().is_terminal() {
            TokenDelivery::Show
        } else {
            TokenDelivery::File
        };
        let (server, welcome) = wiring::prepare(config, delivery).await?;
        let reloads = tokio::spawn(
            server
                .reloader(sources.clone(), config, set_log_level)
                .on_sighup(hangups),
        );
        print_welcome(&welcome);
        let outcome = server.run().await;
        reloads.abort();
        outcome
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Logs go to stderr, as text or JSON lines, filtered by `server.log_level`.
/// Returns what sets a new filter (a reload).
fn init_logging(config: &Config) -> SetLogLevel {
    let filter = log_filter(&config.server.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // The handle's type depends on the format, so each branch wraps its own.
    match config.server.log_format {
        LogFormat::Text => {
            let builder = builder.with_filter_reloading();
            let handle = builder.reload_handle();
            let _ = builder.try_init();
            Box::new(move |level| handle.reload(log_filter(level)?).map_err(|e| e.to_string()))
        }
        LogFormat::Json => {
            let builder = builder.json().with_filter_reloading();
            let handle = builder.reload_handle();
            let _ = builder.try_init();
            Box::new(move |level| handle.reload(log_filter(level)?).map_err(|e| e.to_string()))
        }
    }
}

fn log_filter(level: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(level)
        .map_err(|e| e.to_string())
}

/// Tells the operator where the server listens and how to call it; on the
/// embedded default's first start, shows the generated token once (on a
/// terminal) or says which file holds it (anywhere else), never printing
/// it where it would be logged.
fn print_welcome(welcome: &Welcome) {
    let scheme = if welcome.tls { "https" } else { "http" };
    let url = format!("{scheme}://{}", reachable(welcome.addr));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "tessera: listening on {url} ({} store)",
        welcome.store_type
    );
    if let Some(dir) = &welcome.data_dir {
        let _ = writeln!(out, "tessera: data directory {}", dir.display());
    }
    let bearer = match (&welcome.new_token, &welcome.token_file) {
        (Some(token), _) => {
            let _ = writeln!(
                out,
                "tessera: first start: generated an API token. It is shown only now; only its \
                 hash is kept ({TOKEN_HASH_FILE}). Keep it somewhere safe:"
            );
            let _ = writeln!(out, "API token: {}", token.expose_secret());
            token.expose_secret().to_owned()
        }
        (None, Some(path)) => {
            let _ = writeln!(
                out,
                "tessera: first start: generated an API token. Standard output is not a terminal, \
                 so it is not printed: it is in {} (mode 0600). Give it to the API's callers, \
                 then delete that file; only its hash is kept ({TOKEN_HASH_FILE}).",
                path.display()
            );
            "$TESSERA_TOKEN".to_owned()
        }
        (None, None) if welcome.embedded_token => {
            let _ = writeln!(
                out,
                "tessera: using the API token generated on the first start \
                 (lost it? delete {TOKEN_HASH_FILE} in the data directory and restart)"
            );
            "$TESSERA_TOKEN".to_owned()
        }
        (None, None) => "$TESSERA_TOKEN".to_owned(),
    };
    let _ = writeln!(out, "Try it:");
    let _ = writeln!(
        out,
        "  curl -i -X POST {url}{BASE_PATH}/sessions -H \"Authorization: Bearer {bearer}\" \
         -H 'Content-Type: application/json' -d '{{\"sub\":\"alice\"}}'"
    );
    let _ = out.flush();
}

/// The address a local client should use: loopback instead of "any".
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}
