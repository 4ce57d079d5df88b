//! The strength estimate the server adds to the password rule.
//!
//! `tessera_crypto::SafePassword::new` checks what can be checked without
//! a word list (length, distinct characters, known defaults). A password
//! such as `passwordpassword1` passes that and is still among the first
//! guesses of any cracking tool, so the server also asks zxcvbn (a port of
//! Dropbox's estimator: dictionaries, keyboard walks, repeats, sequences,
//! l33t) how many guesses it would take, and refuses the `safe_password`
//! below the top score. The estimate lives here and not in the crypto
//! crate because zxcvbn reads the clock (the current year, for dates).

use zxcvbn::{Score, zxcvbn};

/// Words an attacker would try first against this deployment.
const CONTEXT_WORDS: [&str; 6] = [
    "tessera",
    "tokenizer",
    "session",
    "safe_password",
    "querycommander",
    "connect2id",
];

/// Why `password` is too easy to guess, or `None` if it is strong enough:
/// zxcvbn's top score (4 of 4, more than 10^10 guesses).
///
/// Only the current `safe_password` is estimated: a previous password is
/// being retired, and refusing it would end the sessions it still
/// verifies.
pub(crate) fn too_guessable(password: &str) -> Option<String> {
    let estimate = zxcvbn(password, &CONTEXT_WORDS);
    if estimate.score() >= Score::Four {
        return None;
    }
    let hint = estimate
        .feedback()
        .and_then(zxcvbn::feedback::Feedback::warning)
        .map(|w| format!(": {w}"))
        .unwrap_or_default();
    Some(format!(
        "refused by the password rule: it is too easy to guess (strength {}/4, about 10^{:.0} \
         guesses{hint}); use a long random value, e.g. from `openssl rand -base64 32`",
        u8::from(estimate.score()),
        estimate.guesses_log10()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guessable_passwords_that_pass_the_structural_rule_are_refused() {
        for weak in [
            "default_password",
            "passwordpassword1",
            "changemechangeme1",
            "aaaaaaaabcdefghi",
            "qwertyuiopasdfgh",
        ] {
            let why = too_guessable(weak).unwrap_or_else(|| panic!("{weak} passed"));
            assert!(why.contains("too easy to guess"), "{why}");
            assert!(!why.contains(weak), "the message quotes the password");
        }
    }

    #[test]
    fn random_values_pass() {
        for strong in [
            "hT4k-9qZ_mW2xVbR",
            "v8Jq2LmZ0xR4tN6pW1sY3cK5",
            "Q2xq1yP0mR7w3Zk9VtB6nH4sL8dF5gJ2aC0eX7uI9oE",
        ] {
            assert_eq!(too_guessable(strong), None, "{strong}");
        }
    }
}
