//! The token hashes the API checks, replaceable while it serves (a reload
//! on SIGHUP), so that a token can be rotated without a restart.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use tessera_crypto::{TokenHash, TokenVerifier};

/// One generation of token hashes.
#[derive(Debug)]
pub struct Tokens {
    /// The API's bearer tokens, by label.
    pub api: TokenVerifier,
    /// The scraper's token for `/metrics`; `None` leaves `/metrics` open.
    pub metrics: Option<TokenVerifier>,
}

impl Tokens {
    /// The API tokens `(label, hash)` and the metrics token hash, if any.
    pub fn new(
        api: impl IntoIterator<Item = (String, TokenHash)>,
        metrics: Option<TokenHash>,
    ) -> Self {
        Self {
            api: TokenVerifier::new(api),
            metrics: metrics.map(|hash| TokenVerifier::new([("metrics".to_owned(), hash)])),
        }
    }
}

impl From<TokenVerifier> for Tokens {
    /// API tokens only; `/metrics` open.
    fn from(api: TokenVerifier) -> Self {
        Self { api, metrics: None }
    }
}

/// The tokens in force. Each request reads the current generation once; a
/// reload replaces it for the requests that follow.
pub struct LiveTokens(RwLock<Arc<Tokens>>);

impl LiveTokens {
    /// Starts with `tokens`.
    pub fn new(tokens: Tokens) -> Self {
        Self(RwLock::new(Arc::new(tokens)))
    }

    /// The generation in force.
    pub fn current(&self) -> Arc<Tokens> {
        // A writer only swaps an `Arc`, so a poisoned lock still holds a
        // whole generation.
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `tokens` in force for every request from now on.
    pub fn replace(&self, tokens: Tokens) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tokens);
    }
}

impl From<TokenVerifier> for LiveTokens {
    fn from(api: TokenVerifier) -> Self {
        Self::new(api.into())
    }
}

impl fmt::Debug for LiveTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LiveTokens").field(&self.current()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_applies_to_later_reads_only() {
        let live = LiveTokens::new(Tokens::new(
            [("primary".to_owned(), TokenHash::of("old-token"))],
            None,
        ));
        let before = live.current();
        live.replace(Tokens::new(
            [("primary".to_owned(), TokenHash::of("new-token"))],
            Some(TokenHash::of("scrape")),
        ));
        assert_eq!(before.api.verify("old-token"), Some("primary"));
        let now = live.current();
        assert_eq!(now.api.verify("old-token"), None);
        assert_eq!(now.api.verify("new-token"), Some("primary"));
        assert!(now.metrics.as_ref().unwrap().verify("scrape").is_some());
    }
}
