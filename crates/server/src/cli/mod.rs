//! The command line: argument parsing and the commands.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::ServerError;
use crate::config::{self, Config, ConfigSources};
use clap::{ArgAction, CommandFactory as _, Parser, Subcommand};

mod admin;
mod progress;
mod serve;
mod token;

/// Exit code of a failure while running.
const EXIT_FAILURE: u8 = 1;
/// Exit code of an invalid configuration.
const EXIT_CONFIG: u8 = 3;

/// `tessera --version`: the version, then the stored formats this build
/// reads and writes (checked against the code by a test below).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nrecords: format 1 (local folder, DynamoDB), Redis value format 2; \
     written with a MAC; reads records without one (Tessera 0.1) while \
     sessionStore.acceptUnsignedRecords is on"
);

/// Tessera: a session store for sign-in systems.
///
/// With no configuration at all, `tessera serve` runs the embedded default:
/// the local folder store in a data directory, with a generated
/// safe_password and API token.
#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    long_version = LONG_VERSION,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 success, 1 failure while running, 2 usage error, \
                        3 invalid configuration.\nConfiguration reference: docs/configuration.md"
)]
pub(crate) struct Cli {
    /// A configuration file: .yml, .yaml or .toml (Tessera's, or the SQL
    /// tool's whole settings.yml, whose other blocks are not read), or a
    /// .properties file (the session store's sessionStore.properties).
    /// Repeatable: later files win. Default: the file named by
    /// $TESSERA_CONFIG; with neither, the built-in defaults.
    #[arg(long, global = true, value_name = "FILE", action = ArgAction::Append)]
    config: Vec<PathBuf>,

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
    /// Prints the completion script of a shell, e.g.
    /// `tessera completions bash > /etc/bash_completion.d/tessera`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Prints the man page, tessera(1), in roff.
    #[command(hide = true)]
    Manpage,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Checks the configuration and prints every problem found, each with
    /// its key and where the value came from. Exits with 3 if any.
    Check,
    /// Prints the effective configuration (defaults filled in, every layer
    /// applied) as YAML, with every secret redacted.
    Show,
}

pub(crate) fn main() -> ExitCode {
    let (defines, args) = split_defines(std::env::args_os());
    let cli = Cli::parse_from(args);
    debug_assert!(
        cli.define.is_empty(),
        "-D arguments are taken out before parsing"
    );
    let sources = ConfigSources::from_process(cli.config.clone(), defines);
    match run(cli.command, &sources) {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

/// Takes the `-Dkey=value` and `-D key=value` arguments out of `args`,
/// wherever they are, in order.
///
/// clap keeps the occurrences of a global option from only one level of
/// subcommands (`tessera -Da=1 serve -Db=2` would lose `a`), so the
/// overrides are collected here and clap sees the rest; the `-D` option is
/// still declared for `--help`. Scanning stops at `--`.
fn split_defines(args: impl IntoIterator<Item = OsString>) -> (Vec<String>, Vec<OsString>) {
    let mut defines = Vec::new();
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            rest.push(arg);
            rest.extend(args.by_ref());
            break;
        }
        match arg.to_str() {
            Some("-D") => match args.next() {
                Some(value) => defines.push(value.to_string_lossy().into_owned()),
                // Let clap report the missing value.
                None => rest.push(arg),
            },
            Some(text) if text.starts_with("-D") => defines.push(text[2..].to_owned()),
            _ => rest.push(arg),
        }
    }
    (defines, rest)
}

fn run(command: Command, sources: &ConfigSources) -> anyhow::Result<ExitCode> {
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tessera", &mut io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpage => {
            clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(command) => token::run(&command),
        Command::Config(ConfigCommand::Check) => {
            let config = load(sources)?;
            let origin = if config.files.is_empty() {
                "built-in defaults and the environment".to_owned()
            } else {
                let files: Vec<String> = config
                    .files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect();
                format!("{} and the environment", files.join(", "))
            };
            println!(
                "configuration OK ({origin}; backend {})",
                config.backend.store_type()
            );
            for block in &config.ignored_blocks {
                println!(
                    "note: block `{}` of {} is not Tessera's and was not read",
                    block.name,
                    block.file.display()
                );
            }
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
            print!("{}", origins_comment(&config::origins(sources)));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let config = load(sources)?;
            serve::run(&config, sources)
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

/// The origins of the configured values as a YAML comment, so the output
/// of `config show` stays valid YAML.
fn origins_comment(origins: &[(String, config::Origin)]) -> String {
    let mut out = String::from("\n# Where the values came from");
    if origins.is_empty() {
        out.push_str(": every value is a default.\n");
        return out;
    }
    out.push_str(" (keys as their source spelled them; any key not listed is a default):\n");
    for (key, origin) in origins {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "#   {key}: {origin}");
    }
    out
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
    fn the_long_version_names_the_formats_of_this_build() {
        let record = format!(
            "records: format {} (",
            tessera_store::backend::record::FORMAT
        );
        let redis = format!("Redis value format {};", tessera_store_redis::VALUE_FORMAT);
        assert!(LONG_VERSION.contains(&record), "{LONG_VERSION}");
        assert!(LONG_VERSION.contains(&redis), "{LONG_VERSION}");
        assert!(LONG_VERSION.starts_with(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn defines_are_collected_from_every_position_in_order() {
        let args = [
            "tessera",
            "-DsessionStore.maxLifetime=-1",
            "--config",
            "s.yml",
            "serve",
            "-D",
            "tokenizer.type=redis",
            "-Dserver.listen=127.0.0.1:0",
            "--",
            "-Dnot=this",
        ]
        .map(OsString::from);
        let (defines, rest) = split_defines(args);
        assert_eq!(
            defines,
            [
                "sessionStore.maxLifetime=-1",
                "tokenizer.type=redis",
                "server.listen=127.0.0.1:0"
            ]
        );
        assert_eq!(
            rest,
            ["tessera", "--config", "s.yml", "serve", "--", "-Dnot=this"]
        );
        let cli = Cli::try_parse_from(&rest[..4]).unwrap();
        assert!(matches!(cli.command, Command::Serve));
    }
}
