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
pub type SetLogLevel = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// What a running server re-reads on SIGHUP.
pub struct Reloader {
    sources: ConfigSources,
    started: RestartKeys,
    tokens: Arc<LiveTokens>,
    embedded_token: Option<TokenHash>,
    set_log_level: SetLogLevel,
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The tokens and the log level now in force; the keys that changed
    /// but wait for a restart.
    Applied {
        /// API tokens in force.
        api_tokens: usize,
        /// Whether `/metrics` asks for a token.
        metrics_token: bool,
        /// Changed keys not applied.
        need_restart: Vec<String>,
    },
    /// Nothing changed, for this reason.
    Refused(String),
}

impl Reloader {
    /// A reloader for a server started from `sources`, whose configuration
    /// had `started` restart keys, serving with `tokens`. `embedded_token`
    /// is the hash of the token the embedded default generated, kept while
    /// the configuration names no token.
    pub fn new(
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
    pub fn reload(&self) -> Reloaded {
        let outcome = self.apply();
        match &outcome {
            Reloaded::Applied {
                api_tokens,
                metrics_token,
                need_restart,
            } => {
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
        self.tokens
            .replace(Tokens::new(api, config.server.metrics_token));
        Reloaded::Applied {
            api_tokens,
            metrics_token,
            need_restart: self.started.changed(config.restart_keys()),
        }
    }

    /// Starts listening for SIGHUP at once (so that a SIGHUP sent from now
    /// on reloads rather than ends the process) and returns what reloads
    /// on each one, until the process ends. Call it inside the runtime.
    ///
    /// # Errors
    ///
    /// When the signal handler cannot be installed.
    pub fn on_sighup(self) -> std::io::Result<impl Future<Output = ()> + Send> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        Ok(async move {
            while hangups.recv().await.is_some() {
                self.reload();
            }
        })
    }
}

impl fmt::Debug for Reloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The sources hold the environment, secrets included.
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}
