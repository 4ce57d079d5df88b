//! The limits a deployment sets: default lifetimes and the per-subject quota.

use std::fmt;
use std::num::NonZeroU8;

use serde::{Deserialize, Serialize};

use crate::signers::Signers;
use crate::{CoreError, Lifetime};

/// How many live sessions one subject may hold at once: 1 to [`Quota::MAX`].
///
/// The maximum is 25. More than that many simultaneous sign-ins for one
/// person is a leak or an attack, not a use case; and a bounded quota keeps
/// every quota decision to a bounded amount of work in every backend (it fits
/// one Lua script, one DynamoDB transaction and one batch of 25 items).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quota(NonZeroU8);

impl Quota {
    /// The largest quota accepted.
    pub const MAX: u8 = 25;
    /// The default quota (`quotaPerSubject`).
    pub const DEFAULT: Self = Self(NonZeroU8::new(5).unwrap());

    /// Validates a quota, naming `field` in the error.
    pub fn new(field: &'static str, value: i64) -> Result<Self, CoreError> {
        u8::try_from(value)
            .ok()
            .filter(|v| *v <= Self::MAX)
            .and_then(NonZeroU8::new)
            .map(Self)
            .ok_or_else(|| {
                CoreError::invalid(
                    field,
                    format!("{value} is outside the allowed range 1..={}", Self::MAX),
                )
            })
    }

    /// The quota as a count.
    pub fn get(self) -> usize {
        usize::from(self.0.get())
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What happens when a subject at its quota signs in again
/// (`onQuotaExhaustion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OnQuotaExhaustion {
    /// Refuse the new login; existing sessions stay.
    DenyLogin,
    /// Close the subject's next-expiring session(s) and admit the new one.
    CloseOldSession,
}

impl OnQuotaExhaustion {
    /// Parses the configuration form (`DENY_LOGIN`, `CLOSE_OLD_SESSION`),
    /// naming `field` in the error.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, CoreError> {
        match value {
            "DENY_LOGIN" => Ok(Self::DenyLogin),
            "CLOSE_OLD_SESSION" => Ok(Self::CloseOldSession),
            other => Err(CoreError::invalid(
                field,
                format!("`{other}` is not one of DENY_LOGIN, CLOSE_OLD_SESSION"),
            )),
        }
    }

    /// The configuration form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DenyLogin => "DENY_LOGIN",
            Self::CloseOldSession => "CLOSE_OLD_SESSION",
        }
    }
}

/// The session policy of a deployment.
///
/// The lifetimes are the defaults for new sessions; a login may ask for its
/// own values per session. The defaults are the reference session store's
/// current ones: 180 days of maximum life (`maxLifetime` 259200), 30 days of
/// authentication life (`authLifetime` 43200), 10 days idle (`maxIdleTime`
/// 14400), 5 sessions per subject, closing the next-expiring one when a
/// sixth signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Default `max_life`: from creation to the end, whatever happens.
    pub max_lifetime: Lifetime,
    /// Default `auth_life`: from the last authentication to the end.
    pub auth_lifetime: Lifetime,
    /// Default `max_idle`: from the last use to the end.
    pub max_idle_time: Lifetime,
    /// Live sessions allowed per subject, across all contexts.
    pub quota_per_subject: Quota,
    /// What a login beyond the quota does.
    pub on_quota_exhaustion: OnQuotaExhaustion,
    /// The longest lifetimes a session may have (none by default).
    pub ceilings: Ceilings,
    /// The key generations whose SIDs still verify (unknown by default):
    /// a session signed by another one no longer holds a quota slot.
    pub signers: Signers,
    /// The default lifetimes of pre-login sessions.
    pub pre_login: PreLogin,
}

/// The default lifetimes of a pre-login session (a session begun before
/// anyone signs in, holding a cart, an OAuth `state` or a return-to URL):
/// 30 minutes idle and 24 hours at most by default
/// (`preLoginMaxIdleTime` 30, `preLoginMaxLifetime` 1440).
///
/// Short on purpose: a pre-login session costs a record but proves
/// nothing, so anyone can make many; they go away on their own soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PreLogin {
    /// Default `max_life` of a pre-login session.
    pub max_life: Lifetime,
    /// Default `max_idle` of a pre-login session.
    pub max_idle: Lifetime,
}

impl Default for PreLogin {
    fn default() -> Self {
        Self {
            max_life: Lifetime::minutes_const(1440),
            max_idle: Lifetime::minutes_const(30),
        }
    }
}

/// The longest lifetimes a session may be given, each
/// [`Lifetime::Unlimited`] (no ceiling) by default.
///
/// The reference session store lets every session ask for any lifetime,
/// `-1` (unlimited) included; with a ceiling, a session that asks for more
/// (or for unlimited) is refused, naming the field. Defaults above a
/// ceiling are a configuration error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ceilings {
    /// The longest `max_life`.
    pub max_life: Lifetime,
    /// The longest `auth_life`.
    pub auth_life: Lifetime,
    /// The longest `max_idle`.
    pub max_idle: Lifetime,
}

impl Default for Ceilings {
    fn default() -> Self {
        Self {
            max_life: Lifetime::Unlimited,
            auth_life: Lifetime::Unlimited,
            max_idle: Lifetime::Unlimited,
        }
    }
}

impl Ceilings {
    /// Refuses `lifetime` for `field` if it exceeds `ceiling`.
    pub fn check(
        field: &'static str,
        lifetime: Lifetime,
        ceiling: Lifetime,
    ) -> Result<(), CoreError> {
        let Some(limit) = ceiling.minutes() else {
            return Ok(());
        };
        let within = lifetime.minutes().is_some_and(|m| m <= limit);
        if within {
            return Ok(());
        }
        Err(CoreError::invalid(
            field,
            format!(
                "{} is more than this deployment allows: at most {limit} minutes",
                match lifetime {
                    Lifetime::Unlimited => "unlimited (-1)".to_owned(),
                    Lifetime::Minutes(m) => format!("{m} minutes"),
                }
            ),
        ))
    }

    /// Refuses the first of a session's lifetimes that exceeds its ceiling.
    pub fn check_all(
        &self,
        max_life: Lifetime,
        auth_life: Lifetime,
        max_idle: Lifetime,
    ) -> Result<(), CoreError> {
        Self::check("max_life", max_life, self.max_life)?;
        Self::check("auth_life", auth_life, self.auth_life)?;
        Self::check("max_idle", max_idle, self.max_idle)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_lifetime: Lifetime::minutes_const(259_200),
            auth_lifetime: Lifetime::minutes_const(43_200),
            max_idle_time: Lifetime::minutes_const(14_400),
            quota_per_subject: Quota::DEFAULT,
            on_quota_exhaustion: OnQuotaExhaustion::CloseOldSession,
            ceilings: Ceilings::default(),
            signers: Signers::default(),
            pre_login: PreLogin::default(),
        }
    }
}

impl Policy {
    /// Builds a policy from raw configuration values, checking each one.
    ///
    /// Errors name the offending field with its configuration name
    /// (`maxLifetime`, `authLifetime`, `maxIdleTime`, `quotaPerSubject`,
    /// `onQuotaExhaustion`).
    pub fn from_raw(
        max_lifetime: i64,
        auth_lifetime: i64,
        max_idle_time: i64,
        quota_per_subject: i64,
        on_quota_exhaustion: &str,
    ) -> Result<Self, CoreError> {
        Ok(Self {
            max_lifetime: Lifetime::from_minutes("maxLifetime", max_lifetime)?,
            auth_lifetime: Lifetime::from_minutes("authLifetime", auth_lifetime)?,
            max_idle_time: Lifetime::from_minutes("maxIdleTime", max_idle_time)?,
            quota_per_subject: Quota::new("quotaPerSubject", quota_per_subject)?,
            on_quota_exhaustion: OnQuotaExhaustion::parse(
                "onQuotaExhaustion",
                on_quota_exhaustion,
            )?,
            ceilings: Ceilings::default(),
            signers: Signers::default(),
            pre_login: PreLogin::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_refuse_longer_and_unlimited_lifetimes_naming_the_field() {
        let ceiling = Lifetime::minutes_const(60);
        assert!(Ceilings::check("max_life", Lifetime::minutes_const(60), ceiling).is_ok());
        assert!(Ceilings::check("max_life", Lifetime::Unlimited, Lifetime::Unlimited).is_ok());
        let err = Ceilings::check("max_life", Lifetime::minutes_const(61), ceiling).unwrap_err();
        assert_eq!(err.field(), "max_life");
        assert!(err.to_string().contains("at most 60 minutes"), "{err}");
        let err = Ceilings::check("auth_life", Lifetime::Unlimited, ceiling).unwrap_err();
        assert!(err.to_string().contains("unlimited (-1)"), "{err}");
        let all = Ceilings {
            max_idle: ceiling,
            ..Ceilings::default()
        };
        let err = all
            .check_all(
                Lifetime::Unlimited,
                Lifetime::Unlimited,
                Lifetime::Unlimited,
            )
            .unwrap_err();
        assert_eq!(err.field(), "max_idle");
    }

    #[test]
    fn every_bad_value_names_its_field() {
        let cases = [
            (Policy::from_raw(0, 1, 1, 1, "DENY_LOGIN"), "maxLifetime"),
            (Policy::from_raw(1, 0, 1, 1, "DENY_LOGIN"), "authLifetime"),
            (Policy::from_raw(1, 1, 0, 1, "DENY_LOGIN"), "maxIdleTime"),
            (
                Policy::from_raw(1, 1, 1, 0, "DENY_LOGIN"),
                "quotaPerSubject",
            ),
            (
                Policy::from_raw(1, 1, 1, 26, "DENY_LOGIN"),
                "quotaPerSubject",
            ),
            (
                Policy::from_raw(1, 1, 1, -1, "DENY_LOGIN"),
                "quotaPerSubject",
            ),
            (Policy::from_raw(1, 1, 1, 1, "deny"), "onQuotaExhaustion"),
            (
                Policy::from_raw(i64::MAX, 1, 1, 1, "DENY_LOGIN"),
                "maxLifetime",
            ),
        ];
        for (result, field) in cases {
            let err = result.unwrap_err();
            assert_eq!(err.field(), field);
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn negative_means_unlimited_and_limits_round_trip() {
        let p = Policy::from_raw(-1, -5, 30, 25, "CLOSE_OLD_SESSION").unwrap();
        assert_eq!(p.max_lifetime, Lifetime::Unlimited);
        assert_eq!(p.auth_lifetime.as_minutes(), -1);
        assert_eq!(p.max_idle_time.as_minutes(), 30);
        assert_eq!(p.quota_per_subject.get(), 25);
        assert_eq!(p.on_quota_exhaustion.as_str(), "CLOSE_OLD_SESSION");
    }

    #[test]
    fn default_policy_is_valid() {
        let d = Policy::default();
        let again = Policy::from_raw(
            d.max_lifetime.as_minutes(),
            d.auth_lifetime.as_minutes(),
            d.max_idle_time.as_minutes(),
            5,
            d.on_quota_exhaustion.as_str(),
        )
        .unwrap();
        assert_eq!(d, again);
    }
}
