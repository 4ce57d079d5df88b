//! The `sessionStore:` block, with the reference session store's property
//! names: API token hashes, default lifetimes, the quota, legacy SIDs and
//! the background tasks.

use std::path::PathBuf;
use std::time::Duration;

use tessera_core::{Ceilings, Lifetime, OnQuotaExhaustion, Policy, Quota};
use tessera_crypto::{LegacySids, TokenHash};

use super::files::FileFormat;
use super::origin::Origin;
use super::raw::Raw;
use super::schema::{LABELLED_TOKEN_PREFIX, SESSION_STORE};
use super::validate::Validator;

/// The tokenizer's own default `timeout`, in minutes: the idle timeout of a
/// deployment its block sets up from a YAML or TOML file, when no
/// `.properties` file is given and no idle timeout is set.
pub const TOKENIZER_DEFAULT_TIMEOUT: u32 = 20;

/// The default `sessionMap.expirationInterval`: the reference's documented
/// 300000 ms.
pub const DEFAULT_EXPIRATION_INTERVAL: Duration = Duration::from_secs(300);

/// Whose default applies to the idle timeout when neither
/// `tokenizer.timeout` nor `sessionStore.maxIdleTime` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultsFrom {
    /// The tokenizer's 20 minutes: a YAML or TOML file has a `tokenizer:`
    /// block, and no `.properties` file is given.
    Tokenizer,
    /// The reference session store's `maxIdleTime` (in [`Policy::default`]):
    /// a `.properties` file is given, or the tokenizer block is not in a
    /// file (the embedded default, or keys from the environment or `-D`).
    SessionStore,
}

impl DefaultsFrom {
    pub(crate) fn of(raw: &Raw, files: &[PathBuf]) -> Self {
        let format = |path: &PathBuf| FileFormat::of(path);
        let properties = files
            .iter()
            .any(|f| format(f) == Some(FileFormat::Properties));
        let tokenizer_block = raw.with_prefix("tokenizer.").any(|(_, entry)| {
            matches!(&entry.origin, Origin::File(f)
                if matches!(format(f), Some(FileFormat::Yaml | FileFormat::Toml)))
        });
        if tokenizer_block && !properties {
            Self::Tokenizer
        } else {
            Self::SessionStore
        }
    }
}

/// The label of `apiAccessTokenSHA256`.
pub const PRIMARY_LABEL: &str = "primary";
/// The label of `secondaryAPIAccessTokenSHA256`.
pub const SECONDARY_LABEL: &str = "secondary";

/// The most labelled API tokens (`apiAccessTokenSHA256.<label>`) a
/// configuration may hold, besides the primary and the secondary.
///
/// Every request's token is compared with every configured hash, in
/// constant time and without stopping at a match, so each hash adds to the
/// cost of every request — including requests with no valid token, which
/// anyone can send. 1000 hashes cost a few tens of microseconds per request.
pub const MAX_LABELLED_TOKENS: usize = 1000;

/// How often orphaned subject index entries (and expired sessions) are
/// purged: `sessionStore.internal.subjectIndexPurgeInterval`, in seconds.
///
/// As the reference documents it: automatic is once a day for stateless
/// deployments (Redis, DynamoDB) and off otherwise (the local store, whose
/// expiry task `sessionMap.expirationInterval` purges the index too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeSchedule {
    /// `-1`: never in the background (`tessera purge` or `POST /purge` still
    /// work).
    Off,
    /// `0` (the default): every 24 hours on Redis and DynamoDB, off on the
    /// local store.
    Automatic,
    /// A positive number of seconds.
    Every(Duration),
}

impl PurgeSchedule {
    /// The configuration value.
    pub fn as_seconds(self) -> i64 {
        match self {
            Self::Off => -1,
            Self::Automatic => 0,
            Self::Every(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        }
    }
}

/// The checked `sessionStore:` block.
#[derive(Debug, Clone)]
pub struct SessionStoreSettings {
    /// Default lifetimes and the quota.
    pub policy: Policy,
    /// `acceptLegacySIDs`.
    pub legacy_sids: LegacySids,
    /// `acceptUnsignedRecords`: serve records written before records were
    /// signed (0.1), for the length of an upgrade.
    pub accept_unsigned_records: bool,
    /// The API token hashes with their labels: `primary`, `secondary`, then
    /// the labelled ones in label order.
    pub tokens: Vec<(String, TokenHash)>,
    /// `internal.subjectIndexPurgeInterval`.
    pub subject_index_purge: PurgeSchedule,
    /// `sessionMap.expirationInterval`: the period of the expiry task,
    /// [`DEFAULT_EXPIRATION_INTERVAL`] unless set; `ZERO` when turned off.
    pub expiration_interval: Duration,
}

/// Checks the block. `tokenizer_timeout` is `tokenizer.timeout`, which sets
/// the default `maxIdleTime` unless `maxIdleTime` is set too; when neither
/// is set, `defaults` says whose default applies.
pub(crate) fn check(
    v: &mut Validator<'_>,
    tokenizer_timeout: Option<Lifetime>,
    defaults_from: DefaultsFrom,
) -> SessionStoreSettings {
    let defaults = Policy::default();
    let lifetime =
        |v: &mut Validator<'_>, key: &'static str, default: Lifetime| match v.integer(key) {
            None => default,
            Some((minutes, _)) => Lifetime::from_minutes(key, minutes).unwrap_or_else(|e| {
                v.core(key, &e);
                default
            }),
        };
    let max_lifetime = lifetime(v, "sessionStore.maxLifetime", defaults.max_lifetime);
    let auth_lifetime = lifetime(v, "sessionStore.authLifetime", defaults.auth_lifetime);
    let idle_set = v.is_set("sessionStore.maxIdleTime");
    let mut max_idle_time = lifetime(v, "sessionStore.maxIdleTime", defaults.max_idle_time);
    match tokenizer_timeout {
        Some(timeout) if !idle_set => max_idle_time = timeout,
        None if !idle_set && defaults_from == DefaultsFrom::Tokenizer => {
            max_idle_time = Lifetime::minutes_const(TOKENIZER_DEFAULT_TIMEOUT);
        }
        Some(timeout) if timeout != max_idle_time => {
            v.refuse(
                "sessionStore.maxIdleTime",
                format!(
                    "is {} minutes but tokenizer.timeout is {} minutes; both set the idle \
                     timeout, so give one of them (or the same value in both)",
                    max_idle_time.as_minutes(),
                    timeout.as_minutes()
                ),
            );
        }
        _ => {}
    }

    let ceilings = ceilings(v, &lifetime, [max_lifetime, auth_lifetime, max_idle_time]);
    let pre_login = pre_login(v, &lifetime, ceilings);
    let quota_per_subject = match v.integer("sessionStore.quotaPerSubject") {
        None => defaults.quota_per_subject,
        Some((n, _)) => Quota::new("sessionStore.quotaPerSubject", n).unwrap_or_else(|e| {
            v.core("sessionStore.quotaPerSubject", &e);
            defaults.quota_per_subject
        }),
    };
    let on_quota_exhaustion = match v.text("sessionStore.onQuotaExhaustion") {
        None => defaults.on_quota_exhaustion,
        Some((text, _)) => OnQuotaExhaustion::parse("sessionStore.onQuotaExhaustion", text)
            .unwrap_or_else(|e| {
                v.core("sessionStore.onQuotaExhaustion", &e);
                defaults.on_quota_exhaustion
            }),
    };

    let legacy_sids = match v.boolean("sessionStore.acceptLegacySIDs") {
        Some((true, _)) => LegacySids::Accept,
        _ => LegacySids::Reject,
    };

    let accept_unsigned_records = v
        .boolean("sessionStore.acceptUnsignedRecords")
        .is_none_or(|(on, _)| on);

    let subject_index_purge = match v.integer_in(
        "sessionStore.internal.subjectIndexPurgeInterval",
        -1..=31_536_000,
        "seconds (-1 off, 0 automatic)",
    ) {
        None | Some(0) => PurgeSchedule::Automatic,
        Some(-1) => PurgeSchedule::Off,
        Some(secs) => PurgeSchedule::Every(Duration::from_secs(secs.unsigned_abs())),
    };

    let expiration_interval = match v.integer("sessionStore.sessionMap.expirationInterval") {
        None => DEFAULT_EXPIRATION_INTERVAL,
        Some((0, _)) => Duration::ZERO,
        Some((ms, _)) if (1000..=86_400_000).contains(&ms) => {
            Duration::from_millis(ms.unsigned_abs())
        }
        Some((ms, _)) => {
            v.refuse(
                "sessionStore.sessionMap.expirationInterval",
                format!(
                    "{ms} is outside the allowed range: 0 (off) or 1000..=86400000 milliseconds"
                ),
            );
            DEFAULT_EXPIRATION_INTERVAL
        }
    };

    SessionStoreSettings {
        policy: Policy {
            max_lifetime,
            auth_lifetime,
            max_idle_time,
            quota_per_subject,
            on_quota_exhaustion,
            ceilings,
            // The service fills these in from its keys.
            signers: tessera_core::Signers::default(),
            pre_login,
        },
        legacy_sids,
        accept_unsigned_records,
        tokens: tokens(v),
        subject_index_purge,
        expiration_interval,
    }
}

/// The pre-login lifetimes (Tessera's own keys), each checked against the
/// ceiling that caps it.
fn pre_login(
    v: &mut Validator<'_>,
    lifetime: &impl Fn(&mut Validator<'_>, &'static str, Lifetime) -> Lifetime,
    ceilings: Ceilings,
) -> tessera_core::PreLogin {
    // Unset, a default above a ceiling gives way to it: a deployment
    // that set ceilings before pre-login sessions existed keeps working.
    let defaults = tessera_core::PreLogin::default();
    let capped = |default: Lifetime, ceiling: Lifetime| match (default.minutes(), ceiling.minutes())
    {
        (Some(d), Some(c)) if c < d => ceiling,
        _ => default,
    };
    let pre_login = tessera_core::PreLogin {
        max_life: lifetime(
            v,
            "sessionStore.preLoginMaxLifetime",
            capped(defaults.max_life, ceilings.max_life),
        ),
        max_idle: lifetime(
            v,
            "sessionStore.preLoginMaxIdleTime",
            capped(defaults.max_idle, ceilings.max_idle),
        ),
    };
    for (key, default, ceiling_key, ceiling) in [
        (
            "sessionStore.preLoginMaxLifetime",
            pre_login.max_life,
            "sessionStore.maxLifetimeCeiling",
            ceilings.max_life,
        ),
        (
            "sessionStore.preLoginMaxIdleTime",
            pre_login.max_idle,
            "sessionStore.maxIdleTimeCeiling",
            ceilings.max_idle,
        ),
    ] {
        if Ceilings::check(key, default, ceiling).is_err() {
            v.refuse(
                key,
                format!(
                    "{default} is above {ceiling_key} ({ceiling}): every pre-login session \
                     would be refused; lower it or raise the ceiling"
                ),
            );
        }
    }

    pre_login
}

/// The lifetime ceilings (Tessera's own keys), each checked against the
/// default it caps: a default above its ceiling would refuse every
/// session that takes it.
fn ceilings(
    v: &mut Validator<'_>,
    lifetime: &impl Fn(&mut Validator<'_>, &'static str, Lifetime) -> Lifetime,
    [max_lifetime, auth_lifetime, max_idle_time]: [Lifetime; 3],
) -> Ceilings {
    let ceilings = Ceilings {
        max_life: lifetime(v, "sessionStore.maxLifetimeCeiling", Lifetime::Unlimited),
        auth_life: lifetime(v, "sessionStore.authLifetimeCeiling", Lifetime::Unlimited),
        max_idle: lifetime(v, "sessionStore.maxIdleTimeCeiling", Lifetime::Unlimited),
    };
    for (key, default, ceiling_key, ceiling) in [
        (
            "sessionStore.maxLifetime",
            max_lifetime,
            "sessionStore.maxLifetimeCeiling",
            ceilings.max_life,
        ),
        (
            "sessionStore.authLifetime",
            auth_lifetime,
            "sessionStore.authLifetimeCeiling",
            ceilings.auth_life,
        ),
        (
            "sessionStore.maxIdleTime",
            max_idle_time,
            "sessionStore.maxIdleTimeCeiling",
            ceilings.max_idle,
        ),
    ] {
        if Ceilings::check(key, default, ceiling).is_err() {
            v.refuse(
                key,
                format!(
                    "the default ({default}) is above {ceiling_key} ({ceiling}): every session \
                     that takes the default would be refused; lower it or raise the ceiling"
                ),
            );
        }
    }
    ceilings
}

fn tokens(v: &mut Validator<'_>) -> Vec<(String, TokenHash)> {
    let mut keys = vec![
        (
            format!("{SESSION_STORE}.apiAccessTokenSHA256"),
            PRIMARY_LABEL.to_owned(),
        ),
        (
            format!("{SESSION_STORE}.secondaryAPIAccessTokenSHA256"),
            SECONDARY_LABEL.to_owned(),
        ),
    ];
    let labelled_prefix = format!("{SESSION_STORE}.{LABELLED_TOKEN_PREFIX}");
    let labelled: Vec<String> = v
        .raw()
        .with_prefix(&labelled_prefix)
        .map(|(k, _)| k.to_owned())
        .collect();
    if let Some(first_over) = labelled.get(MAX_LABELLED_TOKENS) {
        v.refuse(
            first_over,
            format!(
                "{} labelled API tokens are configured, the limit is {MAX_LABELLED_TOKENS}: \
                 every request's token is compared with every configured hash, so each one \
                 adds to the cost of every request",
                labelled.len()
            ),
        );
    }
    for key in labelled {
        let label = key[labelled_prefix.len()..].to_owned();
        if label == PRIMARY_LABEL || label == SECONDARY_LABEL {
            v.refuse(
                &key,
                "the labels primary and secondary are taken by apiAccessTokenSHA256 and \
                 secondaryAPIAccessTokenSHA256; choose another",
            );
            continue;
        }
        keys.push((key, label));
    }

    let mut tokens = Vec::new();
    for (key, label) in keys {
        let Some((text, _)) = v.text(&key) else {
            continue;
        };
        match text.parse::<TokenHash>() {
            Ok(hash) => match hash.weakness() {
                None => tokens.push((label, hash)),
                Some(why) => v.refuse(&key, weak_token_message(why)),
            },
            Err(e) => v.refuse(
                &key,
                format!(
                    "{e}: expected the SHA-256 of the token as 64 hex characters \
                     (`tessera token new` prints a token and its hash)"
                ),
            ),
        }
    }
    tokens
}

/// The refusal of a configured hash of a token anyone could present.
pub(crate) fn weak_token_message(why: &str) -> String {
    format!("is the SHA-256 of {why}; `tessera token new` makes a real token and prints its hash")
}
