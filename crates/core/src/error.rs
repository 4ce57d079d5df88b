//! The crate's one error type.

/// Why a value was refused by the model or the policy.
///
/// Every variant names the field it is about, using the configuration and
/// JSON names a user sees (`maxLifetime`, `sub`, ...), so the message can be
/// shown as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A field holds a value outside its allowed range or shape.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, by its user-facing name.
        field: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
}

impl CoreError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The user-facing name of the field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Invalid { field, .. } => field,
        }
    }
}
