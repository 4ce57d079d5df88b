//! Lifetimes in minutes, where a negative number means "unlimited".

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CoreError;

/// A lifetime in whole minutes, or unlimited.
///
/// The wire and configuration form is an integer number of minutes: any
/// negative number means unlimited (written back as `-1`), zero is refused
/// because a session that is dead on arrival is always a configuration
/// mistake, and values above [`Lifetime::MAX_MINUTES`] (100 years) are
/// refused as nonsense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifetime {
    /// The term never ends the session.
    Unlimited,
    /// The term ends the session after this many minutes.
    Minutes(NonZeroU32),
}

impl Lifetime {
    /// The longest finite lifetime accepted: 100 years, in minutes.
    pub const MAX_MINUTES: u32 = 100 * 366 * 24 * 60;

    /// Parses the integer form, naming `field` in the error.
    pub fn from_minutes(field: &'static str, minutes: i64) -> Result<Self, CoreError> {
        if minutes < 0 {
            return Ok(Self::Unlimited);
        }
        let finite = u32::try_from(minutes)
            .ok()
            .filter(|m| *m <= Self::MAX_MINUTES)
            .ok_or_else(|| {
                CoreError::invalid(
                    field,
                    format!(
                        "{minutes} minutes is more than the maximum of {} (use -1 for unlimited)",
                        Self::MAX_MINUTES
                    ),
                )
            })?;
        NonZeroU32::new(finite)
            .map(Self::Minutes)
            .ok_or_else(|| CoreError::invalid(field, "must not be 0 (use -1 for unlimited)"))
    }

    /// A finite lifetime. Panics on 0, for use with literals in code.
    ///
    /// # Panics
    /// If `minutes` is 0 or above [`Lifetime::MAX_MINUTES`].
    pub const fn minutes_const(minutes: u32) -> Self {
        assert!(minutes <= Self::MAX_MINUTES, "lifetime above the maximum");
        match NonZeroU32::new(minutes) {
            Some(m) => Self::Minutes(m),
            None => panic!("a lifetime of 0 minutes is invalid"),
        }
    }

    /// The finite number of minutes, or `None` when unlimited.
    pub const fn minutes(self) -> Option<NonZeroU32> {
        match self {
            Self::Unlimited => None,
            Self::Minutes(m) => Some(m),
        }
    }

    /// The integer form: minutes, or `-1` when unlimited.
    pub fn as_minutes(self) -> i64 {
        self.minutes().map_or(-1, |m| i64::from(m.get()))
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unlimited => f.write_str("unlimited"),
            Self::Minutes(m) => write!(f, "{m} min"),
        }
    }
}

impl Serialize for Lifetime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.as_minutes())
    }
}

impl<'de> Deserialize<'de> for Lifetime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let minutes = i64::deserialize(deserializer)?;
        Self::from_minutes("lifetime", minutes).map_err(|e| match e {
            CoreError::Invalid { reason, .. } => serde::de::Error::custom(reason),
        })
    }
}
