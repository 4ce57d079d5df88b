//! The `tessera` server: configuration, start-up wiring, the HTTP API and
//! the command line.
//!
//! This library is the `tessera` binary (`src/main.rs` calls [`main`]).
//! What it publishes is for programs that embed a part of the server, and
//! for this repository's tests and fuzz targets:
//!
//! * [`api`] is the session store web API as an axum router, for a program
//!   that serves it in-process (on a [`tessera_store::Sessions`] of its
//!   own);
//! * [`config`] reads `settings.yml` (or TOML) with the tokenizer's
//!   `tokenizer:` block verbatim, a `sessionStore:` block with the reference
//!   session store's property names and a `server:` block, layered with
//!   environment variables and `-Dkey=value` arguments, and checks every
//!   value, naming the key and where it came from;
//! * [`import`] moves sessions in from another system, one import record
//!   at a time (what `tessera sessions import` runs), for a program that
//!   reads another store itself;
//! * [`migrate`] reads the stores of the products Tessera replaces (the
//!   tokenizer's folder, Redis keys or DynamoDB items) into import records;
//! * [`ServerError`] is what they fail with.
//!
//! The rest — the embedded default's data directory, the wiring of a
//! configuration into a running service, the reload on `SIGHUP` and the
//! commands — is private to the binary.
//!
//! What it never does: hold session logic (that is `tessera-store` and
//! `tessera-core`), or log or print a secret other than the API token
//! generated on a first start, which is shown once to the operator.

pub mod api;
// The binary's job is to talk to the operator on stdout and stderr.
#[allow(clippy::print_stdout, clippy::print_stderr)]
mod cli;
pub mod config;
mod embedded;
mod error;
pub mod import;
mod json_error;
pub mod migrate;
mod reload;
mod wiring;

pub use error::ServerError;

/// The `tessera` command line, for the binary `src/main.rs`: parses the
/// process's arguments, runs the command and returns its exit code (0
/// success; 1 a failure while running; 2 a usage error; 3 an invalid
/// configuration).
pub fn main() -> std::process::ExitCode {
    cli::main()
}
