//! Reloading, while serving, what may change without a restart: the API
//! token hashes (`sessionStore.apiAccessTokenSHA256`, its labelled and
//! secondary forms), the metrics token (`server.metrics_token_sha256`) and
//! the log level (`server.log_level`), on SIGHUP.
//!
//! A reload reads the same configuration sources as the start did. A
//! configuration with errors changes nothing; a change to any other key is
//! not applied and is named in a warning (it takes effect at the next
//! restart); a configuration with no API token at all is refused, since it
//! would lock every caller out.

use std::fmt;
use std::sync::Arc;

use tessera_crypto::TokenHash;

use crate::api::{LiveTokens, Tokens};
use crate::config::{self, ConfigSources, PRIMARY_LABEL, RestartKeys};

/// Sets the log filter of the running process; `Err` names the problem.
pub(crate) type SetLogLevel = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// What a running server re-reads on SIGHUP.
pub(crate) struct Reloader {
    sources: ConfigSources,
    started: RestartKeys,
    tokens: Arc<LiveTokens>,
    embedded_token: Option<TokenHash>,
    set_log_level: SetLogLevel,
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reloaded {
    /// The tokens and the log level now in force; the keys that changed
    /// but wait for a restart.
    Applied {
        /// API tokens in force.
        api_tokens: usize,
        /// Whether `/metrics` asks for a token.
        metrics_token: bool,
        /// Changed keys not applied.
        need_restart: Vec<String>,
        /// The environment variables and `-D` arguments that set a token
        /// hash: fixed since the start, whatever the files now say.
        fixed_tokens: Vec<String>,
        /// Whether this reload left `/metrics` open where it asked for a
        /// token before.
        metrics_opened: bool,
    },
    /// Nothing changed, for this reason.
    Refused(String),
}

impl Reloader {
    /// A reloader for a server started from `sources`, whose configuration
    /// had `started` restart keys, serving with `tokens`. `embedded_token`
    /// is the hash of the token the embedded default generated, kept while
    /// the configuration names no token.
    pub(crate) fn new(
        sources: ConfigSources,
        started: RestartKeys,
        tokens: Arc<LiveTokens>,
        embedded_token: Option<TokenHash>,
        set_log_level: SetLogLevel,
    ) -> Self {
        Self {
            sources,
            started,
            tokens,
            embedded_token,
            set_log_level,
        }
    }

    /// Reads the configuration again and applies what may change live.
    /// Logs what it did.
    pub(crate) fn reload(&self) -> Reloaded {
        let outcome = self.apply();
        match &outcome {
            Reloaded::Applied {
                api_tokens,
                metrics_token,
                need_restart,
                fixed_tokens,
                metrics_opened,
            } => {
                for source in fixed_tokens {
                    tracing::warn!(
                        source = %source,
                        "reload: {source} sets a token hash, and a reload cannot change it: the \
                         process keeps the environment and arguments it started with. Put token \
                         hashes in a configuration file to rotate or revoke them with a reload; \
                         changing this one needs a restart"
                    );
                }
                if *metrics_opened {
                    tracing::warn!(
                        "reload: server.metrics_token_sha256 is gone, so /metrics now answers \
                         without a token"
                    );
                }
                for key in need_restart {
                    tracing::warn!(
                        key = %key,
                        "reload: {key} changed, but takes effect only at a restart; still \
                         running with the value it started with"
                    );
                }
                tracing::info!(
                    api_tokens,
                    metrics_token,
                    "reload: token hashes and log level applied"
                );
            }
            Reloaded::Refused(why) => tracing::error!("reload refused, nothing changed: {why}"),
        }
        outcome
    }

    fn apply(&self) -> Reloaded {
        let config = match config::load(&self.sources) {
            Ok(config) => config,
            Err(errors) => {
                return Reloaded::Refused(format!("the configuration has errors: {errors}"));
            }
        };
        let mut api = config.session_store.tokens.clone();
        if api.is_empty() {
            match self.embedded_token {
                Some(hash) => api.push((PRIMARY_LABEL.to_owned(), hash)),
                None => {
                    return Reloaded::Refused(
                        "no API token hash is configured (sessionStore.apiAccessTokenSHA256): \
                         every caller would be locked out"
                            .to_owned(),
                    );
                }
            }
        }
        if let Err(why) = (self.set_log_level)(&config.server.log_level) {
            return Reloaded::Refused(format!("server.log_level: {why}"));
        }
        let api_tokens = api.len();
        let metrics_token = config.server.metrics_token.is_some();
        let metrics_opened = self.tokens.current().metrics.is_some() && !metrics_token;
        self.tokens
            .replace(Tokens::new(api, config.server.metrics_token));
        Reloaded::Applied {
            api_tokens,
            metrics_token,
            need_restart: self.started.changed(config.restart_keys()),
            fixed_tokens: self.sources.fixed_token_sources(),
            metrics_opened,
        }
    }

    /// Reloads on each SIGHUP that `hangups` receives, until the process
    /// ends. `hangups` is made by [`listen_for_sighup`] as the first thing
    /// the server does, so that a SIGHUP sent while it starts is kept for
    /// this loop instead of ending the process.
    pub(crate) async fn on_sighup(self, mut hangups: Hangups) {
        while hangups.0.recv().await.is_some() {
            self.reload();
        }
    }
}

/// SIGHUPs received since [`listen_for_sighup`], waiting for a
/// [`Reloader`].
#[derive(Debug)]
pub(crate) struct Hangups(tokio::signal::unix::Signal);

/// Replaces SIGHUP's default action (ending the process) and keeps the
/// signals received from now on. Call it inside the runtime (or with it
/// entered) before anything else that may take time.
///
/// # Errors
///
/// When the signal handler cannot be installed.
pub(crate) fn listen_for_sighup() -> std::io::Result<Hangups> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup()).map(Hangups)
}

impl fmt::Debug for Reloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The sources hold the environment, secrets included.
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}
