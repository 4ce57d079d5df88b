//! The crate's error type, and how SDK errors become [`StoreError`]s.

use std::error::Error as StdError;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use tessera_store::{BoxError, StoreError};

/// What setting up the DynamoDB store can fail with. Store operations
/// themselves return [`StoreError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DynamoDbError {
    /// A configuration value is missing, malformed or contradicts another.
    #[error("invalid DynamoDB configuration: `{key}` {reason}")]
    InvalidConfig {
        /// The configuration key at fault.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The table exists but does not have the key schema Tessera needs.
    #[error(
        "DynamoDB table `{table}` has the wrong key schema: expected exactly one key, a HASH \
         (partition) key named `username` of type S (String), as the tokenizer documents; \
         found {found}"
    )]
    WrongTableShape {
        /// The table's name.
        table: String,
        /// The key schema found, described.
        found: String,
    },

    /// The table does not exist (create it with `tessera dynamodb
    /// create-table` or [`create_table`](crate::create_table)).
    #[error("DynamoDB table `{table}` does not exist")]
    TableMissing {
        /// The table's name.
        table: String,
        /// The service's answer.
        #[source]
        source: BoxError,
    },

    /// DynamoDB did not answer, or throttled, within the retry budget;
    /// retrying later may succeed.
    #[error("DynamoDB is unreachable while {what}")]
    Unreachable {
        /// What was being done.
        what: String,
        /// The SDK's error.
        #[source]
        source: BoxError,
    },

    /// DynamoDB refused a call: a missing IAM permission, rejected
    /// credentials, a malformed request. Retrying does not help.
    #[error("DynamoDB refused the store while {what}")]
    Refused {
        /// What was being done.
        what: String,
        /// The SDK's error.
        #[source]
        source: BoxError,
    },
}

impl DynamoDbError {
    /// Whether DynamoDB could not be reached (as opposed to a configuration,
    /// a table or credentials that cannot work): retrying later may succeed.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// A condition the store could not satisfy within its retry budget
/// (throttled batch items, a contended subject index), kept as the source
/// of a [`StoreError::Unavailable`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct GaveUp(pub(crate) String);

/// Error codes that mean "try again later": throttling, capacity and
/// server-side faults.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionInProgressException",
    "TransactionConflictException",
    "LimitExceededException",
];

/// Whether a service error code means the backend is (temporarily)
/// unavailable rather than that the request is wrong.
pub(crate) fn is_transient_code(code: Option<&str>) -> bool {
    code.is_some_and(|c| TRANSIENT_CODES.contains(&c))
}

/// Maps an SDK error (after the SDK's own retries) to a store error:
/// anything that retrying later may fix is [`StoreError::Unavailable`],
/// the rest [`StoreError::Backend`]. The SDK error is kept as the source.
pub(crate) fn sdk<E>(what: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if is_transient(&err) {
        StoreError::unavailable(what, err)
    } else {
        StoreError::backend(what, err)
    }
}

/// Maps an SDK error met while setting up (checking or creating the table)
/// to a setup error, sorted as [`sdk`] sorts them.
pub(crate) fn setup<E>(what: &str, err: SdkError<E, HttpResponse>) -> DynamoDbError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let what = what.to_owned();
    if is_transient(&err) {
        DynamoDbError::Unreachable {
            what,
            source: err.into(),
        }
    } else {
        DynamoDbError::Refused {
            what,
            source: err.into(),
        }
    }
}

fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(ctx) => {
            is_transient_code(ctx.err().code()) || ctx.raw().status().is_server_error()
        }
        SdkError::ConstructionFailure(_) => false,
        // Timeouts, connection failures and unreadable responses.
        _ => true,
    }
}

/// The service error code of an SDK error, if the service answered.
pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(ctx) => ctx.err().code(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_faults_are_transient() {
        assert!(is_transient_code(Some(
            "ProvisionedThroughputExceededException"
        )));
        assert!(is_transient_code(Some("ThrottlingException")));
        assert!(!is_transient_code(Some("AccessDeniedException")));
        assert!(!is_transient_code(Some("ResourceNotFoundException")));
        assert!(!is_transient_code(None));
    }
}
