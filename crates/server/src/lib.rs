//! The `tessera` server: configuration, start-up wiring and the HTTP API.
//!
//! What it does:
//!
//! * [`config`] reads `settings.yml` (or TOML) with the tokenizer's
//!   `tokenizer:` block verbatim, a `sessionStore:` block with the reference
//!   session store's property names and a `server:` block, layered with
//!   environment variables and `-Dkey=value` arguments, and checks every
//!   value, naming the key and where it came from;
//! * [`embedded`] keeps the data directory of the embedded default (the
//!   local folder store, a generated `safe_password` and API token);
//! * [`wiring`] turns a checked configuration into a running service:
//!   backend → [`tessera_store::Sessions`] → the HTTP router;
//! * [`api`] is the session store web API;
//! * [`import`] moves sessions in from another system
//!   ([`import::import_records`], behind `tessera sessions import`);
//! * [`migrate`] reads the stores of the products Tessera replaces (the
//!   tokenizer's folder, Redis keys or DynamoDB items) into import records.
//!
//! What it never does: hold session logic (that is `tessera-store` and
//! `tessera-core`), or log or print a secret other than the API token
//! generated on a first start, which is shown once to the operator.
//!
//! The binary `tessera` (`src/main.rs`) is the command line over this
//! library.

pub mod api;
pub mod config;
pub mod embedded;
mod error;
pub mod import;
mod json_error;
pub mod migrate;
pub mod reload;
pub mod wiring;

pub use error::ServerError;
