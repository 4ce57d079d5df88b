//! `tessera token new|hash`.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use tessera_crypto::{ApiToken, MIN_API_TOKEN_CHARS, TokenHash};
use tessera_store::SystemRandom;

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Generates a fresh API token (43 random characters) and prints it, its
    /// SHA-256 hash, and the configuration line to paste. The token is
    /// shown only here: the configuration holds only the hash.
    New {
        /// Prints the line for a labelled token, apiAccessTokenSHA256.LABEL,
        /// instead of the primary apiAccessTokenSHA256.
        #[arg(long, value_name = "LABEL")]
        label: Option<String>,
    },
    /// Reads a token from standard input (never from the command line, where
    /// `ps` would show it) and prints its SHA-256 hash. One trailing newline
    /// is ignored. A token shorter than 32 characters is refused.
    Hash,
}

pub(crate) fn run(command: &TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::New { label } => {
            let key = match label {
                None => "apiAccessTokenSHA256".to_owned(),
                Some(label)
                    if !label.is_empty()
                        && label.len() <= 64
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                {
                    format!("apiAccessTokenSHA256.{label}")
                }
                Some(_) => bail!("a label is 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'"),
            };
            let token = ApiToken::generate(&SystemRandom::new())?;
            let hash = token.hash();
            println!("token:  {}", token.expose_secret());
            println!("sha256: {hash}");
            println!();
            println!("Give the token to the API's callers (Authorization: Bearer <token>).");
            println!("Put only the hash in the configuration, under sessionStore:");
            println!("  {key}: {hash}");
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Hash => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("cannot read the token from standard input")?;
            let token = input
                .strip_suffix('\n')
                .map_or(input.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
            if token.is_empty() {
                bail!("no token on standard input (try: tessera token hash < token.txt)");
            }
            let chars = token.chars().count();
            if chars < MIN_API_TOKEN_CHARS {
                bail!(
                    "the token on standard input has {chars} characters; an API token needs at \
                     least {MIN_API_TOKEN_CHARS} random ones (make one with: tessera token new)"
                );
            }
            println!("{}", TokenHash::of(token));
            Ok(ExitCode::SUCCESS)
        }
    }
}
