//! The command line: argument parsing and the commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};
use tessera_server::ServerError;
use tessera_server::config::{self, Config, ConfigSources};

mod admin;
mod serve;
mod token;

/// Exit code of a failure while running.
const EXIT_FAILURE: u8 = 1;
/// Exit code of an invalid configuration.
const EXIT_CONFIG: u8 = 3;

/// Tessera: a session store for sign-in systems.
///
/// With no configuration at all, `tessera serve` runs the embedded default:
/// the local folder store in a data directory, with a generated
/// safe_password and API token.
#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 success, 1 failure while running, 2 usage error, \
                        3 invalid configuration.\nConfiguration reference: docs/configuration.md"
)]
pub(crate) struct Cli {
    /// The configuration file (.yml, .yaml or .toml). Default: the file
    /// named by $TESSERA_CONFIG; with neither, the built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Sets one configuration key, overriding the file and the environment,
    /// e.g. -DsessionStore.maxLifetime=-1 or -Dserver.listen=0.0.0.0:8080.
    /// Repeatable. Avoid it for secrets: arguments show in `ps`.
    #[arg(
        short = 'D',
        global = true,
        value_name = "KEY=VALUE",
        action = ArgAction::Append
    )]
    define: Vec<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the HTTP server until SIGTERM or Ctrl-C.
    ///
    /// Refuses to start when the configuration is invalid or, outside the
    /// embedded default, when no API token hash is configured.
    Serve,
    /// Creates API tokens and hashes them.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Checks or prints the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Lists or ends sessions directly in the configured backend.
    #[command(subcommand)]
    Sessions(admin::SessionsCommand),
    /// Removes expired sessions and orphaned subject index entries now.
    Purge,
    /// DynamoDB table administration.
    #[command(subcommand)]
    Dynamodb(admin::DynamoDbCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Checks the configuration and prints every problem found, each with
    /// its key and where the value came from. Exits with 3 if any.
    Check,
    /// Prints the effective configuration (defaults filled in, every layer
    /// applied) as YAML, with secrets replaced by <redacted>.
    Show,
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let sources = ConfigSources::from_process(cli.config.clone(), cli.define.clone());
    match run(cli.command, &sources) {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

fn run(command: Command, sources: &ConfigSources) -> anyhow::Result<ExitCode> {
    match command {
        Command::Token(command) => token::run(&command),
        Command::Config(ConfigCommand::Check) => {
            let config = load(sources)?;
            let origin = match &config.file {
                Some(file) => format!("{} and the environment", file.display()),
                None => "built-in defaults and the environment".to_owned(),
            };
            println!(
                "configuration OK ({origin}; backend {})",
                config.backend.store_type()
            );
            if config.embedded {
                println!(
                    "embedded default: safe_password and API token live in the data directory"
                );
            } else if config.session_store.tokens.is_empty() {
                println!(
                    "note: no API token hash is configured, so `tessera serve` will refuse to start"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Show) => {
            let config = load(sources)?;
            print!("{}", config.to_redacted_yaml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let config = load(sources)?;
            serve::run(&config)
        }
        Command::Sessions(command) => {
            let config = load(sources)?;
            admin::sessions(&config, command)
        }
        Command::Purge => {
            let config = load(sources)?;
            admin::purge(&config)
        }
        Command::Dynamodb(command) => {
            let config = load(sources)?;
            admin::dynamodb(&config, &command)
        }
    }
}

fn load(sources: &ConfigSources) -> Result<Config, ServerError> {
    Ok(config::load(sources)?)
}

/// A multi-threaded runtime for the commands that talk to a backend.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Prints the error and its causes to stderr and picks the exit code.
fn report(error: &anyhow::Error) -> ExitCode {
    let code = match error.downcast_ref::<ServerError>() {
        Some(ServerError::Config(_) | ServerError::NoApiToken) => EXIT_CONFIG,
        _ => EXIT_FAILURE,
    };
    eprintln!("tessera: error: {error:#}");
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defines_parse_in_both_spellings_and_anywhere() {
        let cli = Cli::try_parse_from([
            "tessera",
            "-DsessionStore.maxLifetime=-1",
            "config",
            "check",
            "-D",
            "tokenizer.type=redis",
        ])
        .unwrap();
        assert_eq!(
            cli.define,
            ["sessionStore.maxLifetime=-1", "tokenizer.type=redis"]
        );
    }
}
