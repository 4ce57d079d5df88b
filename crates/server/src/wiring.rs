//! Start-up: from a checked [`Config`] to a running service.
//!
//! The order matters and fails fast: the API token check first (no point
//! deriving keys for a server that would refuse to start), then the
//! passwords, the key derivation (once, off the async threads), the
//! backend, the [`Sessions`] service, the background tasks, and last the
//! listener and the router.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tessera_crypto::{ApiToken, MasterKeys, SafePassword, Salts, TokenHash};
use tessera_store::{Clock, SessionStore, Sessions, SessionsConfig, SystemClock, SystemRandom};
use tessera_store_dynamodb::DynamoDbStore;
use tessera_store_local::{LocalConfig, LocalStore};
use tessera_store_redis::RedisStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::ServerError;
use crate::api::{self, ApiLimits, ApiState, LiveTokens, ServeOptions, ServerTls, Tokens};
use crate::config::{Backend, Config, ConfigSources, PRIMARY_LABEL, PurgeSchedule, StoreType};
use crate::embedded::{DataDir, EmbeddedToken, TokenDelivery};
use crate::reload::{Reloader, SetLogLevel};

/// The automatic subject index purge interval of stateless deployments
/// (Redis, DynamoDB), as the reference documents it: one day.
pub(crate) const AUTOMATIC_INDEX_PURGE: Duration = Duration::from_secs(24 * 60 * 60);

/// A periodic background purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PurgeTask {
    /// `internal.subjectIndexPurgeInterval`: orphaned subject index entries.
    SubjectIndex,
    /// `sessionMap.expirationInterval`: expired sessions.
    Expiration,
}

impl PurgeTask {
    /// The configuration key that sets its period.
    pub(crate) const fn key(self) -> &'static str {
        match self {
            Self::SubjectIndex => "sessionStore.internal.subjectIndexPurgeInterval",
            Self::Expiration => "sessionStore.sessionMap.expirationInterval",
        }
    }
}

/// The periodic purges a configuration runs, with their periods.
///
/// Both run the store's one purge (expired sessions and orphaned index
/// entries together); each is there because the reference has the task:
/// the expiry task every `sessionMap.expirationInterval` (default 300 s, 0
/// off) on every backend, and the index purge every
/// `internal.subjectIndexPurgeInterval` (0, the default: a day on Redis and
/// DynamoDB, off on the local store; -1 off).
pub(crate) fn purge_schedule(config: &Config) -> Vec<(PurgeTask, Duration)> {
    let stateless = config.backend.store_type() != StoreType::Local;
    let index = match config.session_store.subject_index_purge {
        PurgeSchedule::Off => None,
        PurgeSchedule::Automatic => stateless.then_some(AUTOMATIC_INDEX_PURGE),
        PurgeSchedule::Every(interval) => Some(interval),
    };
    let expiry = Some(config.session_store.expiration_interval).filter(|i| !i.is_zero());
    [
        index.map(|i| (PurgeTask::SubjectIndex, i)),
        expiry.map(|i| (PurgeTask::Expiration, i)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Whether start-up may create what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `tessera serve`: the embedded default creates its data directory,
    /// password and token on the first start.
    Serve,
    /// Administrative commands: nothing is generated; the embedded store
    /// must have been started once.
    Admin,
}

/// The service over the configured backend, with its background tasks.
#[derive(Debug)]
pub(crate) struct Service {
    /// The session service.
    pub sessions: Arc<Sessions>,
    /// The embedded data directory, when the configuration uses one.
    pub data_dir: Option<DataDir>,
    /// Tasks to stop when the service stops (sweeper, purge).
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens the backend and builds the [`Sessions`] service. In
/// [`Mode::Serve`], also starts the background tasks the configuration
/// asks for (the local store's sweeper, the periodic purge).
pub(crate) async fn open(config: &Config, mode: Mode) -> Result<Service, ServerError> {
    let rng = Arc::new(SystemRandom::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let data_dir = data_dir(config, mode)?;

    let (current, previous, salts) = match (&config.passwords, &data_dir) {
        (Some(passwords), _) => (
            SafePassword::new(passwords.current.expose_secret())?,
            passwords
                .previous
                .iter()
                .map(|p| SafePassword::new(p.expose_secret()))
                .collect::<Result<Vec<_>, _>>()?,
            (passwords.salt.clone(), passwords.previous_salt.clone()),
        ),
        (None, Some(dir)) => {
            let password = match mode {
                Mode::Serve => dir.safe_password(rng.as_ref())?.0,
                Mode::Admin => {
                    dir.read_safe_password()?
                        .ok_or_else(|| ServerError::NotInitialised {
                            path: dir.path().to_path_buf(),
                        })?
                }
            };
            (password, Vec::new(), (None, None))
        }
        (None, None) => unreachable!("the embedded default always has a data directory"),
    };
    // PBKDF2 with 600k rounds per password: a fraction of a second of CPU
    // that must not stall the async threads.
    let keys = tokio::task::spawn_blocking(move || {
        let (salt, previous_salt) = salts;
        let salts = Salts {
            current: salt.as_ref(),
            previous: previous_salt.as_ref(),
        };
        MasterKeys::derive_salted(&current, &previous, salts)
    })
    .await
    .expect("key derivation does not panic");

    let store = open_store(config).await?;
    let sessions = Arc::new(Sessions::new(
        store,
        SessionsConfig {
            policy: config.session_store.policy,
            legacy_sids: config.session_store.legacy_sids,
            accept_unsigned_records: config.session_store.accept_unsigned_records,
        },
        &keys,
        clock,
        rng,
    ));
    let tasks = match mode {
        Mode::Serve => purge_tasks(config, &sessions),
        Mode::Admin => Vec::new(),
    };
    Ok(Service {
        sessions,
        data_dir,
        tasks,
    })
}

/// The data directory, if the configuration uses one: the embedded default,
/// or a local store whose path lies inside it.
fn data_dir(config: &Config, mode: Mode) -> Result<Option<DataDir>, ServerError> {
    let Some(path) = &config.server.data_dir else {
        return Ok(None);
    };
    let uses_it = config.embedded
        || matches!(&config.backend, Backend::Local(local) if local.path.starts_with(path));
    if !uses_it {
        return Ok(None);
    }
    let dir = match mode {
        Mode::Serve => DataDir::open(path)?,
        Mode::Admin => DataDir::existing(path)?,
    };
    Ok(Some(dir))
}

async fn open_store(config: &Config) -> Result<Arc<dyn SessionStore>, ServerError> {
    match &config.backend {
        Backend::Local(local) => {
            let mut store = LocalConfig::new(&local.path);
            if let Some(window) = local.touch_window {
                store.touch_window = window;
            }
            Ok(Arc::new(LocalStore::open(&store).await?))
        }
        Backend::Redis(redis) => Ok(Arc::new(RedisStore::open(redis).await?)),
        Backend::DynamoDb(dynamo) => Ok(Arc::new(DynamoDbStore::open(dynamo).await?)),
    }
}

/// Starts the periodic purges of [`purge_schedule`], each logged once.
fn purge_tasks(config: &Config, sessions: &Arc<Sessions>) -> Vec<JoinHandle<()>> {
    purge_schedule(config)
        .into_iter()
        .map(|(task, interval)| {
            tracing::info!(
                task = task.key(),
                every_seconds = interval.as_secs(),
                "background purge scheduled"
            );
            spawn_purge(Arc::clone(sessions), interval)
        })
        .collect()
}

/// Purges every `interval` (the first one interval after the start), and
/// counts what each purge removed in `tessera_sessions_expired_total`.
fn spawn_purge(sessions: Arc<Sessions>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the first purge waits one period.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match sessions.purge().await {
                Ok(report) => {
                    api::record_purge(&report);
                    if report.sessions + report.index_entries > 0 {
                        tracing::info!(
                            sessions = report.sessions,
                            index_entries = report.index_entries,
                            "purged expired sessions and index entries"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "background purge failed"),
            }
        }
    })
}

/// What the operator should be told once the server listens.
#[derive(Debug)]
pub(crate) struct Welcome {
    /// The address actually bound (the port is known even for port 0).
    pub addr: SocketAddr,
    /// The API token generated on this first start of the embedded default,
    /// when it is to be shown ([`TokenDelivery::Show`]): shown once, never
    /// stored.
    pub new_token: Option<ApiToken>,
    /// Where the API token generated on this first start was written, when
    /// it is not to be shown ([`TokenDelivery::File`]).
    pub token_file: Option<PathBuf>,
    /// Whether the API token is the embedded default's generated one (as
    /// opposed to configured hashes).
    pub embedded_token: bool,
    /// The embedded data directory, if any.
    pub data_dir: Option<PathBuf>,
    /// The backend.
    pub store_type: StoreType,
    /// Whether the API is served over TLS (`https://`).
    pub tls: bool,
}

/// A server ready to run: bound, with its router built.
#[derive(Debug)]
pub(crate) struct Server {
    listener: TcpListener,
    router: axum::Router,
    options: ServeOptions,
    service: Service,
    tokens: Arc<LiveTokens>,
    embedded_token: Option<TokenHash>,
}

/// Checks the token configuration, opens everything and binds the listener.
/// A token the embedded default generates on its first start is delivered
/// as `delivery` says.
///
/// # Errors
///
/// [`ServerError::NoApiToken`] when no token hash is configured outside the
/// embedded default; otherwise whatever the data directory, the backend or
/// the listener report.
pub(crate) async fn prepare(
    config: &Config,
    delivery: TokenDelivery,
) -> Result<(Server, Welcome), ServerError> {
    if config.session_store.tokens.is_empty() && !config.embedded {
        return Err(ServerError::NoApiToken);
    }
    let service = open(config, Mode::Serve).await?;
    let mut tokens = config.session_store.tokens.clone();
    let mut new_token = None;
    let mut token_file = None;
    let embedded_token = tokens.is_empty();
    if embedded_token {
        let dir = service
            .data_dir
            .as_ref()
            .expect("the embedded default has a data directory");
        let token = dir.api_token(&SystemRandom::new(), delivery)?;
        tokens.push((PRIMARY_LABEL.to_owned(), token.hash()));
        match token {
            EmbeddedToken::New(token) => new_token = Some(token),
            EmbeddedToken::InFile { path, .. } => token_file = Some(path),
            EmbeddedToken::Existing(_) => {}
        }
    }

    let addr = config.server.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen { addr, source })?;

    let embedded_token = embedded_token.then(|| tokens[0].1);
    let live_tokens = Arc::new(LiveTokens::new(Tokens::new(
        tokens,
        config.server.metrics_token,
    )));
    let router = api::router(ApiState {
        sessions: Arc::clone(&service.sessions),
        tokens: Arc::clone(&live_tokens),
        limits: ApiLimits {
            max_body_bytes: config.server.max_body_bytes,
            request_timeout: config.server.request_timeout,
            max_header_bytes: config.server.max_header_bytes,
        },
    });
    let tls = config
        .server
        .tls
        .as_ref()
        .map(|files| ServerTls::from_pem_files(&files.cert_file, &files.key_file))
        .transpose()?;
    let welcome = Welcome {
        addr,
        tls: tls.is_some(),
        new_token,
        token_file,
        embedded_token: embedded_token.is_some(),
        data_dir: service.data_dir.as_ref().map(|d| d.path().to_path_buf()),
        store_type: config.backend.store_type(),
    };
    let options = ServeOptions {
        max_header_bytes: config.server.max_header_bytes,
        max_connections: config.server.max_connections,
        shutdown_timeout: config.server.shutdown_timeout,
        write_timeout: config.server.write_timeout,
        tls,
        ..ServeOptions::default()
    };
    Ok((
        Server {
            listener,
            router,
            options,
            service,
            tokens: live_tokens,
            embedded_token,
        },
        welcome,
    ))
}

impl Server {
    /// What reloads this server's token hashes and log level from
    /// `sources` (the ones `started` was loaded from) on SIGHUP.
    pub(crate) fn reloader(
        &self,
        sources: ConfigSources,
        started: &Config,
        set_log_level: SetLogLevel,
    ) -> Reloader {
        Reloader::new(
            sources,
            started.restart_keys().clone(),
            Arc::clone(&self.tokens),
            self.embedded_token,
            set_log_level,
        )
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully (requests
    /// in flight finish, connections still open after
    /// `server.shutdown_timeout_ms` are closed, store operations complete)
    /// and stops the background tasks.
    pub(crate) async fn run(self) -> Result<(), ServerError> {
        let Self {
            listener,
            router,
            options,
            service,
            ..
        } = self;
        let result =
            api::serve_with_options(listener, router, api::shutdown_signal(), options).await;
        drop(service);
        result.map_err(ServerError::Serve)
    }
}

#[cfg(test)]
mod tests {
    use tessera_core::{Lifetime, SessionParams, Subject, Timestamp};
    use tessera_crypto::testkit::SeededRandom;
    use tessera_store::MemoryStore;
    use tessera_store::testkit::MockClock;

    use super::*;
    use crate::config::{self as config_mod, ConfigSources};

    /// The schedule of a configuration with these backend keys and `-D`
    /// overrides.
    fn schedule(store: &[&str], defines: &[&str]) -> Vec<(PurgeTask, u64)> {
        let mut all = vec![
            "tokenizer.safe_password=purge schedule test password".to_owned(),
            "server.data_dir=/nonexistent/tessera-test".to_owned(),
        ];
        all.extend(store.iter().chain(defines).map(|d| (*d).to_owned()));
        let config = config_mod::load(&ConfigSources {
            defines: all,
            ..ConfigSources::default()
        })
        .expect("a valid configuration");
        purge_schedule(&config)
            .into_iter()
            .map(|(task, every)| (task, every.as_secs()))
            .collect()
    }

    #[test]
    fn the_background_purges_follow_the_reference_defaults_on_each_backend() {
        use PurgeTask::{Expiration, SubjectIndex};
        let local = ["tokenizer.type=local", "tokenizer.path=/nonexistent/x"];
        let redis = ["tokenizer.type=redis", "tokenizer.host=localhost"];
        let dynamodb = ["tokenizer.type=dynamodb", "tokenizer.table=sessions"];
        // Defaults: the expiry task every 300 s everywhere; the index purge
        // ("0", automatic) a day on the stateless backends, off on local.
        assert_eq!(schedule(&local, &[]), [(Expiration, 300)]);
        let stateless = [(SubjectIndex, 86_400), (Expiration, 300)];
        assert_eq!(schedule(&redis, &[]), stateless);
        assert_eq!(schedule(&dynamodb, &[]), stateless);
        let zero = ["sessionStore.internal.subjectIndexPurgeInterval=0"];
        assert_eq!(schedule(&local, &zero), [(Expiration, 300)]);
        assert_eq!(schedule(&redis, &zero), stateless);
        // Explicit periods, and both turned off.
        let set = [
            "sessionStore.internal.subjectIndexPurgeInterval=600",
            "sessionStore.sessionMap.expirationInterval=60000",
        ];
        for store in [&local[..], &redis, &dynamodb] {
            assert_eq!(
                schedule(store, &set),
                [(SubjectIndex, 600), (Expiration, 60)]
            );
        }
        let off = [
            "sessionStore.internal.subjectIndexPurgeInterval=-1",
            "sessionStore.sessionMap.expirationInterval=0",
        ];
        for store in [&local[..], &redis, &dynamodb] {
            assert_eq!(schedule(store, &off), []);
        }
    }

    fn expired_total() -> u64 {
        api::render_metrics()
            .lines()
            .find_map(|line| line.strip_prefix("tessera_sessions_expired_total "))
            .map_or(0, |n| n.trim().parse().expect("a counter"))
    }

    #[tokio::test]
    async fn the_periodic_purge_counts_what_it_removes() {
        let before = expired_total();
        let clock = Arc::new(MockClock::new(Timestamp::from_secs(1_800_000_000)));
        let keys = MasterKeys::derive(&SafePassword::new("periodic-purge-test").unwrap(), &[]);
        let sessions = Arc::new(Sessions::new(
            Arc::new(MemoryStore::new()),
            SessionsConfig::default(),
            &keys,
            clock.clone(),
            Arc::new(SeededRandom::new(b"periodic purge")),
        ));
        for who in ["ana", "ben", "cy"] {
            let mut params = SessionParams::new(Subject::new(who).unwrap());
            params.max_idle = Some(Lifetime::minutes_const(5));
            sessions.create(params, None).await.unwrap();
        }
        clock.advance_minutes(6);

        let task = spawn_purge(Arc::clone(&sessions), Duration::from_millis(20));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while sessions.count().await.unwrap() > 0 || expired_total() < before + 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the purge did not run or was not counted: {} live, counter {} (was {before})",
                sessions.count().await.unwrap(),
                expired_total()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
    }
}
